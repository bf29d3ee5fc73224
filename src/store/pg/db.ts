/**
 * The PostgreSQL side of the store: a connection pool, its migrations (tracked in `lumen_migrations`, applied at open
 * under an advisory lock so two hosts starting at once migrate once) and one-line errors for what goes wrong with a
 * server (a wrong URL, a refused connection, a password, missing privileges). `pg` is loaded only here.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { UserError } from '../../errors.js';
import { loadMigrations, type Migration } from '../db.js';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
/** The advisory lock key that serialises migrations across hosts ("lumen" in ASCII). */
const MIGRATION_LOCK = 0x6c756d656e;

export interface PgQueryable {
  query<T extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<{ rows: T[]; rowCount: number | null }>;
}

export interface PgDatabase {
  pool: Pool;
  /** Rows of one statement. */
  all<T extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  /** The first row of one statement, or undefined. */
  get<T extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<T | undefined>;
  /** Runs one statement; the number of rows it touched. */
  run(sql: string, params?: unknown[]): Promise<number>;
  /** Runs `fn` in one transaction on one connection (ROLLBACK when it throws). */
  tx<T>(fn: (client: PgQueryable) => Promise<T>): Promise<T>;
  /** The URL with any password replaced, for messages. */
  where: string;
  close(): Promise<void>;
}

export function pgMigrations(): Migration[] {
  return loadMigrations(MIGRATIONS_DIR);
}

/**
 * `postgres://user:secret@host/db` → `postgres://user:***@host/db`, and `?password=secret` (libpq's parameter, also
 * `sslpassword`) → `?password=***`: passwords never reach a message.
 */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) {
      if (/password/i.test(key)) parsed.searchParams.set(key, '***');
    }
    return parsed.toString();
  } catch {
    return '(an unreadable URL)';
  }
}

export function parseDatabaseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError('LUMEN_DATABASE_URL is not a URL.', {
      code: 'database_url_invalid',
      kind: 'usage',
      hint: 'Use postgres://user:password@host:5432/database (or unset it to keep the SQLite file in LUMEN_HOME).',
    });
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new UserError(`LUMEN_DATABASE_URL must be a postgres:// URL, not ${parsed.protocol}//….`, {
      code: 'database_url_invalid',
      kind: 'usage',
      hint: 'Only PostgreSQL is supported as a server database; unset it to keep the SQLite file in LUMEN_HOME.',
    });
  }
  return parsed;
}

export interface OpenPgOptions {
  /** Apply pending migrations (the default). `lumen db status` opens without. */
  migrate?: boolean;
  /** Connections in the pool. */
  max?: number;
}

/** Connects, checks the server answers, and (unless told not to) brings the schema up to date. */
export async function openPgDatabase(url: string, options: OpenPgOptions = {}): Promise<PgDatabase> {
  parseDatabaseUrl(url);
  const where = redactDatabaseUrl(url);
  const require = createRequire(import.meta.url);
  const pg = require('pg') as typeof import('pg');
  // BIGINT (ids, milliseconds) and COUNT(*) come back as numbers: every value lumen keeps fits in 2^53.
  const types = {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === 20 || oid === 1700) return (value: string) => Number(value);
      return pg.types.getTypeParser(oid, format as 'text');
    },
  };
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    types: types as never,
    application_name: 'lumen',
  });
  // A server that goes away errors idle clients; the next query reports it (and the pool reconnects).
  pool.on('error', () => {});

  const db: PgDatabase = {
    pool,
    where,
    async all(sql, params = []) {
      return (await query(pool, sql, params, where)).rows as never;
    },
    async get(sql, params = []) {
      return (await query(pool, sql, params, where)).rows[0] as never;
    },
    async run(sql, params = []) {
      return (await query(pool, sql, params, where)).rowCount ?? 0;
    },
    async tx(fn) {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw asPgError(error, where);
      }
      try {
        await client.query('BEGIN');
        const result = await fn({
          query: async (sql, params = []) => {
            try {
              return await client.query(sql, pgParams(params as unknown[]));
            } catch (error) {
              throw asPgError(error, where);
            }
          },
        } as PgQueryable);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw asPgError(error, where);
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
  try {
    if (options.migrate !== false) await migratePg(db);
    else await db.get('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  return db;
}

/**
 * PostgreSQL text cannot hold U+0000, which JSON (and so a webhook's text or a contact's name) can: it becomes U+FFFD,
 * as a character that cannot be shown, so the delivery is stored rather than refused on every retry.
 */
export function pgParams(params: unknown[]): unknown[] {
  const hasNul = (p: unknown): boolean =>
    typeof p === 'string' ? p.includes('\0') : Array.isArray(p) && p.some((e) => typeof e === 'string' && e.includes('\0'));
  if (!params.some(hasNul)) return params;
  const clean = (p: unknown): unknown => (typeof p === 'string' ? p.replaceAll('\0', '\uFFFD') : p);
  return params.map((p) => (Array.isArray(p) ? p.map(clean) : clean(p)));
}

async function query(pool: Pool, sql: string, params: unknown[], where: string) {
  try {
    return await pool.query(sql, pgParams(params));
  } catch (error) {
    throw asPgError(error, where);
  }
}

export interface PgSchemaStatus {
  version: number;
  latest: number;
  pending: Migration[];
  applied: Array<{ version: number; name: string; appliedAt: string }>;
}

export async function pgSchemaStatus(db: PgDatabase, migrations: Migration[] = pgMigrations()): Promise<PgSchemaStatus> {
  const exists = await db.get<{ t: string | null }>("SELECT to_regclass('lumen_migrations')::text AS t");
  const applied = exists?.t
    ? (await db.all<{ version: number; name: string; applied_at: string }>(
        'SELECT version, name, applied_at::text FROM lumen_migrations ORDER BY version',
      )).map((row) => ({ version: row.version, name: row.name, appliedAt: row.applied_at }))
    : [];
  const version = applied.at(-1)?.version ?? 0;
  return {
    version,
    latest: migrations.at(-1)?.version ?? 0,
    pending: migrations.filter((m) => !applied.some((a) => a.version === m.version)),
    applied,
  };
}

/** Applies pending migrations in one transaction under an advisory lock; returns those it applied. */
export async function migratePg(db: PgDatabase, migrations: Migration[] = pgMigrations()): Promise<Migration[]> {
  return db.tx(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS lumen_migrations (
         version    INTEGER PRIMARY KEY,
         name       TEXT NOT NULL,
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>('SELECT version FROM lumen_migrations');
    const done = new Set(rows.map((r) => r.version));
    const latestDone = Math.max(0, ...done);
    const latest = migrations.at(-1)?.version ?? 0;
    if (latestDone > latest) {
      throw new UserError(`The database ${db.where} was written by a newer lumen (schema ${latestDone}, this one knows ${latest}).`, {
        code: 'database_too_new',
        hint: 'Upgrade lumen on this host (every host sharing the database needs the same version).',
      });
    }
    const applied: Migration[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO lumen_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(migration);
    }
    return applied;
  });
}

/** Is this error the server being unreachable (as opposed to a bad statement)? */
export function isPgUnavailable(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'EPIPE'].includes(code) ||
    code.startsWith('08') || // connection exceptions
    code === '57P01' || code === '57P02' || code === '57P03' || // admin shutdown, crash shutdown, cannot connect now
    /Connection terminated|timeout exceeded when trying to connect/i.test((error as Error)?.message ?? '')
  );
}

/** Turns what `pg` throws for the server or the connection into one line that says what to do; leaves SQL errors. */
export function asPgError(error: unknown, where: string): unknown {
  if (error instanceof UserError) return error;
  const err = error as { code?: string; message?: string };
  const code = err.code ?? '';
  const message = err.message ?? String(error);
  if (code === 'ECONNREFUSED') {
    return new UserError(`Cannot reach PostgreSQL at ${where}: connection refused.`, {
      code: 'database_unavailable',
      kind: 'unavailable',
      hint: 'Check that the server is running and listening on that host and port.',
      cause: error,
    });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new UserError(`Cannot reach PostgreSQL at ${where}: the host name does not resolve.`, {
      code: 'database_unavailable',
      kind: 'unavailable',
      hint: 'Check the host in the database URL (LUMEN_DATABASE_URL, or `databaseUrl` in config.json).',
      cause: error,
    });
  }
  if (code === '28P01' || code === '28000') {
    return new UserError(`PostgreSQL at ${where} refused the login: ${message}.`, {
      code: 'database_auth_failed',
      kind: 'auth',
      hint: 'Check the user and password in the database URL (LUMEN_DATABASE_URL, or `databaseUrl` in config.json) and pg_hba.conf on the server.',
      cause: error,
    });
  }
  if (code === '3D000') {
    return new UserError(`PostgreSQL at ${where}: ${message}.`, {
      code: 'database_not_found',
      kind: 'not_found',
      hint: 'Create it first (createdb, or CREATE DATABASE …), then run lumen again.',
      cause: error,
    });
  }
  if (code === '42501') {
    return new UserError(`PostgreSQL at ${where} refused: ${message}.`, {
      code: 'database_permission_denied',
      kind: 'auth',
      hint: 'The user needs to own the database (or have CREATE on its schema) so lumen can create its tables.',
      cause: error,
    });
  }
  if (isPgUnavailable(error)) {
    return new UserError(`PostgreSQL at ${where} is unavailable: ${message}.`, {
      code: 'database_unavailable',
      kind: 'unavailable',
      hint: 'lumen retries by itself; check the server and the network to it.',
      cause: error,
    });
  }
  return error;
}
