import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMigrations, openDatabase, type Database } from '../../src/store/db.js';
import { createInboxRepo, dedupeKey } from '../../src/store/repos/inbox.js';
import type { DedupeOptions } from '../../src/store/repos/dedupe-keys.js';
import type { IngestJob, InboxRepo } from '../../src/store/types.js';
import { textJob } from '../helpers/inbox.js';

// A message's dedupe key is written to interaction_keys after the message itself, in sorted batches. These tests
// check that a redelivery is still stored once whenever it arrives: before the fold, during one, after a crash
// that lost the keys in memory, from another connection, and after a failed transaction.

let dir: string;
const open: Database[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lumen-keys-'));
});
afterEach(() => {
  for (const db of open.splice(0)) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

function connect(dedupe: DedupeOptions = {}): { db: Database; inbox: InboxRepo } {
  const db = openDatabase(join(dir, 'lumen.db'));
  open.push(db);
  return { db, inbox: createInboxRepo(db, dedupe) };
}

const fromJob = (from: string, contactName: string | null, timestamp: string, ...wamids: string[]): IngestJob => {
  const built = job(...wamids);
  for (const m of built.messages) Object.assign(m, { from, contactName, timestamp });
  return built;
};

const job = (...wamids: string[]): IngestJob => jobFor('wa_1', ...wamids);

const jobFor = textJob;

const storedCount = async (inbox: InboxRepo, ...wamids: string[]) => (await inbox.ingest([job(...wamids)]))[0]!.stored.length;
const count = (db: Database, table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
const wamids = (n: number, prefix = 'wamid.') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('deferred dedupe keys', () => {
  it('keeps new keys in memory, still refuses redeliveries, and writes them on flush', async () => {
    const { db, inbox } = connect();
    expect(await storedCount(inbox, 'wamid.A', 'wamid.B')).toBe(2);
    expect(count(db, 'interaction_keys')).toBe(0);
    expect(inbox.deferredKeys()).toBe(2);
    expect(await storedCount(inbox, 'wamid.A', 'wamid.B', 'wamid.C')).toBe(1);
    inbox.flushKeys();
    expect(count(db, 'interaction_keys')).toBe(3);
    expect(inbox.deferredKeys()).toBe(0);
    expect(await storedCount(inbox, 'wamid.C')).toBe(0);
    expect(count(db, 'interactions')).toBe(3);
  });

  it('folds in chunks, and a redelivery in the middle of a fold is refused', async () => {
    const { db, inbox } = connect();
    const first = wamids(500);
    expect(await storedCount(inbox, ...first)).toBe(500);
    expect(inbox.foldKeys(200)).toBe(true);
    expect(count(db, 'interaction_keys')).toBe(200);
    // New messages arrive while the fold runs: they wait for the next cycle.
    expect(await storedCount(inbox, ...first, 'wamid.new')).toBe(1);
    expect(inbox.foldKeys(200)).toBe(true);
    expect(inbox.foldKeys(200)).toBe(false);
    expect(count(db, 'interaction_keys')).toBe(500);
    expect(inbox.deferredKeys()).toBe(1);
    expect(inbox.foldKeys(200)).toBe(false);
    expect(count(db, 'interaction_keys')).toBe(501);
    expect(await storedCount(inbox, ...first, 'wamid.new')).toBe(0);
    expect(db.prepare('SELECT through FROM interactions_folded').get()).toEqual({ through: 501 });
  });

  it('after a crash that lost the keys in memory, the next connection folds them from the stored messages', async () => {
    const crashed = connect();
    expect(await storedCount(crashed.inbox, ...wamids(300))).toBe(300);
    expect(crashed.inbox.foldKeys(100)).toBe(true); // part of a fold committed, then the process died
    crashed.db.close();

    const { db, inbox } = connect();
    expect(await storedCount(inbox, ...wamids(300), 'wamid.next')).toBe(1);
    expect(count(db, 'interactions')).toBe(301);
    expect(count(db, 'interaction_keys')).toBe(300);
    expect(count(db, 'interaction_key_overflow')).toBe(0);
  });

  it('two connections writing in turn never store a message twice', async () => {
    const a = connect();
    const b = connect();
    expect(await storedCount(a.inbox, 'wamid.1', 'wamid.2')).toBe(2);
    expect(await storedCount(b.inbox, 'wamid.1', 'wamid.3')).toBe(1);
    expect(await storedCount(a.inbox, 'wamid.3', 'wamid.2', 'wamid.4')).toBe(1);
    a.inbox.flushKeys();
    b.inbox.flushKeys();
    expect(await storedCount(b.inbox, 'wamid.4')).toBe(0);
    expect(count(a.db, 'interactions')).toBe(4);
    expect(count(a.db, 'interaction_keys')).toBe(4);
    expect(count(a.db, 'interaction_key_overflow')).toBe(0);
  });

  it('forgets the keys of a transaction that rolled back', async () => {
    const { db, inbox } = connect();
    expect(await storedCount(inbox, 'wamid.kept')).toBe(1);
    // A status row that cannot be stored fails the whole transaction after its messages were inserted.
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON message_statuses BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
    const failing = job('wamid.lost');
    failing.statuses.push({
      integrationId: 'wa_1',
      wamid: 'wamid.out',
      status: 'delivered',
      recipientId: '15551234567',
      timestamp: '2026-01-01T00:00:00.000Z',
      errorCode: null,
      errorTitle: null,
      errorDetails: null,
      raw: {},
    });
    await expect(inbox.ingest([failing])).rejects.toThrow(/disk full/);
    db.exec('DROP TRIGGER refuse');
    expect(await storedCount(inbox, 'wamid.lost')).toBe(1);
    expect(await storedCount(inbox, 'wamid.kept', 'wamid.lost')).toBe(0);
    inbox.flushKeys();
    expect(count(db, 'interactions')).toBe(2);
    expect(count(db, 'interaction_keys')).toBe(2);
  });

  it('writes keys at once when the folds fall behind', async () => {
    const { db, inbox } = connect();
    // (No fold runs here: the in-memory table fills up to its load limit, 3/4 of 131,072 slots.)
    const many = wamids(105_000);
    for (let i = 0; i < many.length; i += 5_000) await storedCount(inbox, ...many.slice(i, i + 5_000));
    expect(inbox.deferredKeys()).toBe(98_304);
    expect(count(db, 'interaction_keys')).toBe(105_000 - 98_304);
    expect(await storedCount(inbox, many[0]!, many[104_999]!)).toBe(0);
    inbox.flushKeys();
    expect(count(db, 'interaction_keys')).toBe(105_000);
  });

  it('a database written before deferral keeps refusing its stored messages after the upgrade', async () => {
    const path = join(dir, 'lumen.db');
    const old = openDatabase(path, loadMigrations().filter((m) => m.version <= 3));
    old.prepare(
      `INSERT INTO interactions (workspace_id, integration_id, wamid, phone_number_id, from_id, from_kind, type, text, sent_at, received_at, raw)
       VALUES ('ws_1', 'wa_1', 'wamid.old', '106540352242922', '15551234567', 'phone', 'text', 'hi', 'x', 'x', '{}')`,
    ).run();
    old.prepare('INSERT INTO interaction_keys (h, seq) VALUES (?, 1)').run(dedupeKey('wa_1', 'wamid.old'));
    old.close();

    const { db, inbox } = connect();
    expect(db.prepare('SELECT through FROM interactions_folded').get()).toEqual({ through: 1 });
    expect(await storedCount(inbox, 'wamid.old', 'wamid.new')).toBe(1);
  });
});

describe('contacts derived from stored messages', () => {
  const summary = async (inbox: InboxRepo) =>
    (await inbox.listContacts('ws_1')).map((c) => [c.contactId, c.name, c.messages, c.firstSeenAt, c.lastInboundAt]);

  it('are current before and after the fold, and a fold counts each message once', async () => {
    const { db, inbox } = connect();
    await inbox.ingest([fromJob('15550000001', 'Ana', '2026-01-01T10:00:00.000Z', 'wamid.1', 'wamid.2')]);
    await inbox.ingest([fromJob('15550000002', null, '2026-01-01T11:00:00.000Z', 'wamid.3')]);
    expect(count(db, 'contacts')).toBe(0); // not written by the storing transaction
    const before = await summary(inbox);
    expect(before).toEqual([
      ['15550000002', null, 1, '2026-01-01T11:00:00.000Z', '2026-01-01T11:00:00.000Z'],
      ['15550000001', 'Ana', 2, '2026-01-01T10:00:00.000Z', '2026-01-01T10:00:00.000Z'],
    ]);
    expect(await inbox.lastInboundAt('wa_1', '15550000001')).toBe('2026-01-01T10:00:00.000Z');

    inbox.flushKeys();
    expect(count(db, 'contacts')).toBe(2);
    expect(await summary(inbox)).toEqual(before);

    // Later messages: a newer name wins, a missing one does not erase it; stored and unfolded rows add up.
    await inbox.ingest([fromJob('15550000001', 'Ana B.', '2026-01-02T09:00:00.000Z', 'wamid.4')]);
    await inbox.ingest([fromJob('15550000001', null, '2026-01-02T09:30:00.000Z', 'wamid.5')]);
    expect((await summary(inbox))[0]).toEqual(['15550000001', 'Ana B.', 4, '2026-01-01T10:00:00.000Z', '2026-01-02T09:30:00.000Z']);
    expect(await inbox.lastInboundAt('wa_1', '15550000001')).toBe('2026-01-02T09:30:00.000Z');
    expect(await inbox.lastInboundAt('wa_1', '15559999999')).toBeUndefined();
    while (inbox.foldKeys(1)) {
      // one key per transaction: the contacts move with the last chunk only
    }
    expect(await summary(inbox)).toEqual([
      ['15550000001', 'Ana B.', 4, '2026-01-01T10:00:00.000Z', '2026-01-02T09:30:00.000Z'],
      ['15550000002', null, 1, '2026-01-01T11:00:00.000Z', '2026-01-01T11:00:00.000Z'],
    ]);
  });

  it('a crash before the fold loses no contact and counts none twice', async () => {
    const crashed = connect();
    await crashed.inbox.ingest([fromJob('15550000001', 'Ana', '2026-01-01T10:00:00.000Z', 'wamid.1', 'wamid.2')]);
    expect(crashed.inbox.foldKeys(1)).toBe(true); // a chunk committed, the watermark did not move
    crashed.db.close();

    const { db, inbox } = connect();
    await inbox.ingest([fromJob('15550000001', null, '2026-01-01T12:00:00.000Z', 'wamid.2', 'wamid.3')]);
    inbox.flushKeys();
    expect(count(db, 'interactions')).toBe(3);
    expect(await summary(inbox)).toEqual([['15550000001', 'Ana', 3, '2026-01-01T10:00:00.000Z', '2026-01-01T12:00:00.000Z']]);
  });
});

describe('deferred keys and purges, collisions, failures', () => {
  const stale = (db: Database) =>
    count(db, 'interaction_keys k WHERE NOT EXISTS (SELECT 1 FROM interactions i WHERE i.seq = k.seq)');
  const duplicates = (db: Database) =>
    db.prepare('SELECT integration_id, wamid, COUNT(*) AS n FROM interactions GROUP BY 1, 2 HAVING n > 1').all();

  it('a purge by another process while the relay holds keys in memory leaves no stale key and no duplicate', async () => {
    const relay = connect();
    await relay.inbox.ingest([jobFor('wa_a', 'wamid.A1', 'wamid.A2'), jobFor('wa_b', 'wamid.B1')]);
    const cli = connect();
    expect(await cli.inbox.purgeIntegration('wa_b')).toBe(1);
    expect((await relay.inbox.ingest([jobFor('wa_a', 'wamid.A1', 'wamid.A3'), jobFor('wa_b', 'wamid.B1')]))[0]!.stored).toHaveLength(1);
    relay.inbox.flushKeys();
    expect(duplicates(relay.db)).toEqual([]);
    expect(stale(relay.db)).toBe(0);
    expect(count(relay.db, 'interactions')).toBe(4);
    expect(count(relay.db, 'interaction_keys')).toBe(4);
  });

  it('a purge that hands a colliding key to another message keeps that message deduplicated', async () => {
    const everyKeyCollides = { keyOf: () => 7 };
    const relay = connect(everyKeyCollides);
    await relay.inbox.ingest([jobFor('wa_b', 'wamid.B')]);
    await relay.inbox.ingest([jobFor('wa_a', 'wamid.A')]); // the key is taken: recorded as a collision
    await connect(everyKeyCollides).inbox.purgeIntegration('wa_b');
    expect((await relay.inbox.ingest([jobFor('wa_a', 'wamid.A')]))[0]!.stored).toHaveLength(0);
    expect((await relay.inbox.ingest([jobFor('wa_b', 'wamid.B')]))[0]!.stored).toHaveLength(1);
    expect(duplicates(relay.db)).toEqual([]);
  });

  it('finds stored keys through a filter that has grown many times', async () => {
    const { db, inbox } = connect({ minFilterBits: 64 });
    const many = wamids(300);
    inbox.flushKeys(); // the filter starts empty and small
    for (let i = 0; i < many.length; i += 10) await storedCount(inbox, ...many.slice(i, i + 10));
    inbox.flushKeys(); // every key is in the table only: a redelivery must get past the filters to the lookup
    expect(await storedCount(inbox, ...many)).toBe(0);
    expect(count(db, 'interactions')).toBe(300);
  });

  // Two connections take turns storing (some transactions fail), folding (some folds fail), flushing, crashing
  // and purging, with a key function of 16 values so that nearly every key collides. After every step no message
  // is stored twice and contacts count every stored message once; at the end every message has its key.
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`stays consistent through random interleavings (seed ${seed})`, async () => {
      let state = seed;
      const random = () => {
        state = (state * 1103515245 + 12345) & 0x7fffffff;
        return state / 0x80000000;
      };
      const options: DedupeOptions = { keyOf: (i, w) => (i.length * 31 + w.length * 7 + w.charCodeAt(w.length - 1)) % 16, minFilterBits: 64 };
      const conns = [connect(options), connect(options)];
      const steps: string[] = [];
      for (let step = 0; step < 300; step++) {
        const which = random() < 0.5 ? 0 : 1;
        const c = conns[which]!;
        const roll = random();
        try {
          if (roll < 0.6) {
            const batch = Array.from({ length: 1 + Math.floor(random() * 6) }, () => [random() < 0.5 ? 'wa_a' : 'wa_b', `wamid.${Math.floor(random() * 80)}`] as const);
            const fail = random() < 0.05;
            if (fail) c.db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON interactions WHEN NEW.wamid = '${batch.at(-1)![1]}' BEGIN SELECT RAISE(ABORT, 'refused'); END`);
            steps.push(`${which} store ${batch.map((m) => m.join(':')).join(' ')}${fail ? ' (fails)' : ''}`);
            const jobs = ['wa_a', 'wa_b'].map((id) => jobFor(id, ...batch.filter(([i]) => i === id).map(([, w]) => w)));
            try {
              await c.inbox.ingest(jobs);
            } catch {
              // the refused transaction
            } finally {
              c.db.exec('DROP TRIGGER IF EXISTS refuse');
            }
          } else if (roll < 0.78) {
            const fail = random() < 0.15;
            if (fail) c.db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON interaction_keys WHEN (SELECT COUNT(*) FROM interaction_keys) % 3 = 2 BEGIN SELECT RAISE(ABORT, 'refused'); END`);
            steps.push(`${which} fold${fail ? ' (may fail)' : ''}`);
            try {
              c.inbox.foldKeys(1 + Math.floor(random() * 5));
            } catch {
              // the refused fold
            } finally {
              c.db.exec('DROP TRIGGER IF EXISTS refuse');
            }
          } else if (roll < 0.85) {
            steps.push(`${which} flush`);
            c.inbox.flushKeys();
          } else if (roll < 0.93) {
            steps.push(`${which} crash`);
            c.db.close();
            conns[which] = connect(options);
          } else if (roll < 0.96) {
            const id = random() < 0.5 ? 'wa_a' : 'wa_b';
            steps.push(`${which} purge ${id}`);
            await c.inbox.purgeIntegration(id);
          }
        } catch (error) {
          throw new Error(`${(error as Error).message}\n${steps.join('\n')}`);
        }
        const db = conns[which]!.db;
        expect(duplicates(db), steps.join('\n')).toEqual([]);
        const contacts = await conns[which]!.inbox.listContacts('ws_1');
        expect(contacts.reduce((n, c) => n + c.messages, 0), steps.join('\n')).toBe(count(db, 'interactions'));
      }
      for (const c of conns) c.inbox.flushKeys();
      const { db } = conns[0]!;
      const keyless = count(
        db,
        'interactions i WHERE NOT EXISTS (SELECT 1 FROM interaction_keys k WHERE k.seq = i.seq) AND NOT EXISTS (SELECT 1 FROM interaction_key_overflow o WHERE o.seq = i.seq)',
      );
      expect(keyless, steps.join('\n')).toBe(0);
      expect(stale(db), steps.join('\n')).toBe(0);
      expect((db.prepare('SELECT COALESCE(SUM(messages), 0) AS n FROM contacts').get() as { n: number }).n).toBe(count(db, 'interactions'));
    });
  }
});
