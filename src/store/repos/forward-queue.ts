import type { Database } from '../db.js';

/** One queued item for the user's code: a non-message event's document, or a raw delivery's bytes. */
export interface QueuedForward {
  id: number;
  workspaceId: string;
  integrationId: string;
  /** The event's `object` (`status`, `template`…), or `raw`. */
  object: string;
  /** The exact bytes to send: the document's JSON, or Meta's body. */
  body: Buffer;
  /** Meta's X-Hub-Signature-256 (raw deliveries only). */
  signature: string | null;
  attempts: number;
  receivedAt: string;
}

export interface ForwardQueueRepo {
  claimDue(now: string, leaseUntil: string, limit: number): Promise<QueuedForward[]>;
  markDelivered(id: number, status: number | null, at: string): Promise<void>;
  markFailed(id: number, status: number | null, error: string, nextAttemptAt: string): Promise<void>;
  releaseClaims(): Promise<number>;
  /** Extends the claims on `ids` still held to `leaseUntil` (as DispatchRepo.renewClaims). */
  renewClaims(ids: number[], leaseUntil: string): Promise<void>;
}

/** A claimed row (either table, as the claim's RETURNING names its columns) as the forwarder gets it. */
export const toQueuedForward = (row: Record<string, unknown>): QueuedForward => ({
  id: Number(row.id),
  workspaceId: String(row.workspace_id),
  integrationId: String(row.integration_id),
  object: String(row.object),
  body: Buffer.isBuffer(row.body) ? row.body : Buffer.from(String(row.body)),
  signature: (row.signature as string | null) ?? null,
  attempts: Number(row.attempts),
  receivedAt: String(row.received_at),
});

/**
 * The durable queues of what is handed to the user's code besides inbound messages: `webhook_events` (documents of
 * statuses, templates, account changes… chosen by --events) and `raw_deliveries` (--forward-raw). Claimed with a
 * lease in one statement, retried with backoff, kept across restarts, like dispatch_events.
 */
export function createForwardQueueRepo(db: Database, table: 'webhook_events' | 'raw_deliveries'): ForwardQueueRepo {
  const columns =
    table === 'webhook_events'
      ? 'id, workspace_id, integration_id, object, CAST(doc AS BLOB) AS body, NULL AS signature, attempts, received_at'
      : "id, workspace_id, integration_id, 'raw' AS object, body, signature, attempts, received_at";
  const claim = db.prepare<{ now: string; until: string; limit: number }, Record<string, unknown>>(
    `UPDATE ${table} SET claimed_until = @until
     WHERE id IN (
       SELECT id FROM ${table}
        WHERE forward_state IN ('pending', 'retrying') AND next_attempt_at <= @now
          AND (claimed_until IS NULL OR claimed_until <= @now)
        ORDER BY next_attempt_at, id LIMIT @limit)
     RETURNING ${columns}`,
  );
  const delivered = db.prepare(
    `UPDATE ${table} SET forward_state = 'delivered', attempts = attempts + 1, last_status = ?, last_error = NULL,
       delivered_at = ?, claimed_until = NULL WHERE id = ?`,
  );
  const failed = db.prepare(
    `UPDATE ${table} SET forward_state = 'retrying', attempts = attempts + 1, last_status = ?, last_error = ?,
       next_attempt_at = ?, claimed_until = NULL WHERE id = ? AND forward_state IN ('pending', 'retrying')`,
  );
  const renew = db.prepare(
    `UPDATE ${table} SET claimed_until = ?
     WHERE id IN (SELECT value FROM json_each(?)) AND claimed_until IS NOT NULL AND forward_state IN ('pending', 'retrying')`,
  );
  return {
    async claimDue(now, leaseUntil, limit) {
      return claim
        .all({ now, until: leaseUntil, limit })
        .map(toQueuedForward)
        .sort((a, b) => a.id - b.id);
    },
    async markDelivered(id, status, at) {
      delivered.run(status, at, id);
    },
    async markFailed(id, status, error, nextAttemptAt) {
      failed.run(status, error, nextAttemptAt, id);
    },
    async releaseClaims() {
      return db.prepare(`UPDATE ${table} SET claimed_until = NULL WHERE claimed_until IS NOT NULL`).run().changes;
    },
    async renewClaims(ids, leaseUntil) {
      renew.run(leaseUntil, JSON.stringify(ids));
    },
  };
}
