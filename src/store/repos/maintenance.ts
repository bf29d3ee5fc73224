import { chmodSync, renameSync, rmSync } from 'node:fs';
import type { Database } from '../db.js';
import { toInteraction } from './inbox.js';
import type { Interaction, MaintenanceRepo, PurgeCounts, PurgeScope, StoreStats } from '../types.js';

/** Interactions removed per transaction: a purge under load never holds the write lock for long. */
export const PURGE_BATCH = 1000;

/** Sent messages in these states are settled: nothing more will be done with them. */
const SETTLED_OUTBOUND = `('rejected', 'accepted', 'sent', 'delivered', 'read', 'failed')`;

/**
 * What a purge may remove, as SQL over the scope's parameters (@cutoff, @workspaceId). An inbound message whose
 * delivery to the user's code is still owed (pending or retrying) is kept, however old: it was acknowledged to Meta
 * and must be handed on first.
 */
export function scoped(workspace: boolean, bounded: boolean) {
  // Messages are stored in time order: the scan stops at the first one newer than the cutoff (@bound) instead of
  // reading the whole table (it runs inside the relay, daily). A purge and its dry run use the same bound, so they
  // count the same rows; a message stored after a newer one (a clock set back) waits for a later purge.
  const below = bounded ? ' AND i.seq < @bound' : '';
  const inWorkspace = (column = 'workspace_id') => (workspace ? ` AND ${column} = @workspaceId` : '');
  const integrationInWorkspace = workspace
    ? ' AND integration_id IN (SELECT id FROM integrations WHERE workspace_id = @workspaceId)'
    : '';
  const interactions = `FROM interactions i WHERE i.received_at < @cutoff${below}${inWorkspace('i.workspace_id')}
        AND NOT EXISTS (SELECT 1 FROM dispatch_events d WHERE d.interaction_seq = i.seq AND d.state IN ('pending', 'retrying'))`;
  // A media record the purge removes: its message's, or an old upload.
  const purgedMedia = (m: string) =>
    `((${m}.interaction_seq IS NOT NULL AND ${m}.interaction_seq IN (SELECT i.seq ${interactions}))
        OR (${m}.direction = 'out' AND ${m}.created_at < @cutoff${inWorkspace(`${m}.workspace_id`)}))`;
  return {
    interactions,
    outbound: `FROM outbound_messages WHERE created_at < @cutoff AND state IN ${SETTLED_OUTBOUND}${inWorkspace()}`,
    statuses: `FROM message_statuses WHERE received_at < @cutoff${integrationInWorkspace}`,
    errors: `FROM webhook_errors WHERE received_at < @cutoff${inWorkspace()}`,
    /** Other webhook fields' documents and --forward-raw's stored bodies, unless still owed to the user's code. */
    events: `FROM webhook_events WHERE received_at < @cutoff AND COALESCE(forward_state, '') NOT IN ('pending', 'retrying')${inWorkspace()}`,
    raw: `FROM raw_deliveries WHERE received_at < @cutoff AND COALESCE(forward_state, '') NOT IN ('pending', 'retrying')${inWorkspace()}`,
    uploads: `FROM media WHERE direction = 'out' AND created_at < @cutoff${inWorkspace()}`,
    /**
     * The files a purge would leave no record pointing at. A file is named by its hash, so records share one, and a
     * record stored before LUMEN_HOME moved names it by another path: the same path or the same hash is the same file.
     */
    files: `SELECT DISTINCT m.path AS path FROM media m WHERE m.path IS NOT NULL AND ${purgedMedia('m')}
        AND NOT EXISTS (SELECT 1 FROM media o WHERE o.path IS NOT NULL AND (o.path = m.path OR o.sha256 = m.sha256)
                          AND NOT ${purgedMedia('o')})`,
    contacts: `FROM contacts AS c WHERE c.last_inbound_at < @cutoff${inWorkspace('c.workspace_id')}
        AND NOT EXISTS (SELECT 1 FROM interactions i WHERE i.workspace_id = c.workspace_id AND i.from_id = c.contact_id
                          AND i.integration_id = c.integration_id AND i.received_at >= @cutoff)`,
    /** Old messages kept because their delivery is still owed. */
    kept: `FROM interactions i WHERE i.received_at < @cutoff${below}${inWorkspace('i.workspace_id')}
        AND EXISTS (SELECT 1 FROM dispatch_events d WHERE d.interaction_seq = i.seq AND d.state IN ('pending', 'retrying'))`,
  };
}

export function createMaintenanceRepo(db: Database): MaintenanceRepo {
  const probe = db.prepare('UPDATE store_changes SET integrations = integrations WHERE id = 1');
  const depth = db.prepare<[], { n: number; oldest: string | null }>(
    "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM dispatch_events WHERE state IN ('pending', 'retrying')",
  );
  const outboundStates = db.prepare<[], { state: string; n: number }>(
    'SELECT state, COUNT(*) AS n FROM outbound_messages GROUP BY state',
  );

  const firstNew = db.prepare<{ cutoff: string }, number>('SELECT seq FROM interactions WHERE received_at >= @cutoff ORDER BY seq LIMIT 1').pluck();
  const prepare = (scope: PurgeScope) => {
    const bound = firstNew.get({ cutoff: scope.cutoff });
    return {
      sql: scoped(scope.workspaceId !== undefined, bound !== undefined),
      p: { cutoff: scope.cutoff, ...(bound !== undefined ? { bound } : {}), ...(scope.workspaceId ? { workspaceId: scope.workspaceId } : {}) },
    };
  };

  return {
    async checkWritable() {
      // A real write (one page to the log), so a full disk or a read-only file system shows here.
      db.transaction(() => probe.run()).immediate();
    },

    async stats(): Promise<StoreStats> {
      const queue = depth.get()!;
      return {
        dispatchQueueDepth: queue.n,
        dispatchOldestCreatedAt: queue.oldest,
        outboundByState: Object.fromEntries(outboundStates.all().map((r) => [r.state, r.n])),
      };
    },

    async plan(scope) {
      return db.transaction((): PurgeCounts => {
        const { sql, p } = prepare(scope);
        const count = (from: string) => (db.prepare(`SELECT COUNT(*) ${from}`).pluck().get(p) as number) ?? 0;
        const inbound = count(sql.interactions);
        const kept = count(sql.kept);
        const inboundMedia = db
          .prepare(`SELECT COUNT(*) FROM media WHERE interaction_seq IN (SELECT i.seq ${sql.interactions})`)
          .pluck()
          .get(p) as number;
        return {
          inbound,
          outbound: count(sql.outbound),
          statuses: count(sql.statuses),
          webhookErrors: count(sql.errors),
          webhookEvents: count(sql.events) + count(sql.raw),
          media: inboundMedia + count(sql.uploads),
          contacts: count(sql.contacts),
          keptUndelivered: kept,
          files: db.prepare(sql.files).pluck().all(p) as string[],
        };
      }).deferred();
    },

    async purge(scope) {
      const { sql, p } = prepare(scope);
      const totals: PurgeCounts = { inbound: 0, outbound: 0, statuses: 0, webhookErrors: 0, webhookEvents: 0, media: 0, contacts: 0, keptUndelivered: 0, files: [] };
      const removedFiles = new Map<string, string | null>();
      const pickInteractions = db.prepare(`SELECT i.seq ${sql.interactions} ORDER BY i.seq LIMIT ${PURGE_BATCH}`).pluck();
      const batch = db.transaction((): number => {
        const seqs = pickInteractions.all(p) as number[];
        if (seqs.length === 0) return 0;
        const list = JSON.stringify(seqs);
        db.prepare("DELETE FROM dispatch_events WHERE interaction_seq IN (SELECT value FROM json_each(?))").run(list);
        const media = db
          .prepare<[string], { path: string | null; sha256: string | null }>(
            'DELETE FROM media WHERE interaction_seq IN (SELECT value FROM json_each(?)) RETURNING path, sha256',
          )
          .all(list);
        for (const m of media) if (m.path) removedFiles.set(m.path, m.sha256);
        totals.media += media.length;
        totals.inbound += db.prepare('DELETE FROM interactions WHERE seq IN (SELECT value FROM json_each(?))').run(list).changes;
        return seqs.length;
      });
      while (batch.immediate() === PURGE_BATCH) {
        // the next batch, in its own transaction: writers (the relay) get the lock in between
      }
      db.transaction(() => {
        totals.outbound = db.prepare(`DELETE ${sql.outbound}`).run(p).changes;
        totals.statuses = db.prepare(`DELETE ${sql.statuses}`).run(p).changes;
        totals.webhookErrors = db.prepare(`DELETE ${sql.errors}`).run(p).changes;
        totals.webhookEvents = db.prepare(`DELETE ${sql.events}`).run(p).changes + db.prepare(`DELETE ${sql.raw}`).run(p).changes;
        const uploads = db.prepare<Record<string, string | number>, { path: string | null; sha256: string | null }>(`DELETE ${sql.uploads} RETURNING path, sha256`).all(p);
        for (const m of uploads) if (m.path) removedFiles.set(m.path, m.sha256);
        totals.media += uploads.length;
        totals.contacts = db.prepare(`DELETE ${sql.contacts}`).run(p).changes;
        totals.keptUndelivered = db.prepare(`SELECT COUNT(*) ${sql.kept}`).pluck().get(p) as number;
        // A file goes only when no remaining record points at it, by its path or (named by its hash) its hash.
        const stillUsed = db
          .prepare<[string, string | null], number>('SELECT EXISTS (SELECT 1 FROM media WHERE path = ?) OR EXISTS (SELECT 1 FROM media WHERE sha256 = ? AND path IS NOT NULL)')
          .pluck();
        totals.files = [...removedFiles].filter(([path, sha256]) => stillUsed.get(path, sha256) === 0).map(([path]) => path);
      }).immediate();
      return totals;
    },

    async *interactions(filter) {
      const where = ['1 = 1'];
      if (filter.workspaceId) where.push('workspace_id = @workspaceId');
      if (filter.from) where.push('from_id = @from');
      if (filter.since) where.push('received_at >= @since');
      const rows = db
        .prepare(`SELECT * FROM interactions WHERE ${where.join(' AND ')} ORDER BY seq`)
        .iterate({ workspaceId: filter.workspaceId, from: filter.from, since: filter.since }) as Iterable<Parameters<typeof toInteraction>[0]>;
      for (const row of rows) yield toInteraction(row) as Interaction;
    },

    async backup(destination) {
      // Written beside the destination, then renamed: a backup that fails never leaves a partial file under its name.
      const partial = `${destination}.partial-${process.pid}`;
      try {
        // After the first step, copy every remaining page in one step: a step reads one snapshot, so writes by the
        // relay meanwhile (another connection) never restart it, and WAL readers never block those writers.
        const result = await db.backup(partial, { progress: () => 0x7fffffff });
        chmodSync(partial, 0o600); // as private as the database
        renameSync(partial, destination);
        return { pages: result.totalPages };
      } catch (error) {
        rmSync(partial, { force: true });
        throw error;
      }
    },
  };
}
