import { applyComponents, echoId, textOf, webhookEventValues, withText } from '../../repos/changes.js';
import type { IngestJob, NewChange } from '../../types.js';
import type { PgQueryable } from '../db.js';

/**
 * The non-message changes of a delivery on PostgreSQL, inside the inbox's transaction (as src/store/repos/changes.ts
 * does on SQLite): applied, and logged in `webhook_events`, queued for the user's code when `--events` asked for its
 * object. Rows read to be rewritten (a template's JSON, an edited message's texts) are locked while read.
 * True when the change changed something (a redelivery usually does not).
 */
export async function recordChange(client: PgQueryable, job: IngestJob, change: NewChange): Promise<boolean> {
  const changed = await applyChange(client, job, change);
  await client.query(
    `INSERT INTO webhook_events (workspace_id, integration_id, object, field, doc, received_at, forward_state, next_attempt_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    webhookEventValues(job, change),
  );
  return changed;
}

/** Status documents queued for the user's code, in one INSERT, in the order given. */
export async function queueStatusDocs(
  client: PgQueryable,
  docs: Array<{ job: IngestJob; integrationId: string; doc: Record<string, unknown> }>,
): Promise<void> {
  if (docs.length === 0) return;
  await client.query(
    `INSERT INTO webhook_events (workspace_id, integration_id, object, field, doc, received_at, forward_state, next_attempt_at)
     SELECT workspace_id, integration_id, 'status', 'messages', doc, received_at, 'pending', received_at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
            AS t(workspace_id, integration_id, doc, received_at, ord)
      ORDER BY ord`,
    [
      docs.map((d) => d.job.workspaceId),
      docs.map((d) => d.integrationId),
      docs.map((d) => JSON.stringify(d.doc)),
      docs.map((d) => d.job.receivedAt),
    ],
  );
}

/** The change is not older than the last of its field applied to the row (its event_times). */
function fresh(table: string, field: string, eventAt: string): string {
  return `(${eventAt}::text IS NULL OR (${table}.event_times::jsonb ->> ${field}::text) IS NULL OR (${table}.event_times::jsonb ->> ${field}::text) <= ${eventAt}::text)`;
}

/** Records when the change of this field happened (left as it was when Meta gave no time). */
function eventTimesSet(field: string, eventAt: string, qualified = ''): string {
  return `event_times = CASE WHEN ${eventAt}::text IS NULL THEN ${qualified}event_times
    ELSE jsonb_set(COALESCE(${qualified}event_times::jsonb, '{}'::jsonb), ARRAY[${field}::text], to_jsonb(${eventAt}::text))::text END`;
}

async function applyChange(client: PgQueryable, job: IngestJob, { integrationId, change }: NewChange): Promise<boolean> {
  const at = job.receivedAt;
  switch (change.kind) {
    case 'template': {
      const { rows } = await client.query<{ name: string; language: string; raw: string }>(
        `SELECT name, language, raw FROM templates
          WHERE integration_id = $1 AND (template_id = $2 OR (name = $3 AND language = $4))
          ORDER BY name, language FOR UPDATE`,
        [integrationId, change.templateId, change.name, change.language],
      );
      let changed = false;
      for (const row of rows) {
        const raw = JSON.parse(row.raw) as Record<string, unknown>;
        if (change.status) raw.status = change.status;
        if (change.category) raw.category = change.category;
        if (change.quality) raw.quality_score = { score: change.quality };
        if (change.components) applyComponents(raw, change.components);
        const { rowCount } = await client.query(
          `UPDATE templates SET status = COALESCE($4::text, status),
             status_reason = CASE WHEN $4::text IS NULL THEN status_reason ELSE $5::text END,
             category = COALESCE($6::text, category), quality_score = COALESCE($7::text, quality_score),
             raw = $8, webhook_updated_at = $9, ${eventTimesSet('$10', '$11')}
           WHERE integration_id = $1 AND name = $2 AND language = $3 AND ${fresh('templates', '$10', '$11')}`,
          [
            integrationId,
            row.name,
            row.language,
            change.status,
            change.status === 'APPROVED' ? null : change.reason,
            change.category,
            change.quality,
            JSON.stringify(raw),
            at,
            change.field,
            change.eventAt,
          ],
        );
        changed ||= (rowCount ?? 0) > 0;
      }
      return changed;
    }
    case 'account': {
      const { rowCount } = await client.query(
        `INSERT INTO account_facts (integration_id, workspace_id, quality_rating, messaging_limit, restriction,
           account_event, coexistence, capability, updated_at, event_times)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
           CASE WHEN $11::text IS NULL THEN NULL ELSE jsonb_build_object($10::text, $11::text)::text END)
         ON CONFLICT (integration_id) DO UPDATE SET
           quality_rating = COALESCE(excluded.quality_rating, account_facts.quality_rating),
           messaging_limit = COALESCE(excluded.messaging_limit, account_facts.messaging_limit),
           restriction = CASE WHEN $10::text = 'account_update' AND $6::text IS NOT NULL THEN excluded.restriction
                              ELSE account_facts.restriction END,
           account_event = COALESCE(excluded.account_event, account_facts.account_event),
           coexistence = COALESCE(excluded.coexistence, account_facts.coexistence),
           capability = COALESCE(excluded.capability, account_facts.capability),
           updated_at = excluded.updated_at, ${eventTimesSet('$10', '$11', 'account_facts.')}
         WHERE ${fresh('account_facts', '$10', '$11')}`,
        [
          integrationId,
          job.workspaceId,
          change.qualityRating,
          change.messagingLimit,
          change.restriction,
          change.event,
          change.coexistence === null ? null : change.coexistence ? 1 : 0,
          change.capability ? JSON.stringify(change.capability) : null,
          at,
          change.field,
          change.eventAt,
        ],
      );
      return (rowCount ?? 0) > 0;
    }
    case 'preference': {
      const { rowCount } = await client.query(
        `INSERT INTO contact_preferences (integration_id, contact_id, workspace_id, category, value, detail, occurred_at,
           received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (integration_id, contact_id, category) DO UPDATE SET value = excluded.value,
           detail = excluded.detail, occurred_at = excluded.occurred_at, received_at = excluded.received_at
         WHERE excluded.occurred_at >= contact_preferences.occurred_at`,
        [integrationId, change.contact, job.workspaceId, change.category, change.value, change.detail, change.timestamp, at],
      );
      return (rowCount ?? 0) > 0;
    }
    case 'echo': {
      const toUser = /^[A-Z]{2}\./.test(change.to);
      const { rowCount } = await client.query(
        `INSERT INTO outbound_messages (id, workspace_id, integration_id, wamid, recipient, recipient_kind, kind, body,
           state, source, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'sent', 'business_app', $9, $10)
         ON CONFLICT DO NOTHING`,
        [
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
        ],
      );
      return (rowCount ?? 0) > 0;
    }
    case 'edit': {
      const text = change.text ?? '';
      // An inbound message: its earlier text joins previous_texts. Else a message lumen (or the app) sent.
      const { rows: inbound } = await client.query<{ seq: number; text: string; previous_texts: string | null }>(
        'SELECT seq, text, previous_texts FROM interactions WHERE integration_id = $1 AND wamid = $2 FOR UPDATE',
        [integrationId, change.originalWamid],
      );
      const message = inbound[0];
      if (message && message.text !== text) {
        await client.query('UPDATE interactions SET previous_texts = $2, text = $3 WHERE seq = $1', [
          message.seq,
          appendPrevious(message.previous_texts, message.text, at),
          text,
        ]);
        return true;
      }
      const { rows: sent } = await client.query<{ id: string; body: string; previous_texts: string | null }>(
        'SELECT id, body, previous_texts FROM outbound_messages WHERE integration_id = $1 AND wamid = $2 FOR UPDATE',
        [integrationId, change.originalWamid],
      );
      const row = sent[0];
      if (!row) return false;
      const body = JSON.parse(row.body) as Record<string, unknown>;
      const previous = textOf(body);
      if (previous === text) return false;
      await client.query('UPDATE outbound_messages SET previous_texts = $2, body = $3, updated_at = $4 WHERE id = $1', [
        row.id,
        appendPrevious(row.previous_texts, previous ?? '', at),
        JSON.stringify(withText(body, text)),
        at,
      ]);
      return true;
    }
    case 'revoke': {
      const inbound = await client.query(
        'UPDATE interactions SET deleted_at = COALESCE(deleted_at, $1) WHERE integration_id = $2 AND wamid = $3',
        [at, integrationId, change.originalWamid],
      );
      const outbound = await client.query(
        `UPDATE outbound_messages SET deleted_at = COALESCE(deleted_at, $1), updated_at = $2
          WHERE integration_id = $3 AND wamid = $4`,
        [at, at, integrationId, change.originalWamid],
      );
      return (inbound.rowCount ?? 0) + (outbound.rowCount ?? 0) > 0;
    }
  }
}

/** `previous_texts` with one more `{text, at}` at the end (JSON text, as on SQLite). */
function appendPrevious(previousTexts: string | null, text: string, at: string): string {
  const list = previousTexts ? (JSON.parse(previousTexts) as unknown[]) : [];
  list.push({ text, at });
  return JSON.stringify(list);
}
