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

/** The two queues of what is handed on besides messages: `webhook_events` (--events) and `raw_deliveries` (--forward-raw). */
export type ForwardQueue = 'events' | 'raw';

/** How an item is named to the user's code and in `lumen events`: `ev_N` (an event's document), `raw_N` (Meta's bytes). */
export function forwardRef(queue: ForwardQueue, id: number): string {
  return `${queue === 'raw' ? 'raw' : 'ev'}_${id}`;
}

/** The queue and id an `ev_N` / `raw_N` names; undefined for anything else. */
export function parseForwardRef(value: string): { queue: ForwardQueue; id: number } | undefined {
  const match = /^(ev|raw)_([1-9]\d{0,15})$/.exec(value);
  if (!match || !Number.isSafeInteger(Number(match[2]))) return undefined;
  return { queue: match[1] === 'raw' ? 'raw' : 'events', id: Number(match[2]) };
}

/** `dropped`: given up by hand (`lumen events drop`): never attempted again unless replayed. */
export type ForwardState = 'pending' | 'retrying' | 'delivered' | 'dropped';

/** One queued item as `lumen events list` shows it (without its bytes). */
export interface ForwardRecord {
  id: number;
  workspaceId: string;
  integrationId: string;
  object: string;
  state: ForwardState;
  attempts: number;
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  receivedAt: string;
  deliveredAt: string | null;
  claimedUntil: string | null;
}

export interface ForwardQueueRepo {
  claimDue(now: string, leaseUntil: string, limit: number): Promise<QueuedForward[]>;
  /** Those handed to the user's code (not the ones only stored), newest first; `failedOnly`: being retried. */
  list(filter: { workspaceId: string; failedOnly: boolean; limit: number }): Promise<ForwardRecord[]>;
  /** One item with its bytes, as the forwarder sends it. */
  find(id: number): Promise<(ForwardRecord & { item: QueuedForward }) | undefined>;
  /** Gives an undelivered item up (`dropped`); false when it was delivered or dropped already. */
  drop(id: number): Promise<boolean>;
  /** Queues an item again, due now (a replay); undefined when it is not one handed to the user's code. */
  requeue(id: number, now: string): Promise<ForwardRecord | undefined>;
  /** Claims one item whatever its state (a replay to a target): false while another claim on it holds. */
  claimOne(id: number, now: string, leaseUntil: string): Promise<boolean>;
  /** Extends a claim made by claimOne while it is held, whatever the item's state. */
  renewClaim(id: number, leaseUntil: string): Promise<void>;
  /** Ends a claim without recording an attempt (a replay whose delivery failed). */
  releaseClaim(id: number): Promise<void>;
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

/** A row of either table (SELECT *) as a record. */
export const toForwardRecord = (row: Record<string, unknown>, table: 'webhook_events' | 'raw_deliveries'): ForwardRecord => ({
  id: Number(row.id),
  workspaceId: String(row.workspace_id),
  integrationId: String(row.integration_id),
  object: table === 'raw_deliveries' ? 'raw' : String(row.object),
  state: row.forward_state as ForwardState,
  attempts: Number(row.attempts),
  nextAttemptAt: (row.next_attempt_at as string | null) ?? null,
  lastStatus: row.last_status === null || row.last_status === undefined ? null : Number(row.last_status),
  lastError: (row.last_error as string | null) ?? null,
  receivedAt: String(row.received_at),
  deliveredAt: (row.delivered_at as string | null) ?? null,
  claimedUntil: (row.claimed_until as string | null) ?? null,
});

/** A row with its bytes (SELECT *) as the forwarder sends it. */
export const toItem = (row: Record<string, unknown>, table: 'webhook_events' | 'raw_deliveries'): QueuedForward =>
  toQueuedForward(
    table === 'webhook_events'
      ? { ...row, body: row.doc, signature: null }
      : { ...row, object: 'raw' },
  );

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
  const listed = listedColumns(table);
  const claim = db.prepare<{ now: string; until: string; limit: number }, Record<string, unknown>>(
    `UPDATE ${table} SET claimed_until = @until, claimed_by = NULL
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
      return db.prepare(`UPDATE ${table} SET claimed_until = NULL WHERE claimed_until IS NOT NULL AND claimed_by IS NULL`).run().changes;
    },
    async renewClaims(ids, leaseUntil) {
      renew.run(leaseUntil, JSON.stringify(ids));
    },
    async list({ workspaceId, failedOnly, limit }) {
      const rows = db
        .prepare<[string, number], Record<string, unknown>>(
          `SELECT ${listed} FROM ${table} WHERE workspace_id = ? AND ${failedOnly ? "forward_state = 'retrying'" : 'forward_state IS NOT NULL'}
           ORDER BY id DESC LIMIT ?`,
        )
        .all(workspaceId, limit);
      return rows.map((row) => toForwardRecord(row, table));
    },
    async find(id) {
      const row = db.prepare<[number], Record<string, unknown>>(`SELECT * FROM ${table} WHERE id = ? AND forward_state IS NOT NULL`).get(id);
      return row ? { ...toForwardRecord(row, table), item: toItem(row, table) } : undefined;
    },
    async drop(id) {
      return (
        db
          .prepare(
            `UPDATE ${table} SET forward_state = 'dropped', claimed_until = NULL, last_error = COALESCE(last_error, 'dropped')
             WHERE id = ? AND forward_state IN ('pending', 'retrying')`,
          )
          .run(id).changes === 1
      );
    },
    async requeue(id, now) {
      const row = db
        .prepare<[string, number], Record<string, unknown>>(
          `UPDATE ${table} SET forward_state = 'pending', next_attempt_at = ?, delivered_at = NULL
           WHERE id = ? AND forward_state IS NOT NULL RETURNING ${listed}`,
        )
        .get(now, id);
      return row ? toForwardRecord(row, table) : undefined;
    },
    async claimOne(id, now, leaseUntil) {
      return (
        db
          .prepare(`UPDATE ${table} SET claimed_until = ?, claimed_by = 'replay' WHERE id = ? AND forward_state IS NOT NULL AND (claimed_until IS NULL OR claimed_until <= ?)`)
          .run(leaseUntil, id, now).changes === 1
      );
    },
    async renewClaim(id, leaseUntil) {
      db.prepare(`UPDATE ${table} SET claimed_until = ? WHERE id = ? AND claimed_until IS NOT NULL`).run(leaseUntil, id);
    },
    async releaseClaim(id) {
      db.prepare(`UPDATE ${table} SET claimed_until = NULL, claimed_by = NULL WHERE id = ?`).run(id);
    },
  };
}

/** The columns a record needs (not the bytes: a raw delivery's body can be megabytes). */
export function listedColumns(table: 'webhook_events' | 'raw_deliveries'): string {
  return `id, workspace_id, integration_id, ${table === 'webhook_events' ? 'object' : "'raw' AS object"}, forward_state, attempts,
    next_attempt_at, last_status, last_error, received_at, delivered_at, claimed_until`;
}
