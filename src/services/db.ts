/**
 * `lumen db status` and `lumen db migrate`: which backend holds the state, where (the file, or the URL without its
 * password), its schema version against the latest this lumen knows, and what is pending. Every command migrates at
 * open anyway; `db migrate` does it on purpose (before starting relays on several hosts, say) and reports it.
 */
import { loadMigrations, openDatabase, sqliteSchemaVersion, type Migration } from '../store/db.js';
import type { StoreLocation } from '../store/index.js';

export interface DatabaseStatus {
  backend: 'sqlite' | 'postgres';
  /** The SQLite file, or the PostgreSQL URL with any password replaced. */
  where: string;
  version: number;
  latest: number;
  pending: Array<{ version: number; name: string }>;
}

export interface MigrationReport extends DatabaseStatus {
  applied: Array<{ version: number; name: string }>;
}

const named = (m: Migration) => ({ version: m.version, name: m.name });

export async function databaseStatus(location: StoreLocation): Promise<DatabaseStatus> {
  if (location.databaseUrl) {
    const { openPgDatabase, pgSchemaStatus } = await import('../store/pg/db.js');
    const db = await openPgDatabase(location.databaseUrl, { max: 1, migrate: false });
    try {
      const status = await pgSchemaStatus(db);
      return { backend: 'postgres', where: db.where, version: status.version, latest: status.latest, pending: status.pending.map(named) };
    } finally {
      await db.close();
    }
  }
  const migrations = loadMigrations();
  const version = sqliteSchemaVersion(location.databasePath);
  return {
    backend: 'sqlite',
    where: location.databasePath,
    version,
    latest: migrations.at(-1)?.version ?? 0,
    pending: migrations.filter((m) => m.version > version).map(named),
  };
}

export async function migrateDatabase(location: StoreLocation): Promise<MigrationReport> {
  let applied: Migration[];
  if (location.databaseUrl) {
    const { migratePg, openPgDatabase } = await import('../store/pg/db.js');
    const db = await openPgDatabase(location.databaseUrl, { max: 1, migrate: false });
    try {
      applied = await migratePg(db);
    } finally {
      await db.close();
    }
  } else {
    const before = sqliteSchemaVersion(location.databasePath);
    openDatabase(location.databasePath).close(); // SQLite migrates at open
    applied = loadMigrations().filter((m) => m.version > before);
  }
  return { ...(await databaseStatus(location)), applied: applied.map(named) };
}
