/**
 * The store contract for sending and the console's reads, the same assertions on SQLite and PostgreSQL. Races are
 * two Stores on one database (as two processes or hosts would be) started together: what one claims, the other
 * cannot claim again.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServiceDeps } from '../../src/services/deps.js';
import { submitOutbound } from '../../src/services/messages/outbox.js';
import { createMemorySecretStore } from '../../src/secrets/index.js';
import type { Integration, SendSlotKey, SendSlotTake, Store, Workspace } from '../../src/store/types.js';
import { interactionRow, rawRows, type RawRows } from '../helpers/rows.js';
import { outboundRecord as outbound } from '../helpers/records.js';
import { storeBackends, type OpenedStore } from '../helpers/stores.js';

describe.each(storeBackends())('store contract, sending: $title', (backend) => {
  let opened: OpenedStore;
  let rows: RawRows;
  beforeEach(async (context) => {
    if (backend.skip) context.skip();
    opened = await backend.open();
    rows = await rawRows(opened.location);
  });
  afterEach(async () => {
    await rows?.close();
    await opened?.cleanup();
  });

  describe('outbound', () => {
    it('gives an idempotency key to one message when two stores insert it at the same moment', async () => {
      const other = await opened.another();
      const key = { idempotencyKey: 'order-42' };
      const results = await Promise.all([
        opened.store.outbound.insertOrFind(outbound('out_a', key)),
        other.outbound.insertOrFind(outbound('out_b', key)),
        other.outbound.insertOrFind(outbound('out_c', key)),
      ]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
      const holder = results[0]!.message.id;
      expect((await opened.store.outbound.findByIdempotencyKey('wa_1', 'order-42'))?.id).toBe(holder);
      // The key is per number; messages without a key never collide.
      expect((await opened.store.outbound.insertOrFind(outbound('out_d', { idempotencyKey: 'order-42', integrationId: 'wa_2' }))).created).toBe(true);
      expect((await opened.store.outbound.insertOrFind(outbound('out_e'))).created).toBe(true);
      expect((await opened.store.outbound.insertOrFind(outbound('out_f'))).created).toBe(true);
    });

    it('refuses an idempotency key reused for a different message, from either store', async () => {
      const workspace = { id: 'ws_1', name: 'default', approvalPolicy: 'none', createdAt: 'now' } as Workspace;
      const integration = { id: 'wa_1', workspaceId: 'ws_1' } as Integration;
      const submit = (store: Store, text: string) =>
        submitOutbound(
          createServiceDeps({ store, secrets: async () => createMemorySecretStore(), graph: async () => { throw new Error('no Graph API here'); }, now: () => new Date('2026-01-01T00:00:00.000Z') }),
          { workspace, integration, to: '15551234567', kind: 'text', body: { type: 'text', text: { body: text } }, idempotencyKey: 'k1', source: 'cli' },
        );
      const other = await opened.another();
      const [a, b] = await Promise.all([submit(opened.store, 'same'), submit(other, 'same')]);
      expect(a.message.id).toBe(b.message.id);
      await expect(submit(other, 'different')).rejects.toMatchObject({ code: 'idempotency_conflict' });
      expect(await opened.store.outbound.list({ workspaceId: 'ws_1', limit: 10 })).toHaveLength(1);
    });

    it('lets one of two stores claim a message for sending, and claims a failed one again', async () => {
      await opened.store.outbound.insertOrFind(outbound('out_1'));
      const other = await opened.another();
      const claims = await Promise.all([
        opened.store.outbound.claimForSending('out_1', 't1'),
        other.outbound.claimForSending('out_1', 't1'),
        other.outbound.claimForSending('out_1', 't1'),
      ]);
      const won = claims.filter((c) => c !== undefined);
      expect(won).toHaveLength(1);
      expect(won[0]).toMatchObject({ state: 'sending', attempts: 1, updatedAt: 't1' });
      await opened.store.outbound.markFailed('out_1', { code: 131000, title: 'Something went wrong', details: null, fbtraceId: 'AbC' }, 't2');
      expect(await other.outbound.findById('out_1')).toMatchObject({ state: 'failed', errorCode: 131000, fbtraceId: 'AbC' });
      expect(await other.outbound.claimForSending('out_1', 't3')).toMatchObject({ state: 'sending', attempts: 2, errorCode: null, fbtraceId: null });
      await other.outbound.markAccepted('out_1', 'wamid.1', 't4');
      expect(await opened.store.outbound.claimForSending('out_1', 't5')).toBeUndefined();
      expect(await opened.store.outbound.findByWamid('wamid.1')).toMatchObject({ id: 'out_1', state: 'accepted', wamid: 'wamid.1' });
    });

    it('gives up a queued message stopped before its send only while nobody claimed it', async () => {
      await opened.store.outbound.insertOrFind(outbound('out_1'));
      await opened.store.outbound.insertOrFind(outbound('out_2'));
      expect(await opened.store.outbound.abandonQueued('out_1', 'Stopped before it was sent', 't1')).toBe(true);
      expect(await opened.store.outbound.findById('out_1')).toMatchObject({ state: 'failed', errorTitle: 'Stopped before it was sent', attempts: 0 });
      expect(await opened.store.outbound.claimForSending('out_1', 't2')).toMatchObject({ state: 'sending', attempts: 1 });
      expect(await opened.store.outbound.abandonQueued('out_1', 'late', 't3')).toBe(false);
      expect(await opened.store.outbound.findById('out_1')).toMatchObject({ state: 'sending' });
      await opened.store.outbound.claimForSending('out_2', 't2');
      expect(await opened.store.outbound.abandonQueued('out_2', 'late', 't3')).toBe(false);
    });

    it('decides an approval once when two stores approve or reject at the same moment', async () => {
      await opened.store.outbound.insertOrFind(outbound('out_1', { state: 'pending_approval' }));
      await opened.store.outbound.insertOrFind(outbound('out_2', { state: 'pending_approval' }));
      const other = await opened.another();
      const approvals = await Promise.all([
        opened.store.outbound.approve('out_1', 'ada', 't1'),
        other.outbound.approve('out_1', 'grace', 't1'),
        other.outbound.reject('out_1', 'linus', 'no', 't1'),
      ]);
      expect(approvals.filter(Boolean)).toHaveLength(1);
      const decided = await opened.store.outbound.findById('out_1');
      expect(['queued', 'rejected']).toContain(decided?.state);
      expect(await other.outbound.reject('out_2', 'linus', 'not now', 't2')).toBe(true);
      expect(await opened.store.outbound.approve('out_2', 'ada', 't3')).toBe(false);
      expect(await opened.store.outbound.findById('out_2')).toMatchObject({ state: 'rejected', rejectedBy: 'linus', rejectReason: 'not now', approvedBy: null });
      expect((await opened.store.outbound.listByState('ws_1', 'rejected', 10)).map((m) => m.id)).toContain('out_2');
    });

    it('lists messages newest first, by recipient and since a time', async () => {
      const { store } = opened;
      for (let i = 1; i <= 5; i += 1) {
        await store.outbound.insertOrFind(outbound(`out_${i}`, { recipient: i % 2 ? '1555' : '1666', createdAt: `2026-01-0${i}T00:00:00.000Z` }));
      }
      expect((await store.outbound.list({ workspaceId: 'ws_1', limit: 3 })).map((m) => m.id)).toEqual(['out_5', 'out_4', 'out_3']);
      expect((await store.outbound.list({ workspaceId: 'ws_1', to: '1555', limit: 10 })).map((m) => m.id)).toEqual(['out_5', 'out_3', 'out_1']);
      expect((await store.outbound.list({ workspaceId: 'ws_1', since: '2026-01-04T00:00:00.000Z', limit: 10 })).map((m) => m.id)).toEqual(['out_5', 'out_4']);
      expect((await store.outbound.listByState('ws_1', 'queued', 2)).map((m) => m.id)).toEqual(['out_1', 'out_2']);
      expect(await store.outbound.list({ workspaceId: 'ws_other', limit: 10 })).toEqual([]);
    });

    it('keeps the statuses and pricing that arrived before Meta\'s answer, and shows their timeline', async () => {
      const { store } = opened;
      await store.outbound.insertOrFind(outbound('out_1'));
      await store.outbound.claimForSending('out_1', 't1');
      const status = (status: string, occurred: string, raw: Record<string, unknown> = {}) => ({
        wamid: 'wamid.fast', status, integration_id: 'wa_1', occurred_at: occurred, received_at: occurred, raw: JSON.stringify(raw),
      });
      await rows.insert(
        'message_statuses',
        status('delivered', '2026-01-01T00:00:02.000Z', { pricing: { pricing_model: 'PMP', category: 'UTILITY', type: 'regular', billable: true } }),
        status('sent', '2026-01-01T00:00:01.000Z'),
      );
      await store.outbound.markAccepted('out_1', 'wamid.fast', 't2');
      expect(await store.outbound.findById('out_1')).toMatchObject({
        state: 'delivered',
        wamid: 'wamid.fast',
        pricing: { model: 'PMP', category: 'utility', type: 'regular', billable: true },
      });
      expect((await store.outbound.timeline('wa_1', 'wamid.fast')).map((s) => s.status)).toEqual(['sent', 'delivered']);
      expect(await store.outbound.timeline('wa_1', 'wamid.none')).toEqual([]);
    });
  });

  describe('send slots', () => {
    // An interval far longer than the test: a slot taken is not due again while it runs (no clock is asserted).
    const HOUR = 3_600_000;
    const LONGEST = 60_000;
    const take = (store: Store, keys: SendSlotKey[]) => store.sendSlots.take(keys, { nowMs: Date.now(), longestSendMs: LONGEST });
    /** No grid (interval 0): only the log decides, R sends a second. */
    const bounded = (perSecond: number): SendSlotKey[] => [{ key: 'integration:wa_1', intervalMs: 0, perSecond }];
    const taken = (results: SendSlotTake[]) => results.flatMap((r) => (r.taken ? [r.token] : []));
    /** Moves a key's logged times `ms` into the past, as if that long had gone by since. */
    const age = (ms: number, which: 'answered' | 'all' = 'all') =>
      rows.run(
        `UPDATE send_log SET taken_at_ms = taken_at_ms - ?, free_at_ms = free_at_ms - ?, answered_at_ms = answered_at_ms - ?
          WHERE key = ?${which === 'answered' ? ' AND answered_at_ms IS NOT NULL' : ''}`,
        [ms, ms, ms, 'integration:wa_1'],
      );
    const logged = async () => (await rows.all<{ n: number }>("SELECT CAST(COUNT(*) AS INTEGER) AS n FROM send_log WHERE key = 'integration:wa_1'"))[0]!.n;

    it.each([
      ['the keys are new', false],
      ['the keys have due slots already', true],
    ])('gives a slot to one of two stores taking it at the same moment when %s', async (_, existing) => {
      const other = await opened.another();
      const keys = [{ key: 'integration:wa_1', intervalMs: HOUR, perSecond: 80 }, { key: 'workspace:ws_1', intervalMs: 1, perSecond: 1000 }];
      if (existing) await rows.insert('send_slots', ...keys.map(({ key }) => ({ key, next_at_ms: 0 })));
      const results = await Promise.all([
        ...Array.from({ length: 3 }, () => take(opened.store, keys)),
        ...Array.from({ length: 3 }, () => take(other, keys)),
      ]);
      expect(taken(results)).toHaveLength(1);
      for (const result of results.filter((r) => !r.taken)) expect(result.taken === false && result.waitMs).toBeGreaterThan(0);
    });

    it('takes nothing unless every key is due', async () => {
      const { store } = opened;
      const key = (name: string, intervalMs: number) => ({ key: name, intervalMs, perSecond: 1000 });
      expect((await take(store, [key('a', HOUR)])).taken).toBe(true);
      // "a" is not due: "b" is not taken either…
      expect(await take(store, [key('a', 1), key('b', HOUR)])).toMatchObject({ taken: false, waitMs: expect.any(Number) });
      // …so it is still free on its own, and then it is not.
      expect((await take(store, [key('b', HOUR)])).taken).toBe(true);
      expect((await take(store, [key('b', HOUR)])).taken).toBe(false);
      expect(await take(store, [])).toEqual({ taken: true, token: { sends: [] } });
    });

    it('holds the next send while R sends may still reach Meta within a second: in flight, or answered under a second ago', async () => {
      const { store } = opened;
      // Given R = 3 sends a second and three in flight
      const first = taken(await Promise.all([1, 2, 3].map(() => take(store, bounded(3)))));
      expect(first).toHaveLength(3);
      // Then a fourth waits more than a second: an answer still to come counts for a second after it
      const held = await take(store, bounded(3));
      expect(held.taken === false && held.waitMs).toBeGreaterThan(1000);
      // When two are answered now, they still count (a request may arrive the moment its answer leaves)
      await store.sendSlots.answered(first[0]!, Date.now());
      await store.sendSlots.answered(first[1]!, Date.now());
      await store.sendSlots.answered(first[1]!, Date.now()); // a second answer changes nothing
      const stillHeld = await take(store, bounded(3));
      expect(stillHeld.taken === false && stillHeld.waitMs).toBeGreaterThan(0);
      // …and once a second has gone by since those answers, two more may start, and no third
      await age(1100, 'answered');
      const next = await Promise.all([1, 2, 3].map(() => take(store, bounded(3))));
      expect(taken(next)).toHaveLength(2);
      expect(await logged()).toBe(3);
    });

    it('stops counting a send never answered once the longest a send can take has passed (its process died)', async () => {
      const { store } = opened;
      // Given a send whose process died before its answer
      expect((await take(store, bounded(1))).taken).toBe(true);
      expect((await take(store, bounded(1))).taken).toBe(false);
      // When the longest a send can take and a second have gone by, it no longer holds the key
      await age(LONGEST - 1000);
      expect((await take(store, bounded(1))).taken).toBe(false);
      await age(2100);
      expect((await take(store, bounded(1))).taken).toBe(true);
      expect(await logged()).toBe(1);
    });

    it('never gives more than R slots a second to two stores taking for one key at once', async () => {
      const other = await opened.another();
      const keys = [...bounded(5), { key: 'workspace:ws_1', intervalMs: 0, perSecond: 1000 }];
      const race = () =>
        Promise.all([
          ...Array.from({ length: 8 }, () => take(opened.store, keys)),
          ...Array.from({ length: 8 }, () => take(other, keys)),
        ]);
      const tokens = taken(await race());
      expect(tokens).toHaveLength(5);
      // Answered and a second later, five more (and the two keys' logs moved together)
      for (const token of tokens) await other.sendSlots.answered(token, Date.now());
      await age(1100);
      expect(taken(await race())).toHaveLength(5);
      expect((await rows.all<{ n: number }>("SELECT CAST(COUNT(*) AS INTEGER) AS n FROM send_log WHERE key = 'workspace:ws_1'"))[0]!.n).toBe(10);
    });

    it('keeps a key\'s log at most R rows long however many it sends', async () => {
      const { store } = opened;
      for (let i = 0; i < 40; i += 1) {
        const result = await take(store, bounded(3));
        expect(result.taken).toBe(true);
        if (result.taken) await store.sendSlots.answered(result.token, Date.now());
        if (i % 3 === 2) await age(1100);
      }
      expect(await logged()).toBeLessThanOrEqual(3);
    });
  });

  describe('console', () => {
    async function seedContacts() {
      const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000Z`;
      await rows.insert(
        'contacts',
        ...[
          ['wa_1', '1001', at(1)],
          ['wa_1', '1002', at(3)],
          ['wa_2', '1001', at(3)],
          ['wa_1', '1003', at(2)],
          ['wa_1', '1004', at(5)],
        ].map(([integration, contact, last]) => ({
          integration_id: integration, contact_id: contact, kind: 'phone', workspace_id: 'ws_1', first_seen_at: at(0), last_inbound_at: last, messages: 1,
        })),
        { integration_id: 'wa_9', contact_id: '1009', kind: 'phone', workspace_id: 'ws_9', first_seen_at: at(0), last_inbound_at: at(9), messages: 1 },
      );
    }

    it('pages contacts newest first, each page strictly after the last one shown', async () => {
      const { store } = opened;
      await seedContacts();
      const first = await store.console.contacts('ws_1', { limit: 2 });
      expect(first.map((c) => `${c.integrationId}/${c.contactId}`)).toEqual(['wa_1/1004', 'wa_2/1001']);
      const last = first.at(-1)!;
      const second = await store.console.contacts('ws_1', { limit: 2, before: { lastInboundAt: last.lastInboundAt, integrationId: last.integrationId, contactId: last.contactId } });
      expect(second.map((c) => `${c.integrationId}/${c.contactId}`)).toEqual(['wa_1/1002', 'wa_1/1003']);
      const end = second.at(-1)!;
      const third = await store.console.contacts('ws_1', { limit: 2, before: { lastInboundAt: end.lastInboundAt, integrationId: end.integrationId, contactId: end.contactId } });
      expect(third.map((c) => `${c.integrationId}/${c.contactId}`)).toEqual(['wa_1/1001']);
      expect(await store.console.contact('wa_2', '1001')).toMatchObject({ kind: 'phone', lastInboundAt: '2026-01-01T00:00:03.000Z', messages: 1 });
      expect(await store.console.contact('wa_2', '9999')).toBeUndefined();
    });

    it('shows a thread oldest first across both directions, with media, a page before a time', async () => {
      const { store } = opened;
      await seedContacts();
      await rows.insert(
        'interactions',
        interactionRow(1, { from_id: '1001', sent_at: '2026-01-01T00:00:01.000Z' }),
        interactionRow(2, { from_id: '1001', sent_at: '2026-01-01T00:00:03.000Z', type: 'image', media_id: 'm2' }),
        interactionRow(3, { from_id: '1001', sent_at: '2026-01-01T00:00:05.000Z' }),
        interactionRow(4, { from_id: '1002', sent_at: '2026-01-01T00:00:04.000Z' }),
      );
      await rows.insert('media', {
        integration_id: 'wa_1', media_id: 'm2', workspace_id: 'ws_1', interaction_seq: 2, direction: 'in', state: 'stored', size: 12, path: '/m/x', created_at: 'c', updated_at: 'u',
      });
      await store.outbound.insertOrFind(outbound('out_1', { recipient: '1001', createdAt: '2026-01-01T00:00:02.000Z' }));
      await store.outbound.insertOrFind(outbound('out_2', { recipient: '1001', createdAt: '2026-01-01T00:00:04.000Z' }));
      await store.outbound.insertOrFind(outbound('out_3', { recipient: '1002', createdAt: '2026-01-01T00:00:04.500Z' }));
      const describe = (items: Awaited<ReturnType<typeof store.console.thread>>) =>
        items.map((item) => (item.direction === 'in' ? item.interaction.id : item.message.id));
      const newest = await store.console.thread('wa_1', '1001', { limit: 3 });
      expect(describe(newest)).toEqual(['in_2', 'out_2', 'in_3']);
      const image = newest[0]!;
      expect(image.direction === 'in' && image.media).toMatchObject({ mediaId: 'm2', interactionId: 'in_2', size: 12, state: 'stored' });
      expect(describe(await store.console.thread('wa_1', '1001', { limit: 3, before: newest[0]!.at }))).toEqual(['in_1', 'out_1']);
      expect(await store.console.thread('wa_1', 'nobody', { limit: 3 })).toEqual([]);
    });

    it('pages delivery events newest first, by state, and counts the work waiting', async () => {
      const { store } = opened;
      const event = (seq: number, state: string) => ({
        interaction_seq: seq, workspace_id: 'ws_1', state, attempts: state === 'pending' ? 0 : 1, next_attempt_at: 'n', created_at: 'c', last_error: state === 'retrying' ? 'HTTP 500' : null,
      });
      await rows.insert('dispatch_events', event(1, 'delivered'), event(2, 'retrying'), event(3, 'pending'), event(4, 'dropped'), event(5, 'retrying'));
      const page = await store.console.events('ws_1', { limit: 2 });
      expect(page.map((e) => [e.id, e.interactionId, e.state])).toEqual([[5, 'in_5', 'retrying'], [4, 'in_4', 'dropped']]);
      expect((await store.console.events('ws_1', { limit: 10, before: 4 })).map((e) => e.id)).toEqual([3, 2, 1]);
      expect(await store.console.events('ws_1', { limit: 10, state: 'retrying' })).toMatchObject([{ id: 5, lastError: 'HTTP 500', attempts: 1 }, { id: 2 }]);

      await store.outbound.insertOrFind(outbound('out_1', { createdAt: '2026-01-01T10:00:01.000Z' }));
      await store.outbound.insertOrFind(outbound('out_2', { createdAt: '2026-01-01T10:00:59.000Z', state: 'sending' }));
      await store.outbound.insertOrFind(outbound('out_3', { createdAt: '2026-01-01T10:01:00.000Z', state: 'pending_approval' }));
      await store.outbound.insertOrFind(outbound('out_4', { createdAt: '2026-01-01T09:00:00.000Z', state: 'read' }));
      await rows.insert('media', {
        integration_id: 'wa_1', media_id: 'm1', workspace_id: 'ws_1', interaction_seq: 3, direction: 'in', state: 'pending', created_at: 'c', updated_at: 'u',
      });
      expect(await store.console.queueDepth('ws_1')).toEqual({ dispatch: 3, outbound: 2, pendingApproval: 1, media: 1 });
      expect(await store.console.sendsPerMinute('ws_1', '2026-01-01T10:00:00.000Z')).toEqual(
        new Map([
          ['2026-01-01T10:00', 2],
          ['2026-01-01T10:01', 1],
        ]),
      );
    });
  });
});
