import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMigrations } from '../../src/store/db.js';
import { openStore } from '../../src/store/index.js';
import { makeHome, type LumenHome } from '../helpers/home.js';
import { textJob } from '../helpers/inbox.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MIGRATIONS = join(ROOT, 'src', 'store', 'migrations');
const SCHEMAS = join(ROOT, 'test', 'fixtures', 'schemas');
const LANDED = join(ROOT, 'test', 'fixtures', 'landed-migrations.sha256');

let home: LumenHome;
let dir: string;
beforeEach(() => {
  home = makeHome();
  dir = home.dir;
});
afterEach(() => home.cleanup());

describe('landed migrations', () => {
  it.each([
    ['SQLite', LANDED, MIGRATIONS],
    ['PostgreSQL', join(ROOT, 'test', 'fixtures', 'landed-pg-migrations.sha256'), join(ROOT, 'src', 'store', 'pg', 'migrations')],
  ])('are never edited (%s): each file still has the hash it landed with (add a new migration instead)', (_name, hashes, dir) => {
    const landed = readFileSync(hashes, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(/\s+/) as [string, string]);
    for (const [hash, file] of landed) {
      const now = createHash('sha256').update(readFileSync(join(dir, file))).digest('hex');
      expect({ file, hash: now }).toEqual({ file, hash });
    }
    // Every migration that exists is recorded, so the next session's edit of it is caught too.
    expect(loadMigrations(dir).map((m) => `${String(m.version).padStart(3, '0')}_${m.name}.sql`)).toEqual(landed.map(([, f]) => f));
  });
});

/** Builds a database as an earlier commit did: its migration files in order, user_version after each. */
function databaseOf(commit: string, path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  for (const file of readdirSync(join(SCHEMAS, commit)).filter((f) => f.endsWith('.sql')).sort()) {
    db.exec(readFileSync(join(SCHEMAS, commit, file), 'utf8'));
    db.pragma(`user_version = ${Number(file.slice(0, 3))}`);
  }
  return db;
}

const columnsOf = (db: Database.Database, table: string) =>
  (db.prepare('SELECT name FROM pragma_table_info(?)').all(table) as Array<{ name: string }>).map((c) => c.name);

/** A row for whatever shape that commit's interactions table had. */
function insertInteraction(db: Database.Database, wamid: string, from: string): boolean {
  const columns = columnsOf(db, 'interactions');
  const row: Record<string, unknown> = {
    id: `in_${wamid}`,
    workspace_id: 'ws_1',
    integration_id: 'wa_1',
    channel: 'whatsapp',
    wamid,
    phone_number_id: '106540352242922',
    from_id: from,
    from_kind: 'phone',
    contact_name: 'Ana',
    type: 'text',
    text: 'hi',
    sent_at: '2026-01-01T00:00:00.000Z',
    received_at: '2026-01-01T00:00:01.000Z',
    raw: '{}',
  };
  const present = Object.keys(row).filter((c) => columns.includes(c));
  try {
    db.prepare(`INSERT INTO interactions (${present.join(', ')}) VALUES (${present.map((c) => `@${c}`).join(', ')})`).run(
      Object.fromEntries(present.map((c) => [c, row[c]])),
    );
    return true;
  } catch {
    return false; // that schema's UNIQUE constraint refused the duplicate
  }
}

describe('databases made by earlier commits', () => {
  const commits = readdirSync(SCHEMAS).filter((name) => !name.includes('.'));

  it.each(commits)('one made at %s opens, migrates and works', async (commit) => {
    // Given a database that commit made, with messages in it (and a duplicate where its schema let one in)
    const path = join(dir, 'lumen.db');
    const old = databaseOf(commit, path);
    old.prepare("INSERT INTO workspaces (id, name, created_at) VALUES ('ws_1', 'default', 'then')").run();
    const hasInteractions = columnsOf(old, 'interactions').length > 0;
    // From 005 on, lumen writes a sender's contacts row with each message; before it, migration 005 derives them.
    const contactsDerived = (old.pragma('user_version', { simple: true }) as number) < 5;
    let rows = 0;
    if (hasInteractions) {
      for (const [wamid, from] of [['wamid.A', '15550000001'], ['wamid.B', '15550000002'], ['wamid.A', '15550000001']] as const) {
        if (insertInteraction(old, wamid, from)) rows += 1;
      }
    }
    old.close();

    // When today's lumen opens it
    const store = openStore(path);
    try {
      const db = new Database(path, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(loadMigrations(MIGRATIONS).at(-1)!.version);
      // The indexes today's queries rely on are there, however the database began
      const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").pluck().all();
      expect(indexes).toEqual(expect.arrayContaining(['interactions_by_wamid', 'interactions_by_sender']));
      if (hasInteractions) {
        // Then each message is there once, and the contacts count them once
        const stored = db.prepare('SELECT wamid, COUNT(*) AS n FROM interactions GROUP BY wamid ORDER BY wamid').all();
        expect(stored).toEqual([
          { wamid: 'wamid.A', n: 1 },
          { wamid: 'wamid.B', n: 1 },
        ]);
        expect(rows).toBeGreaterThanOrEqual(2);
        if (contactsDerived) expect(db.prepare('SELECT SUM(messages) AS n FROM contacts').get()).toEqual({ n: 2 });
      }
      db.close();
      // And it stores new messages once, redeliveries not again
      const [first] = await store.inbox.ingest([textJob('wa_1', 'wamid.C', 'wamid.A')]);
      expect(first!.stored.map((i) => i.wamid)).toEqual(hasInteractions ? ['wamid.C'] : ['wamid.C', 'wamid.A']);
      const [again] = await store.inbox.ingest([textJob('wa_1', 'wamid.C')]);
      expect(again!.duplicates).toBe(1);
    } finally {
      store.close();
    }
  });
});
