import type { Database } from '../db.js';
import { interactionId, interactionSeq } from './inbox.js';
import type { DispatchEvent, DispatchRepo } from '../types.js';

interface EventRow {
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
}

const toEvent = (row: EventRow): DispatchEvent => ({
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
});

export function createDispatchRepo(db: Database): DispatchRepo {
  const due = db.prepare<[string, number], EventRow>(
    `SELECT * FROM dispatch_events WHERE state != 'delivered' AND next_attempt_at <= ?
     ORDER BY next_attempt_at LIMIT ?`,
  );
  const delivered = db.prepare(
    `UPDATE dispatch_events SET state = 'delivered', attempts = attempts + 1, last_target = @target,
       last_status = @status, last_error = NULL, last_duration_ms = @durationMs, delivered_at = @at WHERE interaction_seq = @id`,
  );
  const failed = db.prepare(
    `UPDATE dispatch_events SET state = 'retrying', attempts = attempts + 1, last_target = @target,
       last_status = @status, last_error = @error, last_duration_ms = @durationMs, next_attempt_at = @nextAttemptAt
     WHERE interaction_seq = @id`,
  );
  const byId = db.prepare<[number], EventRow>('SELECT * FROM dispatch_events WHERE interaction_seq = ?');
  const requeue = db.prepare(
    `INSERT INTO dispatch_events (interaction_seq, workspace_id, state, next_attempt_at, created_at)
     VALUES (@seq, @workspaceId, 'pending', @now, @now)
     ON CONFLICT (interaction_seq) DO UPDATE SET state = 'pending', next_attempt_at = @now, delivered_at = NULL`,
  );

  return {
    async due(now, limit) {
      return due.all(now, limit).map(toEvent);
    },
    async markDelivered(id, result) {
      delivered.run({ id, ...result });
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
    async requeue(id, workspaceId, now) {
      const seq = interactionSeq(id)!;
      requeue.run({ seq, workspaceId, now });
      return toEvent(byId.get(seq)!);
    },
  };
}
