/**
 * Rows written straight into a store's database (SQLite file or PostgreSQL), for contract tests of repositories that
 * read what another part writes (the inbox's interactions, contacts, statuses, events). The SQL uses `?`
 * placeholders and is the same on both backends.
 */
import type { StoreLocation } from '../../src/store/index.js';

export interface RawRows {
  run(sql: string, params?: unknown[]): Promise<void>;
  all<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Inserts objects as rows (their keys are the columns). */
  insert(table: string, ...rows: Array<Record<string, unknown>>): Promise<void>;
  close(): Promise<void>;
}

export async function rawRows(location: StoreLocation): Promise<RawRows> {
  let run: RawRows['run'];
  let all: RawRows['all'];
  let close: RawRows['close'];
  if (location.databaseUrl) {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: location.databaseUrl });
    await client.connect();
    const numbered = (sql: string) => {
      let n = 0;
      return sql.replace(/\?/g, () => `$${++n}`);
    };
    run = async (sql, params = []) => {
      await client.query(numbered(sql), params);
    };
    all = async <T>(sql: string, params: unknown[] = []) => (await client.query(numbered(sql), params)).rows as T[];
    close = () => client.end();
  } else {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(location.databasePath);
    db.pragma('busy_timeout = 10000');
    run = async (sql, params = []) => {
      db.prepare(sql).run(...params);
    };
    all = async <T>(sql: string, params: unknown[] = []) => db.prepare(sql).all(...params) as T[];
    close = async () => {
      db.close();
    };
  }
  return {
    run,
    all,
    close,
    async insert(table, ...rows) {
      for (const row of rows) {
        const columns = Object.keys(row);
        await run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, Object.values(row));
      }
    },
  };
}

/** An inbound message row (interactions), with the columns a test rarely cares about filled in. */
export function interactionRow(seq: number, fields: Partial<Record<string, unknown>> = {}): Record<string, unknown> {
  return {
    seq,
    workspace_id: 'ws_1',
    integration_id: 'wa_1',
    wamid: `wamid.${seq}`,
    phone_number_id: '106540352242922',
    from_id: '15551234567',
    from_kind: 'phone',
    type: 'text',
    text: `hi ${seq}`,
    sent_at: `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000Z`,
    received_at: '2026-01-01T00:00:00.000Z',
    raw: '{}',
    ...fields,
  };
}
