/**
 * Claims with a lease, over both backends: while a relay holds (and renews) a claim no other relay on the database
 * gets the event; once a dead relay's lease runs out, another takes it over. Times are given, not waited for.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { textJob } from '../helpers/inbox.js';
import { storeBackends, type OpenedStore } from '../helpers/stores.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

describe.each(storeBackends())('dispatch and forward leases ($title)', (backend) => {
  let opened: OpenedStore | undefined;
  afterEach(async () => {
    await opened?.cleanup();
    opened = undefined;
  });

  it.skipIf(backend.skip)('holds a renewed claim against a second relay, and lets an expired one be taken over', async () => {
    opened = await backend.open();
    const relayA = opened.store;
    const relayB = await opened.another();
    // Given two stored messages, each queued for the user's code
    const [outcome] = await relayA.inbox.ingest([{ ...textJob('wa_1', 'wamid.L1', 'wamid.L2'), enqueueDispatch: true, receivedAt: at(0) }]);
    expect(outcome!.events).toHaveLength(2);

    // When relay A claims both for 15 s and renews only the first at 10 s (the second it finished meanwhile)
    const claimed = await relayA.dispatch.claimDue(at(1), at(16), 10);
    expect(claimed.map((e) => e.id).sort()).toEqual([...outcome!.events].sort());
    const [first, second] = claimed.map((e) => e.id).sort((a, b) => a - b) as [number, number];
    expect(await relayB.dispatch.claimDue(at(10), at(25), 10)).toEqual([]);
    await relayA.dispatch.markDelivered(second, { target: 'test', status: 200, durationMs: 1, at: at(9) });
    await relayA.dispatch.renewClaims([first, second], at(40));

    // Then relay B gets nothing while the renewed lease holds, and a delivered event stays delivered and unclaimed
    expect(await relayB.dispatch.claimDue(at(20), at(35), 10)).toEqual([]);
    expect(await relayB.dispatch.find(second)).toMatchObject({ state: 'delivered', claimedUntil: null });
    // And once relay A stops renewing (it died), relay B takes the first over after the lease
    const takenOver = await relayB.dispatch.claimDue(at(41), at(56), 10);
    expect(takenOver.map((e) => e.id)).toEqual([first]);
    // A renewal never revives a claim released by a failure: the event waits for its retry time
    await relayB.dispatch.markFailed(first, { target: 'test', status: 500, error: 'HTTP 500', durationMs: 1, nextAttemptAt: at(60) });
    await relayA.dispatch.renewClaims([first], at(120));
    expect((await relayB.dispatch.find(first))!.claimedUntil).toBeNull();
    expect((await relayB.dispatch.claimDue(at(61), at(76), 10)).map((e) => e.id)).toEqual([first]);
  });

  it.skipIf(backend.skip)('renews a raw forward claim the same way', async () => {
    opened = await backend.open();
    const relayA = opened.store;
    const relayB = await opened.another();
    const raw = { integrationId: 'wa_1', body: Buffer.from('{"object":"whatsapp_business_account"}'), signature: 'sha256=00' };
    await relayA.inbox.ingest([{ ...textJob('wa_1'), raw, receivedAt: at(0) }]);

    const [item] = await relayA.forwards.raw.claimDue(at(1), at(16), 1);
    expect(item).toBeDefined();
    await relayA.forwards.raw.renewClaims([item!.id], at(40));
    expect(await relayB.forwards.raw.claimDue(at(20), at(35), 1)).toEqual([]);
    expect((await relayB.forwards.raw.claimDue(at(41), at(56), 1)).map((i) => i.id)).toEqual([item!.id]);
    // Delivered: a late renewal from the first relay claims nothing back
    await relayB.forwards.raw.markDelivered(item!.id, 200, at(42));
    await relayA.forwards.raw.renewClaims([item!.id], at(120));
    expect(await relayB.forwards.raw.claimDue(at(200), at(215), 1)).toEqual([]);
  });
});
