import type { PgDatabase, PgQueryable } from '../db.js';
import { UserError } from '../../../errors.js';
import { toInteraction, type InteractionRow } from '../../repos/inbox.js';
import { PURGE_BATCH, scoped } from '../../repos/maintenance.js';
import type { MaintenanceRepo, PurgeCounts, PurgeScope, StoreStats } from '../../types.js';

/** Interactions read per query by `interactions()`: a page at a time, no cursor held open between them. */
const EXPORT_PAGE = 500;

/** SQLite's `@name` parameters as `$n` ones, so both backends share the purge's SQL. */
export function numbered(sql: string, params: Record<string, unknown>): { text: string; values: unknown[] } {
  const order: string[] = [];
  const text = sql.replace(/@(\w+)/g, (_, name: string) => {
    if (!(name in params)) throw new Error(`no value for @${name}`);
    const at = order.indexOf(name);
    return `$${at >= 0 ? at + 1 : order.push(name)}`;
  });
  return { text, values: order.map((name) => params[name]) };
}

export function createMaintenanceRepo(db: PgDatabase): MaintenanceRepo {
  const outsideTx: PgQueryable = {
    query: async (sql, params) => {
      const rows = await db.all(sql, params);
      return { rows: rows as never[], rowCount: rows.length };
    },
  };
  /** The scope's SQL and parameters, bounded (as on SQLite) by the first message received at or after the cutoff. */
  const prepare = async (client: PgQueryable, scope: PurgeScope) => {
    const { rows } = await client.query<{ seq: number }>('SELECT seq FROM interactions WHERE received_at >= $1 ORDER BY seq LIMIT 1', [scope.cutoff]);
    const bound = rows[0]?.seq;
    const sql = scoped(scope.workspaceId !== undefined, bound !== undefined);
    const p: Record<string, unknown> = { cutoff: scope.cutoff, ...(bound !== undefined ? { bound } : {}), ...(scope.workspaceId ? { workspaceId: scope.workspaceId } : {}) };
    const run = async <T extends Record<string, unknown>>(client: PgQueryable, statement: string) => {
      const { text, values } = numbered(statement, p);
      return client.query<T>(text, values);
    };
    const count = async (client: PgQueryable, from: string) => Number((await run<{ n: number }>(client, `SELECT COUNT(*) AS n ${from}`)).rows[0]?.n ?? 0);
    return { sql, run, count };
  };

  return {
    async checkWritable() {
      // A real write (one row, changed to itself), so a read-only server (a standby) or a user without UPDATE shows here.
      await db.run('UPDATE store_changes SET integrations = integrations WHERE id = 1');
    },

    async stats(): Promise<StoreStats> {
      const queue = (await db.get<{ n: number; oldest: string | null }>(
        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM dispatch_events WHERE state IN ('pending', 'retrying')",
      ))!;
      const states = await db.all<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM outbound_messages GROUP BY state');
      return {
        dispatchQueueDepth: queue.n,
        dispatchOldestCreatedAt: queue.oldest,
        outboundByState: Object.fromEntries(states.map((r) => [r.state, r.n])),
      };
    },

    async plan(scope) {
      // One snapshot for every count, as SQLite's read transaction gives.
      return db.tx(async (client): Promise<PurgeCounts> => {
        await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const { sql, run, count } = await prepare(client, scope);
        return {
          inbound: await count(client, sql.interactions),
          outbound: await count(client, sql.outbound),
          statuses: await count(client, sql.statuses),
          webhookErrors: await count(client, sql.errors),
          webhookEvents: (await count(client, sql.events)) + (await count(client, sql.raw)),
          media:
            (await count(client, `FROM media WHERE interaction_seq IN (SELECT i.seq ${sql.interactions})`)) + (await count(client, sql.uploads)),
          contacts: await count(client, sql.contacts),
          keptUndelivered: await count(client, sql.kept),
          files: (await run<{ path: string }>(client, sql.files)).rows.map((r) => r.path),
        };
      });
    },

    async purge(scope) {
      const totals: PurgeCounts = { inbound: 0, outbound: 0, statuses: 0, webhookErrors: 0, webhookEvents: 0, media: 0, contacts: 0, keptUndelivered: 0, files: [] };
      const removedFiles = new Map<string, string | null>();
      const { sql, run, count } = await prepare(outsideTx, scope);
      // Interactions in batches, each its own transaction: the relays' writes go on in between.
      for (;;) {
        const removed = await db.tx(async (client) => {
          const seqs = (await run<{ seq: number }>(client, `SELECT i.seq ${sql.interactions} ORDER BY i.seq LIMIT ${PURGE_BATCH}`)).rows.map(
            (r) => r.seq,
          );
          if (seqs.length === 0) return 0;
          await client.query('DELETE FROM dispatch_events WHERE interaction_seq = ANY($1::bigint[])', [seqs]);
          const media = await client.query<{ path: string | null; sha256: string | null }>(
            'DELETE FROM media WHERE interaction_seq = ANY($1::bigint[]) RETURNING path, sha256',
            [seqs],
          );
          for (const m of media.rows) if (m.path) removedFiles.set(m.path, m.sha256);
          totals.media += media.rows.length;
          totals.inbound += (await client.query('DELETE FROM interactions WHERE seq = ANY($1::bigint[])', [seqs])).rowCount ?? 0;
          return seqs.length;
        });
        if (removed < PURGE_BATCH) break;
      }
      await db.tx(async (client) => {
        const changed = async (from: string) => (await run(client, `DELETE ${from}`)).rowCount ?? 0;
        totals.outbound = await changed(sql.outbound);
        totals.statuses = await changed(sql.statuses);
        totals.webhookErrors = await changed(sql.errors);
        totals.webhookEvents = (await changed(sql.events)) + (await changed(sql.raw));
        const uploads = await run<{ path: string | null; sha256: string | null }>(client, `DELETE ${sql.uploads} RETURNING path, sha256`);
        for (const m of uploads.rows) if (m.path) removedFiles.set(m.path, m.sha256);
        totals.media += uploads.rows.length;
        totals.contacts = await changed(sql.contacts);
        totals.keptUndelivered = await count(client, sql.kept);
        // A file goes only when no remaining record points at it, by its path or (named by its hash) its hash.
        const paths = [...removedFiles.keys()];
        const hashes = [...removedFiles.values()].filter((h): h is string => h !== null);
        const used = paths.length
          ? (
              await client.query<{ path: string; sha256: string | null }>(
                'SELECT DISTINCT path, sha256 FROM media WHERE path IS NOT NULL AND (path = ANY($1::text[]) OR sha256 = ANY($2::text[]))',
                [paths, hashes],
              )
            ).rows
          : [];
        const usedPaths = new Set(used.map((r) => r.path));
        const usedHashes = new Set(used.map((r) => r.sha256));
        totals.files = [...removedFiles].filter(([path, sha256]) => !usedPaths.has(path) && !(sha256 !== null && usedHashes.has(sha256))).map(([path]) => path);
      });
      return totals;
    },

    async *interactions(filter) {
      // Keyset pages by seq: each page is one short query, so a slow reader holds no snapshot or cursor open.
      const params: unknown[] = [];
      const where: string[] = [];
      if (filter.workspaceId) where.push(`workspace_id = $${params.push(filter.workspaceId)}`);
      if (filter.from) where.push(`from_id = $${params.push(filter.from)}`);
      if (filter.since) where.push(`received_at >= $${params.push(filter.since)}`);
      const after = params.length + 1;
      const text = `SELECT * FROM interactions WHERE ${[...where, `seq > $${after}`].join(' AND ')} ORDER BY seq LIMIT ${EXPORT_PAGE}`;
      let last = 0;
      for (;;) {
        const rows = await db.all<InteractionRow>(text, [...params, last]);
        for (const row of rows) yield toInteraction(row);
        if (rows.length < EXPORT_PAGE) return;
        last = rows.at(-1)!.seq;
      }
    },

    async backup() {
      throw new UserError('lumen backup copies the SQLite file; this home keeps its state on a PostgreSQL server.', {
        code: 'backup_unsupported',
        kind: 'usage',
        hint: "Back up the server's database with its own tools, e.g. pg_dump (or the provider's snapshots).",
      });
    },
  };
}
