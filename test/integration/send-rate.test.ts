/**
 * --rate is a limit at the receiving end: with a virtual clock (timers that fire late, requests that arrive with
 * jitter) the real send-slot statements never put rate + 1 sends in any 1-second window where the sends arrive.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServiceDeps, type ServiceDeps } from '../../src/services/deps.js';
import { takeSendSlot } from '../../src/services/messages/outbox.js';
import { createMemorySecretStore } from '../../src/secrets/index.js';
import { openStore } from '../../src/store/index.js';
import type { Integration, Store } from '../../src/store/types.js';
import { makeHome, type LumenHome } from '../helpers/home.js';

let home: LumenHome;
let store: Store;
beforeEach(() => {
  home = makeHome();
  store = openStore(home.path('lumen.db'));
});
afterEach(() => {
  store.close();
  home.cleanup();
});

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

describe('the send rate at the receiver', () => {
  it.each([80, 20, 250])('never holds more than --rate %i sends in a second where they arrive, and keeps most of the rate', async (rate) => {
    // Given a virtual clock whose timers fire up to 40 % of an interval late, and requests that take 5–35 ms
    let now = 1_750_000_000_000;
    const interval = 1000 / rate;
    const late = noise(7);
    const latency = noise(11);
    const deps: ServiceDeps = createServiceDeps({
      store,
      secrets: async () => createMemorySecretStore(),
      graph: async () => {
        throw new Error('no Graph API in this test');
      },
      now: () => new Date(now),
      sleep: async (ms) => {
        now += ms + late() * interval * 0.4;
      },
    });
    const integration = { id: 'wa_rate', workspaceId: 'ws_rate' } as Integration;

    // When rate × 10 sends take their slots one after the other
    const arrivals: number[] = [];
    const first = now;
    for (let i = 0; i < rate * 10; i += 1) {
      await takeSendSlot(deps, integration, { perIntegration: rate, perWorkspace: 10_000 });
      arrivals.push(now + 5 + latency() * 30);
      now += late() * 2; // the work between slots
    }

    // Then no second at the receiver holds more than the rate, and the run kept at least 85 % of it
    expect(maxInWindow(arrivals, 1000)).toBeLessThanOrEqual(rate);
    const achieved = ((arrivals.length - 1) * 1000) / (now - first);
    expect(achieved).toBeGreaterThan(rate * 0.85);
  });
});
