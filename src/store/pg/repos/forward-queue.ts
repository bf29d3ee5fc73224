import { listedColumns, toForwardRecord, toItem, toQueuedForward, type ForwardQueueRepo } from '../../repos/forward-queue.js';
import type { PgDatabase } from '../db.js';

/**
 * The queues for the user's code besides inbound messages (`webhook_events` chosen by --events, `raw_deliveries`
 * by --forward-raw), on PostgreSQL: claimed with a lease in one statement (SKIP LOCKED), as dispatch events are.
 */
export function createForwardQueueRepo(db: PgDatabase, table: 'webhook_events' | 'raw_deliveries'): ForwardQueueRepo {
  const columns =
    table === 'webhook_events'
      ? 'id, workspace_id, integration_id, object, doc AS body, NULL AS signature, attempts, received_at'
      : "id, workspace_id, integration_id, 'raw' AS object, body, signature, attempts, received_at";
  const listed = listedColumns(table);
  return {
    async claimDue(now, leaseUntil, limit) {
      const rows = await db.all(
        `UPDATE ${table} SET claimed_until = $2, claimed_by = NULL
          WHERE id IN (
            SELECT id FROM ${table}
             WHERE forward_state IN ('pending', 'retrying') AND next_attempt_at <= $1
               AND (claimed_until IS NULL OR claimed_until <= $1)
             ORDER BY next_attempt_at, id LIMIT $3
             FOR UPDATE SKIP LOCKED)
          RETURNING ${columns}`,
        [now, leaseUntil, limit],
      );
      return rows.map(toQueuedForward).sort((a, b) => a.id - b.id);
    },
    async markDelivered(id, status, at) {
      await db.run(
        `UPDATE ${table} SET forward_state = 'delivered', attempts = attempts + 1, last_status = $1, last_error = NULL,
           delivered_at = $2, claimed_until = NULL WHERE id = $3`,
        [status, at, id],
      );
    },
    async markFailed(id, status, error, nextAttemptAt) {
      await db.run(
        `UPDATE ${table} SET forward_state = 'retrying', attempts = attempts + 1, last_status = $1, last_error = $2,
           next_attempt_at = $3, claimed_until = NULL WHERE id = $4 AND forward_state IN ('pending', 'retrying')`,
        [status, error, nextAttemptAt, id],
      );
    },
    async releaseClaims() {
      return db.run(`UPDATE ${table} SET claimed_until = NULL WHERE claimed_until IS NOT NULL AND claimed_by IS NULL`);
    },
    async renewClaims(ids, leaseUntil) {
      if (ids.length === 0) return;
      await db.run(
        `UPDATE ${table} SET claimed_until = $1
          WHERE id = ANY($2::bigint[]) AND claimed_until IS NOT NULL AND forward_state IN ('pending', 'retrying')`,
        [leaseUntil, ids],
      );
    },
    async list({ workspaceId, failedOnly, limit }) {
      const rows = await db.all(
        `SELECT ${listed} FROM ${table} WHERE workspace_id = $1 AND ${failedOnly ? "forward_state = 'retrying'" : 'forward_state IS NOT NULL'}
          ORDER BY id DESC LIMIT $2`,
        [workspaceId, limit],
      );
      return rows.map((row) => toForwardRecord(row, table));
    },
    async find(id) {
      const row = await db.get(`SELECT * FROM ${table} WHERE id = $1 AND forward_state IS NOT NULL`, [id]);
      return row ? { ...toForwardRecord(row, table), item: toItem(row, table) } : undefined;
    },
    async drop(id) {
      const changes = await db.run(
        `UPDATE ${table} SET forward_state = 'dropped', claimed_until = NULL, last_error = COALESCE(last_error, 'dropped')
          WHERE id = $1 AND forward_state IN ('pending', 'retrying')`,
        [id],
      );
      return changes === 1;
    },
    async requeue(id, now) {
      const [row] = await db.all(
        `UPDATE ${table} SET forward_state = 'pending', next_attempt_at = $1, delivered_at = NULL
          WHERE id = $2 AND forward_state IS NOT NULL RETURNING ${listed}`,
        [now, id],
      );
      return row ? toForwardRecord(row, table) : undefined;
    },
    async claimOne(id, now, leaseUntil) {
      const changes = await db.run(
        `UPDATE ${table} SET claimed_until = $1, claimed_by = 'replay' WHERE id = $2 AND forward_state IS NOT NULL AND (claimed_until IS NULL OR claimed_until <= $3)`,
        [leaseUntil, id, now],
      );
      return changes === 1;
    },
    async renewClaim(id, leaseUntil) {
      await db.run(`UPDATE ${table} SET claimed_until = $1 WHERE id = $2 AND claimed_until IS NOT NULL`, [leaseUntil, id]);
    },
    async releaseClaim(id) {
      await db.run(`UPDATE ${table} SET claimed_until = NULL, claimed_by = NULL WHERE id = $1`, [id]);
    },
  };
}
