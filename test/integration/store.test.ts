import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMigrations, openDatabase } from '../../src/store/db.js';
import { openStore } from '../../src/store/index.js';
import { createInboxRepo } from '../../src/store/repos/inbox.js';
import type { IngestJob } from '../../src/store/types.js';
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

  it('keeps Meta\'s webhook-level errors', async () => {
    const store = openStore(join(dir, 'lumen.db'));
    const job: IngestJob = {
      ...textJob('wa_1'),
      errors: [{ integrationId: 'wa_1', phoneNumberId: '106540352242922', code: 131051, title: 'Unsupported message type', message: null, details: 'Message type is not currently supported', raw: { code: 131051 } }],
    };
    expect((await store.inbox.ingest([job]))[0]!.errorsStored).toBe(1);
    expect(await store.inbox.listWebhookErrors('ws_1', 10)).toMatchObject([{ code: 131051, title: 'Unsupported message type', integrationId: 'wa_1' }]);
    store.close();
  });
});
