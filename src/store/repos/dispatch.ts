import type { Database } from '../db.js';
import type { DispatchEvent, DispatchRepo } from '../types.js';

interface EventRow {
  id: number;
  interaction_id: string;
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
  id: row.id,
  interactionId: row.interaction_id,
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
    `SELECT * FROM dispatch_events WHERE state IN ('pending', 'retrying') AND next_attempt_at <= ?
     ORDER BY next_attempt_at, id LIMIT ?`,
  );
  const delivered = db.prepare(
    `UPDATE dispatch_events SET state = 'delivered', attempts = attempts + 1, last_target = @target,
       last_status = @status, last_error = NULL, last_duration_ms = @durationMs, delivered_at = @at WHERE id = @id`,
  );
  const failed = db.prepare(
    `UPDATE dispatch_events SET state = 'retrying', attempts = attempts + 1, last_target = @target,
       last_status = @status, last_error = @error, last_duration_ms = @durationMs, next_attempt_at = @nextAttemptAt
     WHERE id = @id`,
  );
  const byId = db.prepare<[number], EventRow>('SELECT * FROM dispatch_events WHERE id = ?');
  const byInteraction = db.prepare<[string], EventRow>('SELECT * FROM dispatch_events WHERE interaction_id = ?');
  const requeue = db.prepare(
    `INSERT INTO dispatch_events (interaction_id, workspace_id, state, next_attempt_at, created_at)
     VALUES (@interactionId, @workspaceId, 'pending', @now, @now)
     ON CONFLICT (interaction_id) DO UPDATE SET state = 'pending', next_attempt_at = @now, delivered_at = NULL`,
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
           ORDER BY id DESC LIMIT ?`,
        )
        .all(workspaceId, limit);
      return rows.map(toEvent);
    },
    async find(id) {
      const row = byId.get(id);
      return row ? toEvent(row) : undefined;
    },
    async requeue(interactionId, workspaceId, now) {
      requeue.run({ interactionId, workspaceId, now });
      return toEvent(byInteraction.get(interactionId)!);
    },
  };
}
