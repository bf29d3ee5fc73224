import type { Database } from '../db.js';
import { statusRank } from './statuses.js';
import type { OutboundMessage, OutboundRepo } from '../types.js';

export interface OutboundRow {
  id: string;
  workspace_id: string;
  integration_id: string;
  wamid: string | null;
  recipient: string;
  recipient_kind: string;
  kind: string;
  body: string;
  state: string;
  error_code: number | null;
  error_title: string | null;
  error_details: string | null;
  fbtrace_id: string | null;
  source: string;
  in_reply_to: string | null;
  idempotency_key: string | null;
  template_name: string | null;
  template_language: string | null;
  force_window: number;
  approved_by: string | null;
  approved_at: string | null;
  rejected_by: string | null;
  rejected_at: string | null;
  reject_reason: string | null;
  attempts: number;
  created_at: string;
  updated_at: string;
  pricing_model?: string | null;
  pricing_category?: string | null;
  pricing_type?: string | null;
  billable?: number | null;
  previous_texts?: string | null;
  deleted_at?: string | null;
}

export const toOutbound = (row: OutboundRow): OutboundMessage => ({
  id: row.id,
  workspaceId: row.workspace_id,
  integrationId: row.integration_id,
  wamid: row.wamid,
  recipient: row.recipient,
  recipientKind: row.recipient_kind === 'user_id' ? 'user_id' : 'phone',
  kind: row.kind,
  body: JSON.parse(row.body),
  state: row.state as OutboundMessage['state'],
  errorCode: row.error_code,
  errorTitle: row.error_title,
  errorDetails: row.error_details,
  fbtraceId: row.fbtrace_id,
  source: row.source,
  inReplyTo: row.in_reply_to,
  idempotencyKey: row.idempotency_key,
  templateName: row.template_name,
  templateLanguage: row.template_language,
  forceWindow: row.force_window === 1,
  approvedBy: row.approved_by,
  approvedAt: row.approved_at,
  rejectedBy: row.rejected_by,
  rejectedAt: row.rejected_at,
  rejectReason: row.reject_reason,
  attempts: row.attempts,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  pricing:
    row.pricing_model || row.pricing_category || row.pricing_type || (row.billable !== null && row.billable !== undefined)
      ? {
          model: row.pricing_model ?? null,
          category: row.pricing_category ?? null,
          type: row.pricing_type ?? null,
          billable: row.billable === null || row.billable === undefined ? null : row.billable === 1,
        }
      : null,
  previousTexts: row.previous_texts ? (JSON.parse(row.previous_texts) as Array<{ text: string; at: string }>) : [],
  deletedAt: row.deleted_at ?? null,
});

/** A status's `pricing` object as outbound_messages' columns (category lower-case, billable 0/1). */
export function pricingColumns(p: Record<string, unknown>): { model: string | null; category: string | null; type: string | null; billable: number | null } {
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
  return {
    model: text(p.pricing_model),
    category: text(p.category)?.toLowerCase() ?? null,
    type: text(p.type),
    billable: typeof p.billable === 'boolean' ? (p.billable ? 1 : 0) : null,
  };
}

export function createOutboundRepo(db: Database): OutboundRepo {
  // A key already taken is not an error: the caller reads the row that holds it (ON CONFLICT names the partial index).
  const insert = db.prepare(
    `INSERT INTO outbound_messages (id, workspace_id, integration_id, wamid, recipient, recipient_kind, kind, body, state, error_code,
       error_title, error_details, fbtrace_id, source, in_reply_to, idempotency_key, template_name, template_language,
       force_window, approved_by, approved_at, rejected_by, rejected_at, reject_reason, attempts, created_at, updated_at)
     VALUES (@id, @workspaceId, @integrationId, @wamid, @recipient, @recipientKind, @kind, @body, @state, @errorCode, @errorTitle,
       @errorDetails, @fbtraceId, @source, @inReplyTo, @idempotencyKey, @templateName, @templateLanguage,
       @forceWindow, @approvedBy, @approvedAt, @rejectedBy, @rejectedAt, @rejectReason, @attempts, @createdAt, @updatedAt)
     ON CONFLICT (integration_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`,
  );
  // A status webhook may arrive before Meta's HTTP answer is recorded: keep the state it already set.
  const accepted = db.prepare(
    `UPDATE outbound_messages SET wamid = @wamid, updated_at = @now,
       state = CASE WHEN state IN ('queued', 'sending') THEN 'accepted' ELSE state END
     WHERE id = @id`,
  );
  const failed = db.prepare(
    `UPDATE outbound_messages SET state = 'failed', error_code = @code, error_title = @title,
       error_details = @details, fbtrace_id = @fbtraceId, updated_at = @now WHERE id = @id`,
  );
  const byId = db.prepare<[string], OutboundRow>('SELECT * FROM outbound_messages WHERE id = ?');
  const byWamid = db.prepare<[string], OutboundRow>('SELECT * FROM outbound_messages WHERE wamid = ?');
  // (A message's statuses are the ones its own number's webhook delivered.)
  const statusesFor = db.prepare<[string, string], { status: string; error_code: number | null; error_title: string | null; error_details: string | null }>(
    `SELECT status, error_code, error_title, error_details FROM message_statuses
      WHERE wamid = ? AND integration_id = (SELECT integration_id FROM outbound_messages WHERE id = ?)`,
  );
  const applyStatus = db.prepare(
    `UPDATE outbound_messages SET state = @status, updated_at = @now,
       error_code = COALESCE(@errorCode, error_code), error_title = COALESCE(@errorTitle, error_title),
       error_details = COALESCE(@errorDetails, error_details)
     WHERE id = @id`,
  );
  const rank = statusRank;
  const pricingOf = db
    .prepare<[string, string], string>(
      `SELECT json_extract(raw, '$.pricing') FROM message_statuses
        WHERE wamid = ? AND integration_id = (SELECT integration_id FROM outbound_messages WHERE id = ?) AND json_type(raw, '$.pricing') = 'object'
        ORDER BY received_at DESC, occurred_at DESC LIMIT 1`,
    )
    .pluck();
  const earlierPricing = {
    get(wamid: string, id: string) {
      const json = pricingOf.get(wamid, id);
      return typeof json === 'string' ? pricingColumns(JSON.parse(json) as Record<string, unknown>) : undefined;
    },
  };
  const applyPricing = db.prepare(
    `UPDATE outbound_messages SET pricing_model = COALESCE(?, pricing_model), pricing_category = COALESCE(?, pricing_category),
       pricing_type = COALESCE(?, pricing_type), billable = COALESCE(?, billable) WHERE id = ?`,
  );
  const byKey = db.prepare<[string, string], OutboundRow>(
    'SELECT * FROM outbound_messages WHERE integration_id = ? AND idempotency_key = ?',
  );
  // The claim: one conditional UPDATE, so of any number of processes exactly one moves it to 'sending' and calls Meta.
  const claim = db.prepare<[string, string], OutboundRow>(
    `UPDATE outbound_messages SET state = 'sending', attempts = attempts + 1, error_code = NULL, error_title = NULL,
       error_details = NULL, fbtrace_id = NULL, updated_at = ?
     WHERE id = ? AND state IN ('queued', 'failed') RETURNING *`,
  );
  // The WHERE on state makes approving or rejecting happen once, even when two people try at the same time.
  const approve = db.prepare(
    `UPDATE outbound_messages SET state = 'queued', approved_by = ?, approved_at = ?, updated_at = ?
     WHERE id = ? AND state = 'pending_approval'`,
  );
  const reject = db.prepare(
    `UPDATE outbound_messages SET state = 'rejected', rejected_by = ?, rejected_at = ?, reject_reason = ?, updated_at = ?
     WHERE id = ? AND state = 'pending_approval'`,
  );
  const byState = db.prepare<[string, string, number], OutboundRow>(
    'SELECT * FROM outbound_messages WHERE workspace_id = ? AND state = ? ORDER BY created_at LIMIT ?',
  );
  const timeline = db.prepare<
    [string, string],
    { status: string; occurred_at: string; received_at: string; error_code: number | null; error_title: string | null; error_details: string | null }
  >(
    `SELECT status, occurred_at, received_at, error_code, error_title, error_details FROM message_statuses
     WHERE integration_id = ? AND wamid = ? ORDER BY occurred_at, CASE status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 4 END`,
  );

  return {
    async insertOrFind(message) {
      const { pricing: _pricing, previousTexts: _previous, deletedAt: _deleted, ...fields } = message;
      const row = { ...fields, body: JSON.stringify(message.body), forceWindow: message.forceWindow ? 1 : 0 };
      if (insert.run(row).changes === 1) return { message, created: true };
      const holder = message.idempotencyKey ? byKey.get(message.integrationId, message.idempotencyKey) : undefined;
      if (!holder) throw new Error(`outbound message ${message.id} was neither inserted nor found by its key`);
      return { message: toOutbound(holder), created: false };
    },
    async findByIdempotencyKey(integrationId, key) {
      const row = byKey.get(integrationId, key);
      return row ? toOutbound(row) : undefined;
    },
    async claimForSending(id, now) {
      const row = claim.get(now, id);
      return row ? toOutbound(row) : undefined;
    },
    async approve(id, by, now) {
      return approve.run(by, now, now, id).changes === 1;
    },
    async reject(id, by, reason, now) {
      return reject.run(by, now, reason, now, id).changes === 1;
    },
    async listByState(workspaceId, state, limit) {
      return byState.all(workspaceId, state, limit).map(toOutbound);
    },
    async list({ workspaceId, to, since, limit }) {
      // Newest first by rowid (insertion order): the scan stops after `limit` rows of the workspace.
      const where = ['workspace_id = @workspaceId'];
      if (to) where.push('recipient = @to');
      if (since) where.push('created_at >= @since');
      return db
        .prepare<Record<string, unknown>, OutboundRow>(
          `SELECT * FROM outbound_messages WHERE ${where.join(' AND ')} ORDER BY rowid DESC LIMIT @limit`,
        )
        .all({ workspaceId, to, since, limit })
        .map(toOutbound);
    },
    async timeline(integrationId, wamid) {
      return timeline.all(integrationId, wamid).map((row) => ({
        status: row.status,
        occurredAt: row.occurred_at,
        receivedAt: row.received_at,
        errorCode: row.error_code,
        errorTitle: row.error_title,
        errorDetails: row.error_details,
      }));
    },
    async markAccepted(id, wamid, now) {
      db.transaction(() => {
        accepted.run({ id, wamid, now });
        // Statuses that arrived before this answer (Meta can be that fast) still count.
        const best = statusesFor
          .all(wamid, id)
          .sort((a, b) => rank(b.status) - rank(a.status))[0];
        // …and so does the pricing they carried (the latest status with one).
        const priced = earlierPricing.get(wamid, id);
        if (priced) {
          applyPricing.run(priced.model, priced.category, priced.type, priced.billable, id);
        }
        if (best && rank(best.status) > 0) {
          applyStatus.run({
            id,
            now,
            status: best.status,
            errorCode: best.error_code,
            errorTitle: best.error_title,
            errorDetails: best.error_details,
          });
        }
      })();
    },
    async markFailed(id, error, now) {
      failed.run({ id, now, ...error });
    },
    async abandonQueued(id, title, now) {
      return (
        db
          .prepare(
            `UPDATE outbound_messages SET state = 'failed', error_code = NULL, error_title = ?, error_details = NULL, fbtrace_id = NULL,
               updated_at = ? WHERE id = ? AND state = 'queued'`,
          )
          .run(title, now, id).changes === 1
      );
    },
    async findById(id) {
      const row = byId.get(id);
      return row ? toOutbound(row) : undefined;
    },
    async findByWamid(wamid) {
      const row = byWamid.get(wamid);
      return row ? toOutbound(row) : undefined;
    },
  };
}
