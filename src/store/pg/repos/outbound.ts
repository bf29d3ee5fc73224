import type { PgDatabase } from '../db.js';
import { pricingColumns, toOutbound, type OutboundRow } from '../../repos/outbound.js';
import { statusRank } from '../../repos/statuses.js';
import type { OutboundRepo } from '../../types.js';
import { lockWamids } from './statuses.js';

const COLUMNS = [
  'id', 'workspace_id', 'integration_id', 'wamid', 'recipient', 'recipient_kind', 'kind', 'body', 'state', 'error_code',
  'error_title', 'error_details', 'fbtrace_id', 'source', 'in_reply_to', 'idempotency_key', 'template_name',
  'template_language', 'force_window', 'approved_by', 'approved_at', 'rejected_by', 'rejected_at', 'reject_reason',
  'attempts', 'created_at', 'updated_at',
] as const;

export function createOutboundRepo(db: PgDatabase): OutboundRepo {
  const byKey = (integrationId: string, key: string) =>
    db.get<OutboundRow>('SELECT * FROM outbound_messages WHERE integration_id = $1 AND idempotency_key = $2', [integrationId, key]);
  const one = async (sql: string, params: unknown[]) => {
    const row = await db.get<OutboundRow>(sql, params);
    return row ? toOutbound(row) : undefined;
  };
  return {
    async insertOrFind(message) {
      const m = message;
      const values = [
        m.id, m.workspaceId, m.integrationId, m.wamid, m.recipient, m.recipientKind, m.kind, JSON.stringify(m.body), m.state,
        m.errorCode, m.errorTitle, m.errorDetails, m.fbtraceId, m.source, m.inReplyTo, m.idempotencyKey, m.templateName,
        m.templateLanguage, m.forceWindow ? 1 : 0, m.approvedBy, m.approvedAt, m.rejectedBy, m.rejectedAt, m.rejectReason,
        m.attempts, m.createdAt, m.updatedAt,
      ];
      // A key already taken is not an error: the caller reads the row that holds it. A second host inserting the same
      // key at the same moment waits for the first one's row, then does nothing, and reads that row.
      const inserted = await db.run(
        `INSERT INTO outbound_messages (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, n) => `$${n + 1}`).join(', ')})
         ON CONFLICT (integration_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`,
        values,
      );
      if (inserted === 1) return { message, created: true };
      const holder = message.idempotencyKey ? await byKey(message.integrationId, message.idempotencyKey) : undefined;
      if (!holder) throw new Error(`outbound message ${message.id} was neither inserted nor found by its key`);
      return { message: toOutbound(holder), created: false };
    },
    async findByIdempotencyKey(integrationId, key) {
      const row = await byKey(integrationId, key);
      return row ? toOutbound(row) : undefined;
    },
    async claimForSending(id, now) {
      // One conditional UPDATE: of any number of hosts exactly one moves it to 'sending' and calls Meta (a second
      // one waits for the first's row lock, then finds the state changed and updates nothing).
      return one(
        `UPDATE outbound_messages SET state = 'sending', attempts = attempts + 1, error_code = NULL, error_title = NULL,
           error_details = NULL, fbtrace_id = NULL, updated_at = $1
         WHERE id = $2 AND state IN ('queued', 'failed') RETURNING *`,
        [now, id],
      );
    },
    async approve(id, by, now) {
      const changed = await db.run(
        `UPDATE outbound_messages SET state = 'queued', approved_by = $1, approved_at = $2, updated_at = $2
         WHERE id = $3 AND state = 'pending_approval'`,
        [by, now, id],
      );
      return changed === 1;
    },
    async reject(id, by, reason, now) {
      const changed = await db.run(
        `UPDATE outbound_messages SET state = 'rejected', rejected_by = $1, rejected_at = $2, reject_reason = $3, updated_at = $2
         WHERE id = $4 AND state = 'pending_approval'`,
        [by, now, reason, id],
      );
      return changed === 1;
    },
    async listByState(workspaceId, state, limit) {
      const rows = await db.all<OutboundRow>(
        'SELECT * FROM outbound_messages WHERE workspace_id = $1 AND state = $2 ORDER BY created_at, id LIMIT $3',
        [workspaceId, state, limit],
      );
      return rows.map(toOutbound);
    },
    async list({ workspaceId, to, since, limit }) {
      // Newest first. SQLite orders by rowid (insertion order); here the creation time (then the id) stands for it,
      // which outbound_by_created (workspace_id, created_at) serves.
      const params: unknown[] = [workspaceId];
      const where = ['workspace_id = $1'];
      if (to) where.push(`recipient = $${params.push(to)}`);
      if (since) where.push(`created_at >= $${params.push(since)}`);
      const rows = await db.all<OutboundRow>(
        `SELECT * FROM outbound_messages WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.push(limit)}`,
        params,
      );
      return rows.map(toOutbound);
    },
    async timeline(integrationId, wamid) {
      const rows = await db.all<{
        status: string;
        occurred_at: string;
        received_at: string;
        error_code: number | null;
        error_title: string | null;
        error_details: string | null;
      }>(
        `SELECT status, occurred_at, received_at, error_code, error_title, error_details FROM message_statuses
         WHERE integration_id = $1 AND wamid = $2 ORDER BY occurred_at, CASE status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 4 END`,
        [integrationId, wamid],
      );
      return rows.map((row) => ({
        status: row.status,
        occurredAt: row.occurred_at,
        receivedAt: row.received_at,
        errorCode: row.error_code,
        errorTitle: row.error_title,
        errorDetails: row.error_details,
      }));
    },
    async markAccepted(id, wamid, now) {
      await db.tx(async (client) => {
        await lockWamids(client, [wamid]);
        // A status webhook may arrive before Meta's HTTP answer is recorded: keep the state it already set.
        await client.query(
          `UPDATE outbound_messages SET wamid = $1, updated_at = $2,
             state = CASE WHEN state IN ('queued', 'sending') THEN 'accepted' ELSE state END
           WHERE id = $3`,
          [wamid, now, id],
        );
        // Statuses that arrived before this answer (Meta can be that fast) still count…
        const { rows: statuses } = await client.query<{ status: string; error_code: number | null; error_title: string | null; error_details: string | null }>(
          // (A message's statuses are the ones its own number's webhook delivered.)
          'SELECT status, error_code, error_title, error_details FROM message_statuses WHERE wamid = $1 AND integration_id = (SELECT integration_id FROM outbound_messages WHERE id = $2)',
          [wamid, id],
        );
        const best = statuses.sort((a, b) => statusRank(b.status) - statusRank(a.status))[0];
        // …and so does the pricing they carried (the latest status with one).
        const { rows: priced } = await client.query<{ pricing: string }>(
          `SELECT (raw::jsonb -> 'pricing')::text AS pricing FROM message_statuses
            WHERE wamid = $1 AND integration_id = (SELECT integration_id FROM outbound_messages WHERE id = $2) AND jsonb_typeof(raw::jsonb -> 'pricing') = 'object'
            ORDER BY received_at DESC, occurred_at DESC LIMIT 1`,
          [wamid, id],
        );
        if (priced[0]) {
          const p = pricingColumns(JSON.parse(priced[0].pricing) as Record<string, unknown>);
          await client.query(
            `UPDATE outbound_messages SET pricing_model = COALESCE($1, pricing_model), pricing_category = COALESCE($2, pricing_category),
               pricing_type = COALESCE($3, pricing_type), billable = COALESCE($4::integer, billable) WHERE id = $5`,
            [p.model, p.category, p.type, p.billable, id],
          );
        }
        if (best && statusRank(best.status) > 0) {
          await client.query(
            `UPDATE outbound_messages SET state = $1, updated_at = $2,
               error_code = COALESCE($3::integer, error_code), error_title = COALESCE($4, error_title),
               error_details = COALESCE($5, error_details)
             WHERE id = $6`,
            [best.status, now, best.error_code, best.error_title, best.error_details, id],
          );
        }
      });
    },
    async markFailed(id, error, now) {
      await db.run(
        `UPDATE outbound_messages SET state = 'failed', error_code = $1, error_title = $2,
           error_details = $3, fbtrace_id = $4, updated_at = $5 WHERE id = $6`,
        [error.code, error.title, error.details, error.fbtraceId, now, id],
      );
    },
    async abandonQueued(id, title, now) {
      const changed = await db.run(
        `UPDATE outbound_messages SET state = 'failed', error_code = NULL, error_title = $1, error_details = NULL, fbtrace_id = NULL,
           updated_at = $2 WHERE id = $3 AND state = 'queued'`,
        [title, now, id],
      );
      return changed === 1;
    },
    async findById(id) {
      return one('SELECT * FROM outbound_messages WHERE id = $1', [id]);
    },
    async findByWamid(wamid) {
      return one('SELECT * FROM outbound_messages WHERE wamid = $1', [wamid]);
    },
  };
}
