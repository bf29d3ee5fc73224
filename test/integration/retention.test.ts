/**
 * Retention, export and backup against a real SQLite store in a temporary home: `messages purge` (and the relay's
 * daily purge) removes exactly what it reports, never a message still owed to the user's code; `messages export`
 * writes every stored message; dropped deliveries are never claimed again.
 */
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { exportMessages } from '../../src/services/maintenance/export.js';
import { parseAge, purgeMessages, retentionSetting } from '../../src/services/maintenance/retention.js';
import { openStore } from '../../src/store/index.js';
import type { Integration, IngestJob, NewInteraction, OutboundMessage, Store } from '../../src/store/types.js';
import { makeHome, withDb, type LumenHome } from '../helpers/home.js';
import { outboundRecord } from '../helpers/records.js';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const DAY = 86_400_000;
const daysAgo = (n: number) => new Date(NOW.getTime() - n * DAY).toISOString();

let home: LumenHome;
let store: Store;
let mediaDir: string;
beforeEach(async () => {
  home = makeHome();
  store = openStore(home.path('lumen.db'));
  mediaDir = home.path('media');
  mkdirSync(mediaDir, { recursive: true });
  for (const [ws, wa, phone] of [['ws_1', 'wa_1', '100'], ['ws_2', 'wa_2', '200']] as const) {
    await store.workspaces.ensure(ws === 'ws_1' ? 'default' : 'other', daysAgo(400));
    const workspace = (await store.workspaces.findByName(ws === 'ws_1' ? 'default' : 'other'))!;
    await store.integrations.saveWithTemplates(integration(wa, workspace.id, phone), []);
  }
});
afterEach(() => {
  store.close();
  home.cleanup();
});

function integration(id: string, workspaceId: string, phoneNumberId: string): Integration {
  return {
    id,
    workspaceId,
    channel: 'whatsapp',
    label: id,
    phoneNumberId,
    wabaId: '1',
    displayPhoneNumber: null,
    verifiedName: null,
    qualityRating: null,
    verifyTokenHash: 'x',
    secretStore: 'file',
    secretRef: id,
    publicUrl: null,
    appSubscribed: true,
    templatesSyncedAt: null,
    createdAt: daysAgo(400),
    updatedAt: daysAgo(400),
  };
}

const workspaceOf = async (name: string) => (await store.workspaces.findByName(name))!.id;

function message(integrationId: string, wamid: string, from: string, sentAt: string, media?: string): NewInteraction {
  return {
    integrationId,
    channel: 'whatsapp',
    wamid,
    phoneNumberId: integrationId === 'wa_1' ? '100' : '200',
    from,
    fromKind: 'phone',
    contactName: 'Ana, "the" tester',
    userId: null,
    parentUserId: null,
    type: media ? 'image' : 'text',
    text: `text of ${wamid}\nsecond line`,
    mediaId: media ?? null,
    replyTo: null,
    timestamp: sentAt,
    raw: { id: wamid, secretish: 'raw payload' },
    media: media ? { id: media, mimeType: 'image/png', sha256: null, caption: null, filename: null } : null,
  };
}

async function ingest(workspaceName: string, receivedAt: string, messages: NewInteraction[], extra: Partial<IngestJob> = {}) {
  const [outcome] = await store.inbox.ingest([
    { workspaceId: await workspaceOf(workspaceName), receivedAt, messages, statuses: [], enqueueDispatch: true, ...extra },
  ]);
  return outcome!;
}

function outbound(id: string, workspaceId: string, state: OutboundMessage['state'], createdAt: string, wamid: string | null): OutboundMessage {
  return outboundRecord(id, {
    workspaceId,
    wamid,
    recipient: '15550001',
    body: { type: 'text', text: { body: 'hello' } },
    state,
    attempts: 1,
    createdAt,
    updatedAt: createdAt,
  });
}

const deps = () => ({ store, now: () => NOW });

describe('messages purge', () => {
  it('removes exactly what it counts, keeps what is newer, in other workspaces, or still owed to the user code', async () => {
    const ws1 = await workspaceOf('default');
    // Old messages: one delivered (with a stored media file), one pending, one retrying, one dropped; and a new one
    const old = await ingest('default', daysAgo(100), [
      message('wa_1', 'w.old.delivered', '15550001', daysAgo(100), 'm-old'),
      message('wa_1', 'w.old.pending', '15550002', daysAgo(100)),
      message('wa_1', 'w.old.retrying', '15550003', daysAgo(100)),
      message('wa_1', 'w.old.dropped', '15550004', daysAgo(100)),
    ]);
    const [delivered, , retrying, dropped] = old.events;
    await store.dispatch.markDelivered(delivered!, { target: 'x', status: 200, durationMs: 1, at: daysAgo(100) });
    await store.dispatch.markFailed(retrying!, { target: 'x', status: 500, error: 'down', durationMs: 1, nextAttemptAt: daysAgo(99) });
    expect(await store.dispatch.drop(dropped!, daysAgo(99))).toBe(true);
    const oldFile = join(mediaDir, 'aaaa.png');
    writeFileSync(oldFile, 'old bytes');
    // (stored before LUMEN_HOME moved: its record names the file where it was then)
    await store.media.markStored('wa_1', 'm-old', { path: '/home/someone-else/.lumen/media/aaaa.png', size: 9, sha256: 'aaaa', mimeType: 'image/png' }, daysAgo(100));
    // (Stored in time order, as the relay stores them.) The other workspace's old message
    await ingest('other', daysAgo(100), [message('wa_2', 'w.other.old', '15550009', daysAgo(100))], { enqueueDispatch: false });
    // A file only an old message uses
    await ingest('default', daysAgo(95), [message('wa_1', 'w.old.own-file', '15550005', daysAgo(95), 'm-own')], { enqueueDispatch: false });
    const ownFile = join(mediaDir, 'bbbb.png');
    writeFileSync(ownFile, 'own bytes');
    await store.media.markStored('wa_1', 'm-own', { path: ownFile, size: 9, sha256: 'bbbb', mimeType: 'image/png' }, daysAgo(95));
    // A new message whose media file has the same bytes (same hash, same file) as the old one's, stored here
    const recent = await ingest('default', daysAgo(10), [message('wa_1', 'w.new', '15550001', daysAgo(10), 'm-new')]);
    await store.dispatch.markDelivered(recent.events[0]!, { target: 'x', status: 200, durationMs: 1, at: daysAgo(10) });
    await store.media.markStored('wa_1', 'm-new', { path: oldFile, size: 9, sha256: 'aaaa', mimeType: 'image/png' }, daysAgo(10));
    // Old statuses and webhook errors, a new status; old sent messages (settled and still queued)
    await ingest('default', daysAgo(100), [], {
      statuses: [
        { integrationId: 'wa_1', wamid: 'wamid.out.old', status: 'delivered', recipientId: '15550001', timestamp: daysAgo(100), errorCode: null, errorTitle: null, errorDetails: null, raw: {} },
      ],
      errors: [{ integrationId: 'wa_1', phoneNumberId: '100', code: 131000, title: 't', message: 'm', details: null, raw: {} }],
    });
    await ingest('default', daysAgo(1), [], {
      statuses: [
        { integrationId: 'wa_1', wamid: 'wamid.out.new', status: 'read', recipientId: '15550001', timestamp: daysAgo(1), errorCode: null, errorTitle: null, errorDetails: null, raw: {} },
      ],
    });
    await store.outbound.insertOrFind(outbound('msg_old_sent', ws1, 'delivered', daysAgo(100), 'wamid.out.old'));
    await store.outbound.insertOrFind(outbound('msg_old_queued', ws1, 'queued', daysAgo(100), null));
    await store.outbound.insertOrFind(outbound('msg_new_sent', ws1, 'read', daysAgo(1), 'wamid.out.new'));

    // Other webhook fields' documents and a raw delivery: old and handed on, old and still owed, new
    withDb(home.dir, (db) => {
      const event = db.prepare(
        `INSERT INTO webhook_events (workspace_id, integration_id, object, field, doc, received_at, forward_state) VALUES (?, 'wa_1', 'template', 'message_template_status_update', '{}', ?, ?)`,
      );
      event.run(ws1, daysAgo(100), null);
      event.run(ws1, daysAgo(100), 'delivered');
      event.run(ws1, daysAgo(100), 'retrying');
      event.run(ws1, daysAgo(1), null);
      const raw = db.prepare(
        `INSERT INTO raw_deliveries (workspace_id, integration_id, body, signature, received_at, forward_state) VALUES (?, 'wa_1', ?, 'sha256=00', ?, ?)`,
      );
      raw.run(ws1, Buffer.from('{"entry":[]}'), daysAgo(100), 'delivered');
      raw.run(ws1, Buffer.from('{"entry":[]}'), daysAgo(100), 'pending');
    }, { readonly: false });
    const remainingEvents = () =>
      withDb(home.dir, (db) => ({
        events: db.prepare('SELECT forward_state AS state, received_at AS at FROM webhook_events ORDER BY id').all(),
        raw: db.prepare('SELECT forward_state AS state FROM raw_deliveries ORDER BY id').all(),
      }));

    // When a dry run, then the purge, of what is older than 90 days in workspace "default"
    const request = { olderThanMs: parseAge('90d', '--older-than'), workspaceId: ws1, mediaDir };
    const plan = await purgeMessages(deps(), { ...request, dryRun: true });
    const wamidsBefore = await allWamids();
    const done = await purgeMessages(deps(), { ...request, dryRun: false });

    // Then the dry run removed nothing and counted what the purge then removed
    expect(wamidsBefore).toHaveLength(7);
    const expected = { inbound: 3, outbound: 1, statuses: 1, webhookErrors: 1, webhookEvents: 3, media: 2, contacts: 4, keptUndelivered: 2 };
    expect(plan).toEqual({ cutoff: daysAgo(90), dryRun: true, ...expected, files: 1 });
    expect(done).toEqual({ cutoff: daysAgo(90), dryRun: false, ...expected, files: 1 });
    // Exactly these are gone: the delivered, dropped and undispatched old messages; pending and retrying stay
    expect(await allWamids()).toEqual(['w.new', 'w.old.pending', 'w.old.retrying', 'w.other.old'].sort());
    expect((await store.dispatch.find(delivered!))).toBeUndefined();
    expect((await store.dispatch.find(dropped!))).toBeUndefined();
    expect((await store.dispatch.find(retrying!))?.state).toBe('retrying');
    // The file still used by a new message stays; the one only the purged message used is deleted
    expect(existsSync(oldFile)).toBe(true);
    expect(existsSync(ownFile)).toBe(false);
    expect(await store.media.find('wa_1', 'm-new')).toBeDefined();
    expect(await store.media.find('wa_1', 'm-old')).toBeUndefined();
    // Settled old sends go, a queued one stays; the old status goes, the new stays
    expect(await store.outbound.findById('msg_old_sent')).toBeUndefined();
    expect(await store.outbound.findById('msg_old_queued')).toBeDefined();
    expect(await store.outbound.timeline('wa_1', 'wamid.out.old')).toEqual([]);
    expect(await store.outbound.timeline('wa_1', 'wamid.out.new')).toHaveLength(1);
    expect(await store.inbox.listWebhookErrors(ws1, 10)).toEqual([]);
    // Documents and raw bodies still owed to the user's code stay, as does the new one
    expect(remainingEvents()).toEqual({ events: [{ state: 'retrying', at: daysAgo(100) }, { state: null, at: daysAgo(1) }], raw: [{ state: 'pending' }] });
    // Senders who wrote nothing since the cutoff go (a kept old message stays findable by its id); 15550001 wrote again
    expect((await store.inbox.listContacts(ws1)).map((c) => c.contactId)).toEqual(['15550001']);

    // And a second purge finds nothing more to remove
    const again = await purgeMessages(deps(), { ...request, dryRun: false });
    expect(again).toMatchObject({ inbound: 0, outbound: 0, statuses: 0, webhookErrors: 0, webhookEvents: 0, media: 0, contacts: 0, files: 0, keptUndelivered: 2 });
  });

  it('keeps a file a message stored right after the purge committed points at (the relay storing the same bytes)', async () => {
    // Given an old message whose file nothing else uses
    await ingest('default', daysAgo(100), [message('wa_1', 'w.old', '15550001', daysAgo(100), 'm-old')], { enqueueDispatch: false });
    const file = join(mediaDir, `${'c'.repeat(64)}.png`);
    writeFileSync(file, 'same bytes');
    await store.media.markStored('wa_1', 'm-old', { path: file, size: 10, sha256: 'c'.repeat(64), mimeType: 'image/png' }, daysAgo(100));
    // When a new message with the same bytes is stored between the purge's transaction and its removal of files
    await ingest('default', daysAgo(0), [message('wa_1', 'w.new', '15550001', daysAgo(0), 'm-new')], { enqueueDispatch: false });
    const racing: Store = {
      ...store,
      maintenance: {
        ...store.maintenance,
        purge: async (scope) => {
          const counts = await store.maintenance.purge(scope);
          await store.media.markStored('wa_1', 'm-new', { path: file, size: 10, sha256: 'c'.repeat(64), mimeType: 'image/png' }, NOW.toISOString());
          return counts;
        },
      },
    };
    const done = await purgeMessages({ store: racing, now: () => NOW }, { olderThanMs: 90 * DAY, dryRun: false, mediaDir });

    // Then the old record goes, the file stays for the new one, and nothing is left aside
    expect(done).toMatchObject({ inbound: 1, media: 1, files: 0 });
    expect(existsSync(file)).toBe(true);
    expect(readdirSync(mediaDir)).toEqual([`${'c'.repeat(64)}.png`]);
    // And once that message is purged too, the file goes
    const later = { store, now: () => new Date(NOW.getTime() + DAY) };
    expect(await purgeMessages(later, { olderThanMs: DAY / 2, dryRun: false, mediaDir })).toMatchObject({ files: 1 });
    expect(readdirSync(mediaDir)).toEqual([]);
  });

  it('keeps a file whose record is committed between its check and its move aside, and settles files a stopped purge left aside', async () => {
    const hash = (c: string) => c.repeat(64);
    await ingest('default', daysAgo(100), [message('wa_1', 'w.old', '15550001', daysAgo(100), 'm-old')], { enqueueDispatch: false });
    const file = join(mediaDir, `${hash('d')}.png`);
    writeFileSync(file, 'same bytes');
    await store.media.markStored('wa_1', 'm-old', { path: file, size: 10, sha256: hash('d'), mimeType: 'image/png' }, daysAgo(100));
    await ingest('default', daysAgo(0), [message('wa_1', 'w.new', '15550001', daysAgo(0), 'm-new')], { enqueueDispatch: false });
    // Left by a purge stopped while they were aside: one a record points at, one nothing does
    const usedAside = join(mediaDir, `.purge-${hash('e')}.jpg.0123456789abcdef`);
    writeFileSync(usedAside, 'kept bytes');
    await ingest('default', daysAgo(0), [message('wa_1', 'w.kept', '15550002', daysAgo(0), 'm-kept')], { enqueueDispatch: false });
    await store.media.markStored('wa_1', 'm-kept', { path: join(mediaDir, `${hash('e')}.jpg`), size: 10, sha256: hash('e'), mimeType: 'image/jpeg' }, NOW.toISOString());
    writeFileSync(join(mediaDir, `.purge-${hash('f')}.jpg.fedcba9876543210`), 'unused bytes');

    // When the relay stores the same bytes for a new message just after the purge found the file unused
    let checks = 0;
    const racing: Store = {
      ...store,
      media: {
        ...store.media,
        fileInUse: async (path, sha256) => {
          const used = await store.media.fileInUse(path, sha256);
          if (path === file && ++checks === 1) {
            await store.media.markStored('wa_1', 'm-new', { path: file, size: 10, sha256: hash('d'), mimeType: 'image/png' }, NOW.toISOString());
          }
          return used;
        },
      },
    };
    const done = await purgeMessages({ store: racing, now: () => NOW }, { olderThanMs: 90 * DAY, dryRun: false, mediaDir });

    // Then the file was checked again after its move and put back; the one in use is back, the unused one gone
    expect(checks).toBe(2);
    expect(done).toMatchObject({ inbound: 1, media: 1, files: 0 });
    expect(readdirSync(mediaDir).sort()).toEqual([`${hash('d')}.png`, `${hash('e')}.jpg`]);

    // And a download a killed relay left (untouched for over an hour) goes; one being written stays
    const left = join(mediaDir, '.download-0123456789abcdef');
    writeFileSync(left, 'half a file');
    utimesSync(left, new Date(Date.now() - 2 * 3_600_000), new Date(Date.now() - 2 * 3_600_000));
    writeFileSync(join(mediaDir, '.download-fedcba9876543210'), 'coming in');
    await purgeMessages(deps(), { olderThanMs: 90 * DAY, dryRun: false, mediaDir });
    expect(readdirSync(mediaDir).sort()).toEqual(['.download-fedcba9876543210', `${hash('d')}.png`, `${hash('e')}.jpg`]);
  });

  it('removes media files older than the cutoff that no record points at (their records purged elsewhere)', async () => {
    const hash = (c: string) => c.repeat(64);
    const old = new Date(NOW.getTime() - 100 * DAY);
    // Given files whose records another host's purge deleted (old), one received since the cutoff (after an older
    // backup was restored, say), one a record points at, and a file lumen did not name
    for (const name of [`${hash('a')}.jpg`, `${hash('b')}.png`, `${hash('c')}.ogg`, 'notes.txt']) writeFileSync(join(mediaDir, name), name);
    for (const name of [`${hash('a')}.jpg`, `${hash('c')}.ogg`, 'notes.txt']) utimesSync(join(mediaDir, name), old, old);
    await ingest('default', daysAgo(1), [message('wa_1', 'w.kept', '15550002', daysAgo(1), 'm-kept')], { enqueueDispatch: false });
    await store.media.markStored('wa_1', 'm-kept', { path: '/elsewhere/media/x.ogg', size: 1, sha256: hash('c'), mimeType: 'audio/ogg' }, daysAgo(1));

    // When a dry run, then a purge, runs
    const plan = await purgeMessages(deps(), { olderThanMs: 90 * DAY, dryRun: true, mediaDir });
    expect(readdirSync(mediaDir)).toHaveLength(4);
    const done = await purgeMessages(deps(), { olderThanMs: 90 * DAY, dryRun: false, mediaDir });

    // Then only the old file nothing points at goes, and both count it
    expect([plan.files, done.files]).toEqual([1, 1]);
    expect(readdirSync(mediaDir).sort()).toEqual([`${hash('b')}.png`, `${hash('c')}.ogg`, 'notes.txt']);
  });

  it('without a workspace (the relay) purges every workspace', async () => {
    await ingest('default', daysAgo(100), [message('wa_1', 'w.a', '1', daysAgo(100))], { enqueueDispatch: false });
    await ingest('other', daysAgo(100), [message('wa_2', 'w.b', '2', daysAgo(100))], { enqueueDispatch: false });
    await ingest('other', daysAgo(1), [message('wa_2', 'w.c', '3', daysAgo(1))], { enqueueDispatch: false });
    const done = await purgeMessages(deps(), { olderThanMs: 90 * DAY, dryRun: false, mediaDir });
    expect(done.inbound).toBe(2);
    expect(await allWamids()).toEqual(['w.c']);
  });

  it('takes ages like 90d, 12w, 36h and 30m, and refuses others with the flag named', () => {
    expect(parseAge('90d', '--older-than')).toBe(90 * DAY);
    expect(parseAge('12w', '--older-than')).toBe(84 * DAY);
    expect(parseAge('36h', '--older-than')).toBe(36 * 3_600_000);
    expect(parseAge('30m', '--older-than')).toBe(1_800_000);
    for (const bad of ['', '90', '0d', '-1d', '3y', 'soon']) expect(() => parseAge(bad, '--older-than')).toThrow(/--older-than takes an age/);
    expect(retentionSetting(undefined)).toBeUndefined();
    expect(retentionSetting('off')).toBeUndefined();
    expect(retentionSetting('90d')).toBe(90 * DAY);
    expect(() => retentionSetting(90)).toThrow(/"retention" setting/);
  });
});

describe('events drop', () => {
  it('is never claimed again, and only an undelivered event can be dropped', async () => {
    const outcome = await ingest('default', daysAgo(0), [message('wa_1', 'w.1', '1', daysAgo(0)), message('wa_1', 'w.2', '1', daysAgo(0))]);
    const [first, second] = outcome.events;
    expect(await store.dispatch.drop(first!, NOW.toISOString())).toBe(true);
    expect(await store.dispatch.drop(first!, NOW.toISOString())).toBe(false);
    const claimed = await store.dispatch.claimDue(new Date(NOW.getTime() + DAY).toISOString(), new Date(NOW.getTime() + 2 * DAY).toISOString(), 10);
    expect(claimed.map((e) => e.id)).toEqual([second]);
    // A failure recorded after the drop (an attempt that was in flight) does not bring it back
    await store.dispatch.markFailed(first!, { target: 'x', status: 500, error: 'late', durationMs: 1, nextAttemptAt: NOW.toISOString() });
    expect((await store.dispatch.find(first!))?.state).toBe('dropped');
    await store.dispatch.markDelivered(second!, { target: 'x', status: 200, durationMs: 1, at: NOW.toISOString() });
    expect(await store.dispatch.drop(second!, NOW.toISOString())).toBe(false);
  });
});

describe('messages export', () => {
  it('writes every message of the workspace oldest first, as RFC 4180 CSV and as NDJSON, with the filters applied', async () => {
    await ingest('default', daysAgo(3), [message('wa_1', 'w.1', '15550001', daysAgo(3))]);
    await ingest('default', daysAgo(2), [message('wa_1', 'w.2', '15550002', daysAgo(2))]);
    await ingest('default', daysAgo(1), [message('wa_1', 'w.3', '15550001', daysAgo(1))]);
    await ingest('other', daysAgo(1), [message('wa_2', 'w.other', '15550001', daysAgo(1))]);
    const formula = { ...message('wa_1', 'w.4', '15550003', daysAgo(0.5)), text: '=HYPERLINK("http://evil.example","Click")', contactName: '@SUM(1)' };
    await ingest('default', daysAgo(0.5), [formula]);
    const ws1 = await workspaceOf('default');
    const collect = async (request: Parameters<typeof exportMessages>[1]) => {
      let text = '';
      const count = await exportMessages({ store }, request, (chunk) => {
        text += chunk;
      });
      return { count, text };
    };

    const csv = await collect({ workspaceId: ws1, format: 'csv' });
    const rows = parse(csv.text, { columns: true }) as Array<Record<string, string>>;
    expect(csv.count).toBe(4);
    expect(rows.map((r) => r.wamid)).toEqual(['w.1', 'w.2', 'w.3', 'w.4']);
    // Commas, quotes and newlines survive the round trip
    expect(rows[0]).toMatchObject({ from: '15550001', contact_name: 'Ana, "the" tester', text: 'text of w.1\nsecond line', type: 'text' });
    // A stranger's formula is shown, never run, by a spreadsheet
    expect(rows[3]).toMatchObject({ text: `'=HYPERLINK("http://evil.example","Click")`, contact_name: "'@SUM(1)" });

    const nd = await collect({ workspaceId: ws1, format: 'ndjson', from: '15550001', since: daysAgo(2.5) });
    const lines = nd.text.trim().split('\n').map((line) => JSON.parse(line));
    expect(nd.count).toBe(1);
    expect(lines).toEqual([expect.objectContaining({ wamid: 'w.3', from: '15550001', raw: { id: 'w.3', secretish: 'raw payload' } })]);
  });
});

async function allWamids(): Promise<string[]> {
  const wamids: string[] = [];
  for await (const i of store.maintenance.interactions({})) wamids.push(i.wamid);
  return wamids.sort();
}
