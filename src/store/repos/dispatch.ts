import type { Database } from '../db.js';
import { interactionId, interactionSeq } from './inbox.js';
import type { DispatchEvent, DispatchRepo } from '../types.js';

export interface EventRow {
  interaction_seq: number;
  workspace_id: string;
  state: string;
  attempts: number;
  next_attempt_at: string;
  last_target: string | null;
  last_status: number | null;
  last_error: string | null;
  last_duration_ms: number | null;
  created_at: string;
  delivered_at: string | null;
  claimed_until: string | null;
}

export const toEvent = (row: EventRow): DispatchEvent => ({
  id: row.interaction_seq,
  interactionId: interactionId(row.interaction_seq),
  workspaceId: row.workspace_id,
  state: row.state as DispatchEvent['state'],
  attempts: row.attempts,
  nextAttemptAt: row.next_attempt_at,
  lastTarget: row.last_target,
  lastStatus: row.last_status,
  lastError: row.last_error,
  lastDurationMs: row.last_duration_ms,
  createdAt: row.created_at,
  deliveredAt: row.delivered_at,
  claimedUntil: row.claimed_until,
});

export function createDispatchRepo(db: Database): DispatchRepo {
  // One statement claims: two relays (or two loops of one) never get the same event while its lease holds.
  const claimDue = db.prepare<{ now: string; until: string; limit: number }, EventRow>(
    `UPDATE dispatch_events SET claimed_until = @until, claimed_by = NULL
     WHERE interaction_seq IN (
       SELECT interaction_seq FROM dispatch_events
        WHERE state != 'delivered' AND state != 'dropped' AND next_attempt_at <= @now AND (claimed_until IS NULL OR claimed_until <= @now)
        ORDER BY next_attempt_at LIMIT @limit)
     RETURNING *`,
  );
  // Replies still to send stay with the delivery, and so does its claim (whoever holds it); NULL, NULL when none.
  const delivered = db.prepare(
    `UPDATE dispatch_events SET state = 'delivered', attempts = attempts + 1, last_target = @target,
       last_status = @status, last_error = NULL, last_duration_ms = @durationMs, delivered_at = @at,
       replies = @replies, claimed_until = @leaseUntil
     WHERE interaction_seq = @id`,
  );
  const claimReplies = db.prepare<{ now: string; until: string; limit: number }, { interaction_seq: number; replies: string }>(
    `UPDATE dispatch_events SET claimed_until = @until, claimed_by = NULL
     WHERE interaction_seq IN (
       SELECT interaction_seq FROM dispatch_events
        WHERE replies IS NOT NULL AND state = 'delivered' AND (claimed_until IS NULL OR claimed_until <= @now)
        ORDER BY interaction_seq LIMIT @limit)
     RETURNING interaction_seq, replies`,
  );
  const repliesSent = db.prepare('UPDATE dispatch_events SET replies = NULL, claimed_until = NULL WHERE interaction_seq = ? AND replies = ?');
  const failed = db.prepare(
    `UPDATE dispatch_events SET state = 'retrying', attempts = attempts + 1, last_target = @target,
       last_status = @status, last_error = @error, last_duration_ms = @durationMs, next_attempt_at = @nextAttemptAt,
       claimed_until = NULL
     WHERE interaction_seq = @id AND state != 'dropped' AND state != 'delivered'`,
  );
  const renew = db.prepare(
    `UPDATE dispatch_events SET claimed_until = ?
     WHERE interaction_seq IN (SELECT value FROM json_each(?)) AND claimed_until IS NOT NULL
       AND ((state != 'delivered' AND state != 'dropped') OR replies IS NOT NULL)`,
  );
  const byId = db.prepare<[number], EventRow>('SELECT * FROM dispatch_events WHERE interaction_seq = ?');
  const requeue = db.prepare(
    `INSERT INTO dispatch_events (interaction_seq, workspace_id, state, next_attempt_at, created_at)
     VALUES (@seq, @workspaceId, 'pending', @now, @now)
     ON CONFLICT (interaction_seq) DO UPDATE SET state = 'pending', next_attempt_at = @now, delivered_at = NULL`,
  );

  return {
    async postpone(id, until) {
      db.prepare('UPDATE dispatch_events SET next_attempt_at = ?, claimed_until = NULL WHERE interaction_seq = ?').run(until, id);
    },
    async makeDue(id, now) {
      const seq = interactionSeq(id);
      if (seq === undefined) return;
      db.prepare(
        `UPDATE dispatch_events SET next_attempt_at = ? WHERE interaction_seq = ? AND state IN ('pending', 'retrying') AND attempts = 0
           AND next_attempt_at > ?`,
      ).run(now, seq, now);
    },
    async releaseClaims() {
      return db.prepare('UPDATE dispatch_events SET claimed_until = NULL WHERE claimed_until IS NOT NULL AND claimed_by IS NULL').run().changes;
    },
    async renewClaims(ids, leaseUntil) {
      renew.run(leaseUntil, JSON.stringify(ids));
    },
    async claimOne(id, now, leaseUntil) {
      return (
        db
          .prepare(
            "UPDATE dispatch_events SET claimed_until = ?, claimed_by = 'replay' WHERE interaction_seq = ? AND (claimed_until IS NULL OR claimed_until <= ?)",
          )
          .run(leaseUntil, id, now).changes === 1
      );
    },
    async renewClaim(id, leaseUntil) {
      db.prepare('UPDATE dispatch_events SET claimed_until = ? WHERE interaction_seq = ? AND claimed_until IS NOT NULL').run(leaseUntil, id);
    },
    async releaseClaim(id) {
      db.prepare('UPDATE dispatch_events SET claimed_until = NULL WHERE interaction_seq = ?').run(id);
    },
    async claimDue(now, leaseUntil, limit) {
      return claimDue
        .all({ now, until: leaseUntil, limit })
        .map(toEvent)
        .sort((a, b) => (a.nextAttemptAt < b.nextAttemptAt ? -1 : a.nextAttemptAt > b.nextAttemptAt ? 1 : a.id - b.id));
    },
    async markDelivered(id, { replies, ...result }) {
      delivered.run({ id, ...result, replies: replies?.json ?? null, leaseUntil: replies?.leaseUntil ?? null });
    },
    async claimReplies(now, leaseUntil, limit) {
      return claimReplies
        .all({ now, until: leaseUntil, limit })
        .sort((a, b) => a.interaction_seq - b.interaction_seq)
        .map((row) => ({ id: row.interaction_seq, interactionId: interactionId(row.interaction_seq), replies: row.replies }));
    },
    async repliesSent(id, json) {
      repliesSent.run(id, json);
    },
    async markFailed(id, result) {
      failed.run({ id, ...result });
    },
    async list({ workspaceId, failedOnly, limit }) {
      const rows = db
        .prepare<[string, number], EventRow>(
          `SELECT * FROM dispatch_events WHERE workspace_id = ? ${failedOnly ? "AND state = 'retrying'" : ''}
           ORDER BY interaction_seq DESC LIMIT ?`,
        )
        .all(workspaceId, limit);
      return rows.map(toEvent);
    },
    async find(id) {
      const row = byId.get(id);
      return row ? toEvent(row) : undefined;
    },
    async drop(id, now) {
      const changes = db
        .prepare(
          `UPDATE dispatch_events SET state = 'dropped', claimed_until = NULL, last_error = COALESCE(last_error, 'dropped'),
             delivered_at = NULL, next_attempt_at = ?
           WHERE interaction_seq = ? AND state IN ('pending', 'retrying')`,
        )
        .run(now, id).changes;
      return changes === 1;
    },
    async requeue(id, workspaceId, now) {
      const seq = interactionSeq(id)!;
      requeue.run({ seq, workspaceId, now });
      return toEvent(byId.get(seq)!);
    },
  };
}
