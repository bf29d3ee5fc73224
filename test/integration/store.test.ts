import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMigrations, openDatabase } from '../../src/store/db.js';
import { openStore } from '../../src/store/index.js';
import { createInboxRepo } from '../../src/store/repos/inbox.js';
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
