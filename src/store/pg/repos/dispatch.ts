import { interactionId, interactionSeq } from '../../repos/inbox.js';
import { toEvent, type EventRow } from '../../repos/dispatch.js';
import type { DispatchEvent, DispatchRepo } from '../../types.js';
import type { PgDatabase } from '../db.js';

const byDue = (a: DispatchEvent, b: DispatchEvent) =>
  a.nextAttemptAt < b.nextAttemptAt ? -1 : a.nextAttemptAt > b.nextAttemptAt ? 1 : a.id - b.id;

export function createDispatchRepo(db: PgDatabase): DispatchRepo {
  return {
    async claimDue(now, leaseUntil, limit) {
      // One statement claims: rows another relay is claiming right now are skipped (SKIP LOCKED), rows it claimed
      // are skipped until their lease ends; so two relays never get the same event while its lease holds.
      const rows = await db.all<EventRow>(
        `UPDATE dispatch_events SET claimed_until = $2, claimed_by = NULL
          WHERE interaction_seq IN (
            SELECT interaction_seq FROM dispatch_events
             WHERE state != 'delivered' AND state != 'dropped' AND next_attempt_at <= $1
               AND (claimed_until IS NULL OR claimed_until <= $1)
             ORDER BY next_attempt_at, interaction_seq LIMIT $3
             FOR UPDATE SKIP LOCKED)
          RETURNING *`,
        [now, leaseUntil, limit],
      );
      return rows.map(toEvent).sort(byDue);
    },
    async releaseClaims() {
      return db.run('UPDATE dispatch_events SET claimed_until = NULL WHERE claimed_until IS NOT NULL AND claimed_by IS NULL');
    },
    async renewClaims(ids, leaseUntil) {
      if (ids.length === 0) return;
      await db.run(
        `UPDATE dispatch_events SET claimed_until = $1
          WHERE interaction_seq = ANY($2::bigint[]) AND claimed_until IS NOT NULL
            AND ((state != 'delivered' AND state != 'dropped') OR replies IS NOT NULL)`,
        [leaseUntil, ids],
      );
    },
    async claimOne(id, now, leaseUntil) {
      const claimed = await db.run(
        "UPDATE dispatch_events SET claimed_until = $1, claimed_by = 'replay' WHERE interaction_seq = $2 AND (claimed_until IS NULL OR claimed_until <= $3)",
        [leaseUntil, id, now],
      );
      return claimed === 1;
    },
    async renewClaim(id, leaseUntil) {
      await db.run('UPDATE dispatch_events SET claimed_until = $1 WHERE interaction_seq = $2 AND claimed_until IS NOT NULL', [leaseUntil, id]);
    },
    async releaseClaim(id) {
      await db.run('UPDATE dispatch_events SET claimed_until = NULL WHERE interaction_seq = $1', [id]);
    },
    async postpone(id, until) {
      await db.run('UPDATE dispatch_events SET next_attempt_at = $1, claimed_until = NULL WHERE interaction_seq = $2', [until, id]);
    },
    async makeDue(id, now) {
      const seq = interactionSeq(id);
      if (seq === undefined) return;
      await db.run(
        `UPDATE dispatch_events SET next_attempt_at = $1
          WHERE interaction_seq = $2 AND state IN ('pending', 'retrying') AND attempts = 0 AND next_attempt_at > $1`,
        [now, seq],
      );
    },
    async markDelivered(id, result) {
      // Replies still to send stay with the delivery, and so does its claim (whoever holds it); NULL, NULL when none.
      await db.run(
        `UPDATE dispatch_events SET state = 'delivered', attempts = attempts + 1, last_target = $2, last_status = $3,
           last_error = NULL, last_duration_ms = $4, delivered_at = $5, replies = $6, claimed_until = $7
         WHERE interaction_seq = $1`,
        [id, result.target, result.status, Math.round(result.durationMs), result.at, result.replies?.json ?? null, result.replies?.leaseUntil ?? null],
      );
    },
    async claimReplies(now, leaseUntil, limit) {
      const rows = await db.all<{ interaction_seq: string | number; replies: string }>(
        `UPDATE dispatch_events SET claimed_until = $2, claimed_by = NULL
          WHERE interaction_seq IN (
            SELECT interaction_seq FROM dispatch_events
             WHERE replies IS NOT NULL AND state = 'delivered' AND (claimed_until IS NULL OR claimed_until <= $1)
             ORDER BY interaction_seq LIMIT $3
             FOR UPDATE SKIP LOCKED)
          RETURNING interaction_seq, replies`,
        [now, leaseUntil, limit],
      );
      return rows
        .map((row) => ({ id: Number(row.interaction_seq), interactionId: interactionId(Number(row.interaction_seq)), replies: row.replies }))
        .sort((a, b) => a.id - b.id);
    },
    async repliesSent(id, json) {
      await db.run('UPDATE dispatch_events SET replies = NULL, claimed_until = NULL WHERE interaction_seq = $1 AND replies = $2', [id, json]);
    },
    async markFailed(id, result) {
      await db.run(
        `UPDATE dispatch_events SET state = 'retrying', attempts = attempts + 1, last_target = $2, last_status = $3,
           last_error = $4, last_duration_ms = $5, next_attempt_at = $6, claimed_until = NULL
         WHERE interaction_seq = $1 AND state != 'dropped' AND state != 'delivered'`,
        [id, result.target, result.status, result.error, Math.round(result.durationMs), result.nextAttemptAt],
      );
    },
    async list({ workspaceId, failedOnly, limit }) {
      const rows = await db.all<EventRow>(
        `SELECT * FROM dispatch_events WHERE workspace_id = $1 ${failedOnly ? "AND state = 'retrying'" : ''}
          ORDER BY interaction_seq DESC LIMIT $2`,
        [workspaceId, limit],
      );
      return rows.map(toEvent);
    },
    async find(id) {
      const row = await db.get<EventRow>('SELECT * FROM dispatch_events WHERE interaction_seq = $1', [id]);
      return row ? toEvent(row) : undefined;
    },
    async drop(id, now) {
      const changes = await db.run(
        `UPDATE dispatch_events SET state = 'dropped', claimed_until = NULL, last_error = COALESCE(last_error, 'dropped'),
           delivered_at = NULL, next_attempt_at = $1
         WHERE interaction_seq = $2 AND state IN ('pending', 'retrying')`,
        [now, id],
      );
      return changes === 1;
    },
    async requeue(id, workspaceId, now) {
      const seq = interactionSeq(id)!;
      const row = await db.get<EventRow>(
        `INSERT INTO dispatch_events (interaction_seq, workspace_id, state, next_attempt_at, created_at)
         VALUES ($1, $2, 'pending', $3, $3)
         ON CONFLICT (interaction_seq) DO UPDATE SET state = 'pending', next_attempt_at = $3, delivered_at = NULL
         RETURNING *`,
        [seq, workspaceId, now],
      );
      return toEvent(row!);
    },
  };
}
