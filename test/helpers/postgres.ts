/**
 * A real PostgreSQL server for the tests, started once per `vitest run` (test/global-postgres.ts) in a temporary data
 * directory from Debian's `postgresql` package, listening on 127.0.0.1 only. Each test file takes a fresh database of
 * its own with `freshDatabase()`. Where the server binaries are absent, `postgres.skip` says why and the tests skip.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** A private server a test can stop and start (the run's shared one must stay up for the other files). */
export { startPostgresServer, type PostgresServer } from '../../scripts/postgres-server.mjs';

export interface PostgresAvailability {
  /** A superuser URL of the test server (database "postgres"), or null. */
  url: string | null;
  /** Why the PostgreSQL tests skip, when they do. */
  skip: string | false;
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string | null;
    postgresSkip: string;
  }
}

export function postgres(): PostgresAvailability {
  const url = inject('postgresUrl');
  return { url, skip: url ? false : `PostgreSQL tests skipped: ${inject('postgresSkip') || 'no server'}` };
}

/**
 * A new, empty database on the test server (or on `serverUrl`, a private one's superuser URL); `drop()` removes it
 * (waiting for no one).
 */
export async function freshDatabase(prefix = 'lumen_t', serverUrl?: string): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const url = serverUrl ?? postgres().url;
  if (!url) throw new Error('freshDatabase() needs the test PostgreSQL server (check postgres().skip first)');
  const { default: pg } = await import('pg');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const dbUrl = new URL(url);
  dbUrl.pathname = `/${name}`;
  return {
    url: dbUrl.toString(),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Why a test that needs the whole Store on PostgreSQL cannot run yet (some repository is still a stub that throws
 * "not yet on PostgreSQL"), or false.
 */
export async function pgRepositoriesMissing(): Promise<string | false> {
  const { pgStore } = await import('../../src/store/pg/index.js');
  try {
    pgStore({} as never);
    return false;
  } catch (error) {
    const message = (error as Error).message;
    return /not yet on PostgreSQL/.test(message) ? `the PostgreSQL repositories are not all written yet (${message})` : false;
  }
}
