import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type BetterSqlite3 from 'better-sqlite3';
import { UserError } from '../errors.js';
import { describeSystemFault } from './faults.js';

export type Database = BetterSqlite3.Database;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Numbered `NNN_name.sql` files, in order. Landed migrations are never edited; add a new one. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .map((file) => /^(\d+)_([\w-]+)\.sql$/.exec(file))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({
      version: Number(match[1]),
      name: match[2]!,
      sql: readFileSync(join(dir, match[0]), 'utf8'),
    }))
    .sort((a, b) => a.version - b.version);
}

/** Opens (creating if needed) the database, sets pragmas and applies pending migrations. */
export function openDatabase(path: string, migrations: Migration[] = loadMigrations()): Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // better-sqlite3 is CommonJS and native: load it only in commands that touch storage.
  const require = createRequire(import.meta.url);
  const Sqlite = require('better-sqlite3') as typeof BetterSqlite3;
  let db: Database | undefined;
  try {
    db = new Sqlite(path);
    // Stored messages are private: owner-only, like the secrets file (SQLite gives -wal/-shm the same mode).
    try {
      chmodSync(path, 0o600);
    } catch {
      // Not our file to change (e.g. another owner): leave its mode alone.
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    // After a checkpoint resets the log, keep at most this much of its file on disk.
    db.pragma('journal_size_limit = 67108864');
    migrate(db, migrations, path);
    return db;
  } catch (error) {
    db?.close();
    throw asStoreError(error, path);
  }
}

function migrate(db: Database, migrations: Migration[], path: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  repairEarlierSchemas(db, current);
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new UserError(`The database ${path} was written by a newer lumen (schema ${current}, this one knows ${latest}).`, {
      code: 'database_too_new',
      hint: 'Upgrade lumen, or point LUMEN_HOME somewhere else.',
    });
  }
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    })();
  }
}

/**
 * Databases made by earlier commits whose migration files changed before they landed carry a schema the landed
 * files do not describe. Bring each known variant to the shape the landed files give its version, so that every
 * database an earlier commit made migrates; landed files stay as they are.
 */
function repairEarlierSchemas(db: Database, version: number): void {
  if (version < 2) return;
  const columns = db
    .prepare<[], { name: string }>("SELECT name FROM pragma_table_info('interactions')")
    .all()
    .map((c) => c.name);
  if (columns.length === 0) return;
  if (!columns.includes('seq')) {
    // The first relay schema: text interaction ids, events with their own ids. Ids become sequence numbers.
    db.transaction(() => {
      db.exec(`
        ALTER TABLE interactions RENAME TO interactions_text_ids;
        ALTER TABLE dispatch_events RENAME TO dispatch_events_text_ids;
        DROP INDEX IF EXISTS interactions_by_time;
        DROP INDEX IF EXISTS interactions_by_sender;
        DROP INDEX IF EXISTS dispatch_events_due;
        CREATE TABLE interactions (
          seq INTEGER PRIMARY KEY AUTOINCREMENT, workspace_id TEXT NOT NULL, integration_id TEXT NOT NULL,
          channel TEXT NOT NULL DEFAULT 'whatsapp', wamid TEXT NOT NULL, phone_number_id TEXT NOT NULL,
          from_id TEXT NOT NULL, from_kind TEXT NOT NULL, contact_name TEXT, type TEXT NOT NULL, text TEXT NOT NULL,
          media_id TEXT, reply_to TEXT, sent_at TEXT NOT NULL, received_at TEXT NOT NULL, raw TEXT NOT NULL);
        INSERT INTO interactions (workspace_id, integration_id, channel, wamid, phone_number_id, from_id, from_kind,
            contact_name, type, text, media_id, reply_to, sent_at, received_at, raw)
          SELECT workspace_id, integration_id, channel, wamid, phone_number_id, from_id, from_kind, contact_name, type,
                 text, media_id, reply_to, sent_at, received_at, raw
            FROM interactions_text_ids ORDER BY received_at, rowid;
        CREATE TABLE dispatch_events (
          interaction_seq INTEGER PRIMARY KEY, workspace_id TEXT NOT NULL, state TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL, last_target TEXT, last_status INTEGER,
          last_error TEXT, last_duration_ms INTEGER, created_at TEXT NOT NULL, delivered_at TEXT);
        INSERT INTO dispatch_events (interaction_seq, workspace_id, state, attempts, next_attempt_at, last_target,
            last_status, last_error, last_duration_ms, created_at, delivered_at)
          SELECT n.seq, e.workspace_id, e.state, e.attempts, e.next_attempt_at, e.last_target, e.last_status,
                 e.last_error, e.last_duration_ms, e.created_at, e.delivered_at
            FROM dispatch_events_text_ids e
            JOIN interactions_text_ids o ON o.id = e.interaction_id
            JOIN interactions n ON n.integration_id = o.integration_id AND n.wamid = o.wamid;
        CREATE INDEX dispatch_events_due ON dispatch_events (next_attempt_at) WHERE state != 'delivered';
        DROP TABLE dispatch_events_text_ids;
        DROP TABLE interactions_text_ids;`);
    })();
    return;
  }
  if (version >= 4 && !columns.includes('user_id')) {
    // Made while migration 004 was being written: version 4 without the column 005 reads.
    db.exec('ALTER TABLE interactions ADD COLUMN user_id TEXT');
  }
}

function asStoreError(error: unknown, path: string): unknown {
  if (error instanceof UserError) return error;
  const code = (error as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new UserError(`The database ${path} is damaged or is not a lumen database.`, {
      code: 'database_corrupt',
      hint: 'Move it aside (lumen then starts a new one) or restore it from a backup.',
      cause: error,
    });
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'EACCES') {
    return new UserError(`Cannot open the database ${path}.`, {
      code: 'database_unavailable',
      hint: 'Check that the folder exists and is writable, or set LUMEN_HOME.',
      kind: 'unavailable',
      cause: error,
    });
  }
  const fault = describeSystemFault(error);
  if (fault) return new UserError(fault.message, { code: fault.code, hint: fault.hint, kind: 'unavailable', cause: error });
  return error;
}

/** The schema version of the SQLite file at `path`, read without changing it (0 when there is no file yet). */
export function sqliteSchemaVersion(path: string): number {
  if (!existsSync(path)) return 0;
  const require = createRequire(import.meta.url);
  const Sqlite = require('better-sqlite3') as typeof BetterSqlite3;
  let db: Database | undefined;
  try {
    db = new Sqlite(path, { readonly: true, fileMustExist: true });
    return db.pragma('user_version', { simple: true }) as number;
  } catch (error) {
    throw asStoreError(error, path);
  } finally {
    db?.close();
  }
}
