import { createHash } from 'node:crypto';
import type { Database } from '../db.js';
import type { IngestJob, NewChange } from '../types.js';

/** The `object` of each change's document (what `--events` names and the user's code reads). */
export const CHANGE_OBJECTS = {
  template: 'template',
  account: 'account',
  preference: 'preferences',
  echo: 'echo',
  edit: 'edit',
  revoke: 'revoke',
} as const;

/** A change's `webhook_events` row (workspace, integration, object, field, doc, received, forward state, next attempt): one for both stores. */
export function webhookEventValues(job: IngestJob, change: NewChange): [string, string, string, string, string, string, string | null, string | null] {
  return [
    job.workspaceId,
    change.integrationId,
    CHANGE_OBJECTS[change.change.kind],
    change.change.field,
    JSON.stringify(change.doc),
    job.receivedAt,
    change.forward ? 'pending' : null,
    change.forward ? job.receivedAt : null,
  ];
}

/** Outbound ids of messages sent from the WhatsApp Business app: derived from the wamid, so a redelivery is a no-op. */
export const echoId = (wamid: string): string => `msg_app_${createHash('sha256').update(wamid).digest('hex').slice(0, 24)}`;

/**
 * Applies the non-message changes of a delivery, inside the inbox's group commit (the transaction that acknowledges
 * it), and logs each one (`webhook_events`), queued for the user's code when `--events` asked for its object.
 */
/** The change is not older than the last of its field applied to the row (`@table`'s event_times). */
const FRESH = `(@eventAt IS NULL OR json_extract(@table.event_times, '$.' || @field) IS NULL OR json_extract(@table.event_times, '$.' || @field) <= @eventAt)`;
/** Records when the change of this field happened (left as it was when Meta gave no time). */
const EVENT_TIMES_SET = `event_times = CASE WHEN @eventAt IS NULL THEN event_times ELSE json_set(COALESCE(event_times, '{}'), '$.' || @field, @eventAt) END`;

export function createChangeWriter(db: Database) {
  const log = db.prepare(
    `INSERT INTO webhook_events (workspace_id, integration_id, object, field, doc, received_at, forward_state, next_attempt_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const templatesOf = db.prepare<[string, string | null, string | null, string | null], { name: string; language: string; raw: string }>(
    `SELECT name, language, raw FROM templates WHERE integration_id = ? AND (template_id = ? OR (name = ? AND language = ?))`,
  );
  // A change older than the last one of its field applied (event_times) is stale: it changes nothing.
  const updateTemplate = db.prepare(
    `UPDATE templates SET status = COALESCE(@status, status),
       status_reason = CASE WHEN @status IS NULL THEN status_reason ELSE @reason END,
       category = COALESCE(@category, category), quality_score = COALESCE(@quality, quality_score),
       raw = @raw, webhook_updated_at = @at, ${EVENT_TIMES_SET}
     WHERE integration_id = @integrationId AND name = @name AND language = @language AND ${FRESH.replaceAll('@table', 'templates')}`,
  );
  const accountFacts = db.prepare(
    `INSERT INTO account_facts (integration_id, workspace_id, quality_rating, messaging_limit, restriction, account_event,
       coexistence, capability, updated_at, event_times)
     VALUES (@integrationId, @workspaceId, @quality, @limit, @restriction, @event, @coexistence, @capability, @at,
       CASE WHEN @eventAt IS NULL THEN NULL ELSE json_object(@field, @eventAt) END)
     ON CONFLICT (integration_id) DO UPDATE SET
       quality_rating = COALESCE(excluded.quality_rating, account_facts.quality_rating),
       messaging_limit = COALESCE(excluded.messaging_limit, account_facts.messaging_limit),
       restriction = CASE WHEN @field = 'account_update' AND @event IS NOT NULL THEN excluded.restriction ELSE account_facts.restriction END,
       account_event = COALESCE(excluded.account_event, account_facts.account_event),
       coexistence = COALESCE(excluded.coexistence, account_facts.coexistence),
       capability = COALESCE(excluded.capability, account_facts.capability),
       updated_at = excluded.updated_at, ${EVENT_TIMES_SET}
     WHERE ${FRESH.replaceAll('@table', 'account_facts')}`,
  );
  const preference = db.prepare(
    `INSERT INTO contact_preferences (integration_id, contact_id, workspace_id, category, value, detail, occurred_at, received_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (integration_id, contact_id, category) DO UPDATE SET value = excluded.value, detail = excluded.detail,
       occurred_at = excluded.occurred_at, received_at = excluded.received_at
     WHERE excluded.occurred_at >= contact_preferences.occurred_at`,
  );
  const echo = db.prepare(
    `INSERT INTO outbound_messages (id, workspace_id, integration_id, wamid, recipient, recipient_kind, kind, body, state,
       source, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'sent', 'business_app', ?, ?)
     ON CONFLICT DO NOTHING`,
  );
  const editInbound = db.prepare(
    `UPDATE interactions SET
       previous_texts = json_insert(COALESCE(previous_texts, '[]'), '$[#]', json_object('text', text, 'at', @at)),
       text = @text
     WHERE integration_id = @integrationId AND wamid = @wamid AND text != @text`,
  );
  const outboundByWamid = db.prepare<[string, string], { id: string; body: string; kind: string }>(
    'SELECT id, body, kind FROM outbound_messages WHERE integration_id = ? AND wamid = ?',
  );
  const editOutbound = db.prepare(
    `UPDATE outbound_messages SET
       previous_texts = json_insert(COALESCE(previous_texts, '[]'), '$[#]', json_object('text', @previous, 'at', @at)),
       body = @body, updated_at = @at
     WHERE id = @id`,
  );
  const revokeInbound = db.prepare(
    'UPDATE interactions SET deleted_at = COALESCE(deleted_at, ?) WHERE integration_id = ? AND wamid = ?',
  );
  const revokeOutbound = db.prepare(
    'UPDATE outbound_messages SET deleted_at = COALESCE(deleted_at, ?), updated_at = ? WHERE integration_id = ? AND wamid = ?',
  );

  function apply(job: IngestJob, { integrationId, change }: NewChange): boolean {
    const at = job.receivedAt;
    switch (change.kind) {
      case 'template': {
        let changed = false;
        for (const row of templatesOf.all(integrationId, change.templateId, change.name, change.language)) {
          const raw = JSON.parse(row.raw) as Record<string, unknown>;
          if (change.status) raw.status = change.status;
          if (change.category) raw.category = change.category;
          if (change.quality) raw.quality_score = { score: change.quality };
          if (change.components) applyComponents(raw, change.components);
          const result = updateTemplate.run({
            integrationId,
            name: row.name,
            language: row.language,
            status: change.status,
            reason: change.status === 'APPROVED' ? null : change.reason,
            category: change.category,
            quality: change.quality,
            raw: JSON.stringify(raw),
            at,
            field: change.field,
            eventAt: change.eventAt,
          });
          changed ||= result.changes > 0;
        }
        return changed;
      }
      case 'account':
        return accountFacts.run({
          integrationId,
          workspaceId: job.workspaceId,
          field: change.field,
          quality: change.qualityRating,
          limit: change.messagingLimit,
          restriction: change.restriction,
          event: change.event,
          coexistence: change.coexistence === null ? null : change.coexistence ? 1 : 0,
          capability: change.capability ? JSON.stringify(change.capability) : null,
          at,
          eventAt: change.eventAt,
        }).changes > 0;
      case 'preference':
        return (
          preference.run(integrationId, change.contact, job.workspaceId, change.category, change.value, change.detail, change.timestamp, at)
            .changes > 0
        );
      case 'echo': {
        const toUser = /^[A-Z]{2}\./.test(change.to);
        const result = echo.run(
          echoId(change.wamid),
          job.workspaceId,
          integrationId,
          change.wamid,
          change.to,
          toUser ? 'user_id' : 'phone',
          change.type,
          JSON.stringify(change.raw),
          change.timestamp,
          at,
        );
        return result.changes > 0;
      }
      case 'edit': {
        const text = change.text ?? '';
        if (editInbound.run({ integrationId, wamid: change.originalWamid, text, at }).changes > 0) return true;
        const sent = outboundByWamid.get(integrationId, change.originalWamid);
        if (!sent) return false;
        const body = JSON.parse(sent.body) as Record<string, unknown>;
        const previous = textOf(body);
        if (previous === text) return false;
        editOutbound.run({ id: sent.id, previous: previous ?? '', body: JSON.stringify(withText(body, text)), at });
        return true;
      }
      case 'revoke': {
        const inbound = revokeInbound.run(at, integrationId, change.originalWamid).changes;
        const outbound = revokeOutbound.run(at, at, integrationId, change.originalWamid).changes;
        return inbound + outbound > 0;
      }
    }
  }

  return {
    /** Applies the change and logs it; true when it changed something (a redelivery usually does not). */
    record(job: IngestJob, change: NewChange): boolean {
      const changed = apply(job, change);
      log.run(...webhookEventValues(job, change));
      return changed;
    },
    /** A status's document queued for the user's code. */
    queueStatus(job: IngestJob, integrationId: string, doc: Record<string, unknown>): void {
      log.run(job.workspaceId, integrationId, 'status', 'messages', JSON.stringify(doc), job.receivedAt, 'pending', job.receivedAt);
    },
  };
}

/** The text of a stored message body (`text.body`, or a caption), if it has one. */
export function textOf(body: Record<string, unknown>): string | null {
  for (const key of ['text', 'image', 'video', 'document']) {
    const part = body[key];
    if (part !== null && typeof part === 'object' && !Array.isArray(part)) {
      const value = (part as Record<string, unknown>)[key === 'text' ? 'body' : 'caption'];
      if (typeof value === 'string') return value;
    }
  }
  return null;
}

/**
 * The body with its text replaced where that kind of message keeps it (`text.body`, or a media's caption), as an
 * edit changes it; a message without text (a sticker, a location…) is returned as it is. A copy: `body` is left alone.
 */
export function withText(body: Record<string, unknown>, text: string): Record<string, unknown> {
  const copy = structuredClone(body);
  const type = typeof copy.type === 'string' ? copy.type : 'text';
  if (!['text', 'image', 'video', 'document'].includes(type)) return copy;
  const field = type === 'text' ? 'body' : 'caption';
  const part = copy[type];
  if (part !== null && typeof part === 'object' && !Array.isArray(part)) {
    // No caption is no caption field (a media sent without one, or its caption removed), never `caption: ""`.
    if (text === '' && field === 'caption') delete (part as Record<string, unknown>).caption;
    else (part as Record<string, unknown>)[field] = text;
  } else copy[type] = { [field]: text };
  return copy;
}

/** message_template_components_update: the new body, header, footer and buttons written into the synced template. */
export function applyComponents(raw: Record<string, unknown>, components: Record<string, unknown>): void {
  const list = Array.isArray(raw.components) ? (raw.components as Array<Record<string, unknown>>) : [];
  const set = (type: string, key: string, value: unknown) => {
    if (value === undefined) return;
    const found = list.find((c) => c && typeof c === 'object' && String(c.type).toUpperCase() === type);
    if (found) found[key] = value;
    else list.push({ type, [key]: value });
  };
  set('BODY', 'text', components.element);
  set('HEADER', 'text', components.title);
  set('FOOTER', 'text', components.footer);
  if (Array.isArray(components.buttons)) set('BUTTONS', 'buttons', components.buttons);
  raw.components = list;
}
