/**
 * --rate is a limit at the receiving end: with a virtual clock (timers that fire late, requests that reach Meta at
 * any moment between their slot and their answer) the real send-slot statements never put rate + 1 sends in any
 * 1-second window where the sends arrive, and keep the rate the bound allows: about rate / (1 s + the round trip).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServiceDeps, type ServiceDeps } from '../../src/services/deps.js';
import { slotAnswered, takeSendSlot } from '../../src/services/messages/outbox.js';
import { createMemorySecretStore } from '../../src/secrets/index.js';
import { openStore } from '../../src/store/index.js';
import type { Integration, SendSlotToken, Store } from '../../src/store/types.js';
import { makeHome, type LumenHome } from '../helpers/home.js';

let home: LumenHome;
let stores: Store[];
beforeEach(() => {
  home = makeHome();
  // Two stores on one file: two processes sending for the same number.
  stores = [openStore(home.path('lumen.db')), openStore(home.path('lumen.db'))];
});
afterEach(async () => {
  for (const store of stores) await store.close();
  home.cleanup();
});

/** Service deps over a store, on the given clock (the real one unless given), with no Graph API: these tests only take slots. */
function slotDeps(store: Store, clock: { now: () => Date; sleep?: (ms: number) => Promise<void> } = { now: () => new Date() }): ServiceDeps {
  return createServiceDeps({
    store,
    secrets: async () => createMemorySecretStore(),
    graph: async () => {
      throw new Error('no Graph API in this test');
    },
    ...clock,
  });
}

/** The most sends whose arrival times fall in one window of `windowMs` (the receiver's view). */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end += 1) {
    while (sorted[end]! - sorted[start]! >= windowMs) start += 1;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/** A deterministic sequence in [0, 1): the same "noise" on every run. */
function noise(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

/** A send's trip: how long after its slot its request reaches Meta, and how long after its slot the answer is back. */
type Trip = (random: () => number) => { arriveMs: number; answerMs: number };

/** Round trips of 5–35 ms, the request arriving anywhere inside. */
const NEARBY: Trip = (random) => {
  const rtt = 5 + random() * 30;
  return { arriveMs: random() * rtt, answerMs: rtt };
};

const MODELS: Array<[string, Trip]> = [
  ['round trips of 5–35 ms, arriving anywhere inside', NEARBY],
  [
    // The model the 5 % spacing margin was made for (2 % failed it): arrivals 5–35 ms after the slot; here the answer
    // is back the moment the request arrives, the worst place for an arrival inside its round trip.
    'arrivals 5–35 ms after the slot, answered as they arrive',
    (random) => {
      const arrive = 5 + random() * 30;
      return { arriveMs: arrive, answerMs: arrive };
    },
  ],
  [
    // Meta from the other side of the world: the rate the bound allows is much lower, and it is still kept.
    'round trips of 100–400 ms, arriving anywhere inside',
    (random) => {
      const rtt = 100 + random() * 300;
      return { arriveMs: random() * rtt, answerMs: rtt };
    },
  ],
  [
    'round trips of 5–35 ms with outliers (1 in 200 takes 100–1,500 ms and arrives as it is answered)',
    (random) => {
      if (random() < 0.005) {
        const rtt = 100 + random() * 1400;
        return { arriveMs: rtt, answerMs: rtt };
      }
      const rtt = 5 + random() * 30;
      return { arriveMs: random() * rtt, answerMs: rtt };
    },
  ],
];

/** The senders pause now and then (150–550 ms, about one send in 60): the grid's catch-up then sends a short burst. */
const PAUSES = { every: 60, fromMs: 150, spanMs: 400 };

const CASES = [
  ...MODELS.map(([name, trip]) => [name, trip, undefined] as const),
  ['round trips of 5–35 ms, with pauses', NEARBY, PAUSES] as const,
];

describe.each(CASES)('the send rate at the receiver, %s', (_, trip, pauses) => {
  it.each([80, 20, 250])('never holds more than --rate %i sends in a second where they arrive, and keeps the rate', async (rate) => {
    // Given a virtual clock whose timers fire up to 40 % of an interval late, and two processes' stores on one file
    let now = 1_750_000_000_000;
    const interval = 1000 / rate;
    const late = noise(7);
    const random = noise(11);
    const which = noise(13);
    // Answers still to come, earliest first; each is recorded when the clock passes its time.
    const inFlight: Array<{ at: number; deps: ServiceDeps; token: SendSlotToken }> = [];
    const advanceTo = async (until: number) => {
      for (;;) {
        const next = inFlight[0];
        if (next === undefined || next.at > until) break;
        inFlight.shift();
        now = Math.max(now, next.at);
        await slotAnswered(next.deps, next.token);
      }
      now = Math.max(now, until);
    };
    const depsOf = (store: Store): ServiceDeps =>
      slotDeps(store, { now: () => new Date(now), sleep: (ms) => advanceTo(now + ms + late() * interval * 0.4) });
    const senders = stores.map(depsOf);
    const integration = { id: 'wa_rate', workspaceId: 'ws_rate' } as Integration;

    // When rate × 10 sends take their slots one after the other, each sent without waiting for the ones in flight
    const arrivals: number[] = [];
    const starts: number[] = [];
    let roundTrips = 0;
    for (let i = 0; i < rate * 10; i += 1) {
      const deps = senders[which() < 0.5 ? 0 : 1]!;
      const token = await takeSendSlot(deps, integration, { perIntegration: rate, perWorkspace: 10_000 });
      const { arriveMs, answerMs } = trip(random);
      starts.push(now);
      arrivals.push(now + arriveMs);
      roundTrips += answerMs;
      inFlight.push({ at: now + answerMs, deps, token });
      inFlight.sort((a, b) => a.at - b.at);
      await advanceTo(now + late() * 2); // the work between slots
      if (pauses && which() < 1 / pauses.every) await advanceTo(now + pauses.fromMs + random() * pauses.spanMs);
    }

    // Then no second at the receiver holds more than the rate, and sends started at ≥ 95 % of rate / (1 s + the mean
    // round trip) (the pace of the starts: the last arrivals of a short run may come an outlier's round trip late)
    expect(maxInWindow(arrivals, 1000)).toBeLessThanOrEqual(rate);
    if (pauses) return; // the pauses set the pace there, not the bound
    const achieved = ((starts.length - 1) * 1000) / (starts.at(-1)! - starts[0]!);
    const meanRoundTrip = roundTrips / starts.length / 1000;
    if (process.env.LUMEN_SHOW_RATES) console.log(`rate ${rate}: ${achieved.toFixed(2)}/s, worst second ${maxInWindow(arrivals, 1000)}, mean RTT ${(meanRoundTrip * 1000).toFixed(1)} ms, bound ${(rate / (1 + meanRoundTrip)).toFixed(2)}`);
    expect(achieved).toBeGreaterThanOrEqual((0.95 * rate) / (1 + meanRoundTrip));
  });
});

describe('senders of one process', () => {
  it('ask the database for a slot one at a time, in order, and each gets its own', async () => {
    // Given one store whose take is watched, and a rate that lets all sends through at once
    const store = stores[0]!;
    let asking = 0;
    let most = 0;
    const take = store.sendSlots.take.bind(store.sendSlots);
    store.sendSlots.take = async (...args) => {
      asking += 1;
      most = Math.max(most, asking);
      try {
        return await take(...args);
      } finally {
        asking -= 1;
      }
    };
    const deps = slotDeps(store);
    const integration = { id: 'wa_line', workspaceId: 'ws_line' } as Integration;

    // When 30 sends of the process wait for a slot at once
    const tokens = await Promise.all(
      Array.from({ length: 30 }, () => takeSendSlot(deps, integration, { perIntegration: 1_000, perWorkspace: 10_000 })),
    );

    // Then the database was asked by one at a time, and every send got its own slot (seq 1 to 30, in asking order)
    expect(most).toBe(1);
    expect(tokens.map((t) => t.sends.find((s) => s.key === 'integration:wa_line')!.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('a take that fails fails only its own sender: the ones behind it in line still get their slots', async () => {
    // Given a store whose second take fails (a database error)
    const store = stores[0]!;
    const take = store.sendSlots.take.bind(store.sendSlots);
    let calls = 0;
    store.sendSlots.take = async (...args) => {
      calls += 1;
      if (calls === 2) throw new Error('disk I/O error');
      return take(...args);
    };
    const deps = slotDeps(store);
    const integration = { id: 'wa_fail', workspaceId: 'ws_fail' } as Integration;

    // When five sends wait for a slot at once
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => takeSendSlot(deps, integration, { perIntegration: 1_000, perWorkspace: 10_000 })),
    );

    // Then the second got the error, and the four others their slots
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('disk I/O error');
  });
});
