import { chmodSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type BetterSqlite3 from 'better-sqlite3';
import { UserError } from '../errors.js';

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
    // Only takes effect while the file is new (before WAL mode and the first table). The relay's folds of dedupe keys
    // land on random pages, and each dirtied page goes to the WAL whole: 2 KiB pages halve those bytes (measured:
    // less WAL and checkpoint work than 4 KiB, and no slower to append messages).
    db.pragma('page_size = 2048');
    // 4 MiB of page cache instead of the 16 MiB better-sqlite3 sets: the relay's lookups go through an in-memory
    // filter first (repos/dedupe-keys.ts), and the rest of its pages are hot (measured: same CPU per delivery,
    // about 8 MiB less resident under load).
    db.pragma('cache_size = -4096');
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
      cause: error,
    });
  }
  return error;
}

/**
 * Moves WAL checkpoints off the main thread: turns off automatic checkpoints on `db` (they would run inside a
 * commit, fsync included) and runs them from a worker thread instead. Returns a function that stops the worker
 * and restores automatic checkpoints. Falls back to automatic checkpoints if the worker cannot start.
 */
export async function startBackgroundCheckpoints(
  db: Database,
  path: string,
  intervalMs = 250,
  maxWalBytes = 64 * 1024 * 1024,
  // Each PASSIVE checkpoint copies every page dirtied since the last one; under random-key writes most hot pages are
  // dirtied again within a second, so a 1 s cadence copies far fewer pages than every 250 ms (measured: lower CPU).
  // The WAL bound is still checked every intervalMs.
  passiveIntervalMs = 1000,
): Promise<() => Promise<void>> {
  const { Worker } = await import('node:worker_threads');
  let worker: InstanceType<typeof Worker>;
  try {
    worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), {
      workerData: { path, intervalMs, maxWalBytes, passiveIntervalMs },
    });
  } catch {
    return async () => {};
  }
  db.pragma('wal_autocheckpoint = 0');
  worker.on('error', () => db.pragma('wal_autocheckpoint = 1000'));
  worker.unref();
  // Started means running: the caller may rely on the thread being up (V8 flags, for one, are reset as it starts).
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5000);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    worker.once('online', done);
    worker.once('error', done);
    worker.once('exit', done);
  });
  return async () => {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      worker.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.postMessage('stop');
    });
    await worker.terminate();
    db.pragma('wal_autocheckpoint = 1000');
  };
}
