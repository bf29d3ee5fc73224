import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMigrations, openDatabase } from '../../src/store/db.js';
import { openStore } from '../../src/store/index.js';
import { createInboxRepo, listInteractionsSql } from '../../src/store/repos/inbox.js';
import type { Integration } from '../../src/store/types.js';
import { makeHome, type LumenHome } from '../helpers/home.js';
import { textJob } from '../helpers/inbox.js';

const MIGRATIONS = join(import.meta.dirname, '..', '..', 'src', 'store', 'migrations');

let home: LumenHome;
let dir: string;
beforeEach(() => {
  home = makeHome();
  dir = home.dir;
});
afterEach(() => home.cleanup());

describe('database', () => {
  it('opens in WAL mode and applies every migration once', () => {
    const path = join(dir, 'lumen.db');
    const migrations = loadMigrations(MIGRATIONS);
    openDatabase(path, migrations).close();
    const db = openDatabase(path, migrations); // second open: nothing to apply
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(migrations.at(-1)!.version);
    db.close();
  });

  it('refuses a database written by a newer lumen, without touching it', () => {
    const path = join(dir, 'lumen.db');
    const raw = new Database(path);
    raw.pragma('user_version = 999');
    raw.close();
    expect(() => openDatabase(path, loadMigrations(MIGRATIONS))).toThrow(/newer lumen/);
    const check = new Database(path);
    expect(check.pragma('user_version', { simple: true })).toBe(999);
    check.close();
  });

  it('reports a corrupt file as a damaged database', () => {
    const path = join(dir, 'lumen.db');
    writeFileSync(path, 'this is not sqlite at all, just some text long enough to have a header'.repeat(20));
    expect(() => openDatabase(path, loadMigrations(MIGRATIONS))).toThrow(/damaged or is not a lumen database/);
  });
});

function integration(workspaceId: string): Integration {
  return {
    id: 'wa_1', workspaceId, channel: 'whatsapp', label: 'Care line', phoneNumberId: '106540352242922',
    wabaId: '102290129340398', displayPhoneNumber: null, verifiedName: null, qualityRating: null,
    verifyTokenHash: 'sha256:00', secretStore: 'file', secretRef: 'wa_1.aa', publicUrl: null, appSubscribed: true,
    templatesSyncedAt: null, createdAt: 'now', updatedAt: 'now',
  };
}

// SQLite's own: one marker read serves a turn of the event loop (PostgreSQL reads it per call; the contract covers both).
describe('change marker', () => {
  it('moves the change marker for its own writes at once and for another connection\'s by the next turn', async () => {
    const store = openStore(join(dir, 'lumen.db'));
    const other = openStore(join(dir, 'lumen.db'));
    const ws = await store.workspaces.ensure('default', 'now');
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    const before = await store.integrations.changeMarker();

    // Given a marker read in this turn, when this connection writes an integration, the next read in the same turn
    // already shows it.
    await store.integrations.saveWithTemplates(integration(ws.id), []);
    const afterOwn = await store.integrations.changeMarker();
    expect(afterOwn).toBeGreaterThan(before);
    await store.integrations.setVerifyTokenHash('wa_1', 'sha256:11', 'now');
    expect(await store.integrations.changeMarker()).toBeGreaterThan(afterOwn);

    // When another connection (another process) writes, a request in a later turn sees it.
    const seen = await store.integrations.changeMarker();
    await nextTurn();
    await other.integrations.delete('wa_1');
    await nextTurn();
    expect(await store.integrations.changeMarker()).toBeGreaterThan(seen);
    await other.close();
    await store.close();
  });
});

describe('schema', () => {
  it('has no column that could hold a secret', () => {
    const db = openDatabase(join(dir, 'lumen.db'), loadMigrations(MIGRATIONS));
    const columns = (db.prepare('SELECT name FROM pragma_table_info(?)').all('integrations') as Array<{ name: string }>).map(
      (c) => c.name,
    );
    expect(columns.filter((c) => /token(?!_hash)|secret(?!_store|_ref)|password/.test(c))).toEqual([]);
    db.close();
  });
});

describe('inbox', () => {
  it('stores a wamid once per integration, by the schema: a second connection cannot store it again', async () => {
    const path = join(dir, 'lumen.db');
    const first = createInboxRepo(openDatabase(path));
    const second = createInboxRepo(openDatabase(path));
    expect((await first.ingest([textJob('wa_a', 'wamid.A')]))[0]!.stored).toHaveLength(1);
    expect((await second.ingest([textJob('wa_a', 'wamid.A')]))[0]!.duplicates).toBe(1);
    // The same wamid for another number is another message.
    expect((await second.ingest([textJob('wa_b', 'wamid.A')]))[0]!.stored).toHaveLength(1);
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM interactions').get()).toEqual({ n: 2 });
    // Contacts are written with the message: counted once each, readable at once.
    expect(db.prepare('SELECT integration_id, messages FROM contacts ORDER BY integration_id').all()).toEqual([
      { integration_id: 'wa_a', messages: 1 },
      { integration_id: 'wa_b', messages: 1 },
    ]);
    db.close();
    expect(await first.lastInboundAt('wa_a', '15551234567')).toBe('2026-01-01T00:00:00.000Z');
  });
});

describe('query plans', () => {
  it('lists messages along an index, never sorting every stored message: plain, --since, --from and both', () => {
    const db = openDatabase(join(dir, 'lumen.db'));
    for (const filter of [{}, { since: 'x' }, { from: 'x' }, { from: 'x', since: 'x' }]) {
      const plan = db
        .prepare(`EXPLAIN QUERY PLAN ${listInteractionsSql(filter)}`)
        .all({ workspaceId: 'ws', from: 'x', since: 'x', limit: 20 })
        .map((row) => (row as { detail: string }).detail)
        .join(' | ');
      expect(plan, JSON.stringify(filter)).toMatch(/^SEARCH interactions USING INDEX interactions_by_(time|sender) \(workspace_id=\?/);
      expect(plan, JSON.stringify(filter)).not.toContain('TEMP B-TREE');
    }
    db.close();
  });
});

describe('relay lease', () => {
  const alive = (pids: number[]) => (pid: number) => pids.includes(pid);
  /** 10:00 plus `seconds`, as the store is given times. */
  const at = (seconds: number) => new Date(Date.UTC(2026, 11, 3, 10, 0, seconds)).toISOString();
  const a = { holder: 'relay-a', pid: 101, host: 'here' };
  const b = { holder: 'relay-b', pid: 102, host: 'here' };

  it('has one holder at a time: a second relay is refused while the first lives and its lease runs', async () => {
    // Given two stores on one file (two processes), and relay A holding the lease until 10:00:30
    const first = openStore(join(dir, 'lumen.db'));
    const second = openStore(join(dir, 'lumen.db'));
    try {
      expect(await first.relayLease!.take(a, at(0), at(30), alive([101, 102]))).toEqual({ taken: true });
      // When B tries while A's process runs, then A renews
      expect(await second.relayLease!.take(b, at(1), at(31), alive([101, 102]))).toEqual({
        taken: false,
        current: a,
      });
      expect(await first.relayLease!.renew(a.holder, at(40))).toBe(true);
      // Then B still may not take it before the renewed lease runs out, and may once A released it
      expect((await second.relayLease!.take(b, at(35), at(65), alive([101, 102]))).taken).toBe(false);
      await first.relayLease!.release(a.holder);
      expect(await second.relayLease!.take(b, at(36), at(66), alive([101, 102]))).toEqual({ taken: true });
      // and A, no longer the holder, cannot renew or release B's lease
      expect(await first.relayLease!.renew(a.holder, at(120))).toBe(false);
      await first.relayLease!.release(a.holder);
      expect((await first.relayLease!.take(a, at(37), at(67), alive([101, 102]))).taken).toBe(false);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('is taken over at once from a killed holder on this host, and after its lease ran out from one elsewhere', async () => {
    const store = openStore(join(dir, 'lumen.db'));
    try {
      // Given A holding the lease, then killed (its pid no longer runs): B takes it over without waiting
      await store.relayLease!.take(a, at(0), at(30), alive([101]));
      expect(await store.relayLease!.take(b, at(1), at(31), alive([102]))).toEqual({ taken: true });
      expect(await store.relayLease!.renew(a.holder, at(40))).toBe(false);
      // A holder on another host: its pid means nothing here, so only its lease running out frees it
      const far = { holder: 'relay-c', pid: 999, host: 'elsewhere' };
      await store.relayLease!.release(b.holder);
      await store.relayLease!.take(far, at(60), at(90), alive([]));
      expect((await store.relayLease!.take(a, at(70), at(100), alive([]))).taken).toBe(false);
      expect((await store.relayLease!.take(a, at(91), at(121), alive([]))).taken).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('tells the relay holding it when another took it over, and refuses a second relay in the same process', async () => {
    const store = openStore(join(dir, 'lumen.db'));
    const { holdRelayLease } = await import('../../src/relay/lease.js');
    try {
      // Given a relay holding the lease (renewed every 20 ms here)
      const held = await holdRelayLease(store.relayLease!, () => new Date(), 60);
      await expect(holdRelayLease(store.relayLease!, () => new Date())).rejects.toMatchObject({ code: 'relay_running' });
      // When another holder takes it over (as one would after this relay stalled past its lease)
      const db = new Database(join(dir, 'lumen.db'));
      db.prepare("UPDATE relay_lease SET holder = 'someone-else'").run();
      db.close();
      // Then the next renewal finds it lost
      await held.lost;
      await held.release();
      expect(await store.relayLease!.renew('someone-else', new Date().toISOString())).toBe(true);
    } finally {
      await store.close();
    }
  });
});
