/**
 * The store contract for configuration, facts and maintenance, the same assertions on SQLite and PostgreSQL:
 * workspaces, integrations (one per number, the change marker a second store sees), templates, facts, and the
 * retention/readiness/export reads.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Interaction } from '../../src/store/types.js';
import { interactionRow, rawRows, type RawRows } from '../helpers/rows.js';
import { integrationRecord as integration, outboundRecord, templateRecord as template } from '../helpers/records.js';
import { storeBackends, type OpenedStore } from '../helpers/stores.js';

describe.each(storeBackends())('store contract, configuration: $title', (backend) => {
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

  describe('workspaces', () => {
    it('creates a workspace once by name, also when two stores ask at the same moment', async () => {
      const other = await opened.another();
      const [a, b] = await Promise.all([opened.store.workspaces.ensure('team', 'now'), other.workspaces.ensure('team', 'now')]);
      expect(a.id).toBe(b.id);
      expect((await opened.store.workspaces.ensure('team', 'later')).createdAt).toBe('now');
      await opened.store.workspaces.ensure('alpha', 'now');
      expect((await opened.store.workspaces.list()).map((w) => w.name)).toEqual(['alpha', 'team']);
      expect(await opened.store.workspaces.findByName('team')).toEqual({ id: a.id, name: 'team', approvalPolicy: 'none', createdAt: 'now' });
      await opened.store.workspaces.setApprovalPolicy(a.id, 'templates');
      expect((await other.workspaces.findById(a.id))?.approvalPolicy).toBe('templates');
      expect(await opened.store.workspaces.findByName('missing')).toBeUndefined();
    });
  });

  describe('integrations and templates', () => {
    it('saves an integration with its templates and counts what a re-sync changed', async () => {
      const { store } = opened;
      const ws = await store.workspaces.ensure('default', '2026-01-01T00:00:00.000Z');
      const first = await store.integrations.saveWithTemplates(integration(ws.id), [template('a'), template('b')]);
      expect(first).toEqual({ total: 2, added: 2, updated: 0, removed: 0 });

      const changed = { ...template('b'), raw: { ...template('b').raw, status: 'PAUSED' }, status: 'PAUSED' };
      const second = await store.templates.replaceAll('wa_1', [changed, template('c')], 'now');
      expect(second).toEqual({ total: 2, added: 1, updated: 1, removed: 1 });
      expect((await store.templates.list('wa_1')).map((t) => t.name)).toEqual(['b', 'c']);
      expect((await store.templates.list('wa_1', { status: 'approved' })).map((t) => t.name)).toEqual(['c']);
      expect((await store.integrations.findById('wa_1'))?.templatesSyncedAt).toBe('now');
      expect(await store.templates.findByName('wa_1', 'c')).toEqual([{ ...template('c'), statusReason: null, qualityScore: null, webhookUpdatedAt: null }]);

      expect(await store.integrations.delete('wa_1')).toBe(true);
      expect(await store.integrations.delete('wa_1')).toBe(false);
      expect(await store.templates.list('wa_1')).toEqual([]);
    });

    it('counts a template given twice once (the last one wins) and keeps a webhook reason while its status holds', async () => {
      const { store } = opened;
      const ws = await store.workspaces.ensure('default', 'now');
      await store.integrations.saveWithTemplates(integration(ws.id), [template('a'), template('b', 'en_US', 'REJECTED')]);
      // Given Meta's webhook gave reasons (as the change writer records them)
      await rows.run("UPDATE templates SET status_reason = 'INVALID_FORMAT', quality_score = 'GREEN' WHERE name = 'b'");
      await rows.run("UPDATE templates SET status_reason = 'old words' WHERE name = 'a'");
      // When a sync brings b unchanged, a with a new status, and a second language of a twice
      const counts = await store.templates.replaceAll(
        'wa_1',
        [template('a', 'en_US', 'PAUSED'), template('b', 'en_US', 'REJECTED'), template('a', 'fr'), { ...template('a', 'fr'), templateId: 'last' }],
        'now',
      );
      expect(counts).toEqual({ total: 3, added: 1, updated: 1, removed: 0 });
      const byKey = new Map((await store.templates.list('wa_1')).map((t) => [`${t.name}/${t.language}`, t]));
      expect([...byKey.keys()]).toEqual(['a/en_US', 'a/fr', 'b/en_US']);
      expect(byKey.get('a/fr')?.templateId).toBe('last');
      expect(byKey.get('a/en_US')?.statusReason).toBeNull();
      expect(byKey.get('b/en_US')).toMatchObject({ statusReason: 'INVALID_FORMAT', qualityScore: 'GREEN' });
      expect((await store.templates.findByName('wa_1', 'a')).map((t) => t.language)).toEqual(['en_US', 'fr']);
    });

    it('keeps one integration per phone number id in a workspace', async () => {
      const { store } = opened;
      const ws = await store.workspaces.ensure('default', 'now');
      const other = await store.workspaces.ensure('other', 'now');
      await store.integrations.saveWithTemplates(integration(ws.id), []);
      await expect(store.integrations.saveWithTemplates(integration(ws.id, { id: 'wa_2' }), [])).rejects.toThrow(/unique/i);
      expect(await store.integrations.list(ws.id)).toHaveLength(1);
      // Another workspace may connect the same number.
      await store.integrations.saveWithTemplates(integration(other.id, { id: 'wa_3', createdAt: '2026-01-02T00:00:00.000Z' }), []);
      expect((await store.integrations.listAll()).map((i) => [i.id, i.workspaceName])).toEqual([
        ['wa_1', 'default'],
        ['wa_3', 'other'],
      ]);
      expect((await store.integrations.findByPhoneNumberId(other.id, '106540352242922'))?.id).toBe('wa_3');
      expect(await store.integrations.findByPhoneNumberId(other.id, '1')).toBeUndefined();
    });

    it('has no integrations column that could hold a secret', async () => {
      const columns =
        opened.store.backend === 'sqlite'
          ? await rows.all<{ name: string }>("SELECT name FROM pragma_table_info('integrations')")
          : await rows.all<{ name: string }>("SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'integrations'");
      expect(columns.length).toBeGreaterThan(10);
      expect(columns.map((c) => c.name).filter((c) => /token(?!_hash)|secret(?!_store|_ref)|password/.test(c))).toEqual([]);
    });

    it('replaces an integration on re-connect and records a rotated verify token and the public URL', async () => {
      const { store } = opened;
      const ws = await store.workspaces.ensure('default', 'now');
      await store.integrations.saveWithTemplates(integration(ws.id), [template('a')]);
      await store.integrations.saveWithTemplates(integration(ws.id, { label: 'Sales', appSubscribed: false, updatedAt: 'later', createdAt: 'ignored' }), []);
      await store.integrations.setVerifyTokenHash('wa_1', 'sha256:11', 't1');
      await store.integrations.setPublicUrl('wa_1', 'https://relay.example', 't2');
      expect(await store.integrations.findById('wa_1')).toEqual(
        integration(ws.id, { label: 'Sales', appSubscribed: false, verifyTokenHash: 'sha256:11', publicUrl: 'https://relay.example', updatedAt: 't2' }),
      );
      expect(await store.templates.list('wa_1')).toEqual([]);
    });

    it('moves the change marker, as a second store reads it, on every save, rotate and delete', async () => {
      const { store } = opened;
      const reader = await opened.another();
      const seen = [await reader.integrations.changeMarker()];
      // Another connection's write is seen from the next turn of the event loop on (SQLite reads the marker once a turn).
      const moved = async () => {
        await new Promise((resolve) => setImmediate(resolve));
        const marker = await reader.integrations.changeMarker();
        expect(marker).not.toBe(seen.at(-1));
        seen.push(marker);
      };
      const ws = await store.workspaces.ensure('default', 'now');
      await store.integrations.saveWithTemplates(integration(ws.id), [template('a')]);
      await moved();
      await store.integrations.setVerifyTokenHash('wa_1', 'sha256:22', 'later');
      await moved();
      await store.templates.replaceAll('wa_1', [], 'later');
      await moved();
      await store.integrations.delete('wa_1');
      await moved();
      expect(await reader.integrations.changeMarker()).toBe(seen.at(-1));
    });
  });

  describe('facts', () => {
    it('reads account facts, preferences, usage and the event log the webhooks wrote', async () => {
      const { store } = opened;
      await rows.insert('account_facts', {
        integration_id: 'wa_1', workspace_id: 'ws_1', quality_rating: 'YELLOW', messaging_limit: 'TIER_1K', coexistence: 1, updated_at: 't',
      });
      await rows.insert(
        'contact_preferences',
        { integration_id: 'wa_1', contact_id: '1555', workspace_id: 'ws_1', category: 'marketing_messages', value: 'stop', occurred_at: 'o', received_at: 'r' },
        { integration_id: 'wa_1', contact_id: '1666', workspace_id: 'ws_1', category: 'marketing_messages', value: 'resume', detail: 'd', occurred_at: 'o', received_at: 'r' },
      );
      await rows.insert(
        'webhook_events',
        { id: 1, workspace_id: 'ws_1', integration_id: 'wa_1', object: 'template', field: 'message_template_status_update', doc: '{"n":1}', received_at: 'r1' },
        { id: 2, workspace_id: 'ws_2', integration_id: 'wa_9', object: 'account', field: 'account_update', doc: '{"n":2}', received_at: 'r2' },
        { id: 3, workspace_id: 'ws_1', integration_id: 'wa_1', object: 'account', field: 'account_update', doc: '{"n":3}', received_at: 'r3' },
      );
      expect(await store.facts.accountFacts('wa_1')).toEqual({
        integrationId: 'wa_1', qualityRating: 'YELLOW', messagingLimit: 'TIER_1K', restriction: null, accountEvent: null, coexistence: true, updatedAt: 't',
      });
      expect(await store.facts.accountFacts('wa_2')).toBeUndefined();
      expect(await store.facts.preference('wa_1', '1555', 'marketing_messages')).toEqual({
        integrationId: 'wa_1', contactId: '1555', category: 'marketing_messages', value: 'stop', detail: null, occurredAt: 'o',
      });
      expect((await store.facts.preferences('ws_1')).map((p) => p.value).sort()).toEqual(['resume', 'stop']);
      expect((await store.facts.eventsAfter('ws_1', 0, 10)).map((e) => [e.id, e.doc])).toEqual([[1, { n: 1 }], [3, { n: 3 }]]);
      expect((await store.facts.eventsAfter('ws_1', 1, 1)).map((e) => e.id)).toEqual([3]);

      // Usage: messages handed to Meta since then, by pricing category, once each in their furthest state.
      const send = async (id: string, state: string, fields: Record<string, unknown> = {}) => {
        await store.outbound.insertOrFind(outboundRecord(id, { createdAt: '2026-02-01T00:00:00.000Z' }));
        await rows.run(
          `UPDATE outbound_messages SET state = ?, wamid = ?, pricing_category = ?, billable = ? WHERE id = ?`,
          [state, state === 'failed' ? null : `wamid.${id}`, fields.category ?? null, fields.billable ?? null, id],
        );
      };
      await send('o1', 'read', { category: 'utility', billable: 1 });
      await send('o2', 'delivered', { category: 'utility', billable: 0 });
      await send('o3', 'failed');
      await send('o4', 'accepted');
      await store.outbound.insertOrFind(outboundRecord('o5', { createdAt: '2026-02-01T00:00:00.000Z' })); // queued: not counted
      await store.outbound.insertOrFind(outboundRecord('o6', { createdAt: '2025-01-01T00:00:00.000Z', wamid: 'wamid.old', state: 'read' }));
      expect(await store.facts.usage('ws_1', '2026-01-01T00:00:00.000Z')).toEqual([
        { category: 'unknown', sent: 1, delivered: 0, read: 0, failed: 1, billable: 0, total: 2 },
        { category: 'utility', sent: 2, delivered: 2, read: 1, failed: 0, billable: 1, total: 2 },
      ]);
    });
  });

  describe('maintenance', () => {
    /** Given old and new messages, a pending delivery, statuses, errors, events, media and contacts. */
    async function seed() {
      const old = '2025-01-01T00:00:00.000Z';
      const fresh = '2026-06-01T00:00:00.000Z';
      // Statuses are scoped to a workspace through their integration.
      await rows.insert('workspaces', { id: 'ws_1', name: 'default', created_at: old });
      await opened.store.integrations.saveWithTemplates(integration('ws_1'), []);
      await rows.insert(
        'interactions',
        interactionRow(1, { received_at: old, media_id: 'm1' }),
        interactionRow(2, { received_at: old }),
        interactionRow(3, { received_at: old, from_id: '1999' }),
        interactionRow(4, { received_at: old, workspace_id: 'ws_2', integration_id: 'wa_2', from_id: '1777' }),
        interactionRow(5, { received_at: fresh }),
      );
      await rows.insert(
        'dispatch_events',
        { interaction_seq: 1, workspace_id: 'ws_1', state: 'delivered', next_attempt_at: old, created_at: old },
        { interaction_seq: 2, workspace_id: 'ws_1', state: 'retrying', next_attempt_at: old, created_at: '2025-01-01T00:00:01.000Z' },
        { interaction_seq: 5, workspace_id: 'ws_1', state: 'pending', next_attempt_at: fresh, created_at: fresh },
      );
      await rows.insert(
        'media',
        { integration_id: 'wa_1', media_id: 'm1', workspace_id: 'ws_1', interaction_seq: 1, direction: 'in', state: 'stored', path: '/m/shared', created_at: old, updated_at: old },
        { integration_id: 'wa_1', media_id: 'u1', workspace_id: 'ws_1', direction: 'out', state: 'uploaded', path: '/m/up', created_at: old, updated_at: old },
        { integration_id: 'wa_1', media_id: 'u2', workspace_id: 'ws_1', direction: 'out', state: 'uploaded', path: '/m/shared', created_at: fresh, updated_at: fresh },
        // One file named by two paths (before and after LUMEN_HOME moved): the same hash is the same file
        { integration_id: 'wa_1', media_id: 'u3', workspace_id: 'ws_1', direction: 'out', state: 'uploaded', path: '/old/m/moved', sha256: 'h1', created_at: old, updated_at: old },
        { integration_id: 'wa_1', media_id: 'u4', workspace_id: 'ws_1', direction: 'out', state: 'uploaded', path: '/m/moved', sha256: 'h1', created_at: fresh, updated_at: fresh },
      );
      await rows.insert(
        'contacts',
        { integration_id: 'wa_1', contact_id: '15551234567', kind: 'phone', workspace_id: 'ws_1', first_seen_at: old, last_inbound_at: old, messages: 3 },
        { integration_id: 'wa_1', contact_id: '1999', kind: 'phone', workspace_id: 'ws_1', first_seen_at: old, last_inbound_at: old, messages: 1 },
        { integration_id: 'wa_2', contact_id: '1777', kind: 'phone', workspace_id: 'ws_2', first_seen_at: old, last_inbound_at: old, messages: 1 },
      );
      await rows.insert(
        'message_statuses',
        { wamid: 'wamid.o1', status: 'sent', integration_id: 'wa_1', occurred_at: old, received_at: old, raw: '{}' },
        { wamid: 'wamid.o1', status: 'read', integration_id: 'wa_1', occurred_at: fresh, received_at: fresh, raw: '{}' },
      );
      await rows.insert('webhook_errors', { workspace_id: 'ws_1', integration_id: 'wa_1', received_at: old, raw: '{}' });
      await rows.insert(
        'webhook_events',
        { workspace_id: 'ws_1', integration_id: 'wa_1', object: 'a', field: 'f', doc: '{}', received_at: old, forward_state: 'delivered' },
        { workspace_id: 'ws_1', integration_id: 'wa_1', object: 'a', field: 'f', doc: '{}', received_at: old, forward_state: 'pending' },
      );
      await opened.store.outbound.insertOrFind(outboundRecord('o1', { createdAt: old, state: 'read', wamid: 'wamid.o1' }));
      await opened.store.outbound.insertOrFind(outboundRecord('o2', { createdAt: old, state: 'queued' }));
      return { cutoff: '2026-01-01T00:00:00.000Z' };
    }

    it('plans and purges the same rows, keeping undelivered messages and files still pointed at', async () => {
      const { store } = opened;
      const { cutoff } = await seed();
      const expected = {
        inbound: 2, outbound: 1, statuses: 1, webhookErrors: 1, webhookEvents: 1, media: 3, contacts: 1, keptUndelivered: 1,
      };
      expect(await store.maintenance.plan({ cutoff, workspaceId: 'ws_1' })).toEqual({ ...expected, files: ['/m/up'] });
      const purged = await store.maintenance.purge({ cutoff, workspaceId: 'ws_1' });
      expect(purged).toEqual({ ...expected, files: ['/m/up'] });
      // Nothing more to do in that workspace; the other workspace's old message is still there.
      expect(await store.maintenance.plan({ cutoff, workspaceId: 'ws_1' })).toMatchObject({ inbound: 0, outbound: 0, media: 0, contacts: 0, keptUndelivered: 1 });
      expect(await store.maintenance.plan({ cutoff })).toMatchObject({ inbound: 1, contacts: 1 });
      expect((await rows.all<{ seq: number }>('SELECT seq FROM interactions ORDER BY seq')).map((r) => Number(r.seq))).toEqual([2, 4, 5]);
    });

    it('reports the queue and the outbox by state, and proves it can write', async () => {
      const { store } = opened;
      await seed();
      await store.maintenance.checkWritable();
      expect(await store.maintenance.stats()).toEqual({
        dispatchQueueDepth: 2,
        dispatchOldestCreatedAt: '2025-01-01T00:00:01.000Z',
        outboundByState: { read: 1, queued: 1 },
      });
    });

    it('reads every inbound message in order, page after page, with its filters', async () => {
      const { store } = opened;
      const many = Array.from({ length: 1203 }, (_, i) =>
        interactionRow(i + 1, { from_id: i % 3 === 0 ? '1000' : '2000', received_at: i < 1000 ? '2025-01-01T00:00:00.000Z' : '2026-01-01T00:00:00.000Z' }),
      );
      await rows.run('BEGIN');
      await rows.insert('interactions', ...many);
      await rows.run('COMMIT');
      const read = async (filter: Parameters<typeof store.maintenance.interactions>[0]) => {
        const found: Interaction[] = [];
        for await (const interaction of store.maintenance.interactions(filter)) found.push(interaction);
        return found;
      };
      const all = await read({});
      expect(all).toHaveLength(1203);
      expect(all.map((i) => i.id)).toEqual(many.map((row) => `in_${row.seq}`));
      expect(all[0]).toMatchObject({ workspaceId: 'ws_1', from: '1000', text: 'hi 1', raw: {} });
      expect(await read({ workspaceId: 'ws_1', from: '1000' })).toHaveLength(401);
      expect(await read({ since: '2026-01-01T00:00:00.000Z', from: '2000' })).toHaveLength(136);
      expect(await read({ workspaceId: 'nobody' })).toEqual([]);
    });

    it('backs SQLite up to a file, and refuses on PostgreSQL with pg_dump as the way', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'lumen-backup-'));
      try {
        const destination = join(dir, 'copy.db');
        if (opened.store.backend === 'sqlite') {
          expect((await opened.store.maintenance.backup(destination)).pages).toBeGreaterThan(0);
          expect(existsSync(destination)).toBe(true);
        } else {
          await expect(opened.store.maintenance.backup(destination)).rejects.toMatchObject({
            code: 'backup_unsupported',
            hint: expect.stringContaining('pg_dump'),
          });
          expect(existsSync(destination)).toBe(false);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
