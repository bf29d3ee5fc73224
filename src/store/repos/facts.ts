import type { Database } from '../db.js';

/** The number's account facts, as the latest webhooks told them. */
export interface AccountFacts {
  integrationId: string;
  qualityRating: string | null;
  messagingLimit: string | null;
  restriction: string | null;
  accountEvent: string | null;
  /** On the WhatsApp Business app too (coexistence): null when no webhook said. */
  coexistence: boolean | null;
  updatedAt: string;
}

export interface ContactPreference {
  integrationId: string;
  contactId: string;
  category: string;
  value: string;
  detail: string | null;
  occurredAt: string;
}

/** Sent messages by pricing category over a period: what `lumen usage` shows. */
export interface UsageRow {
  category: string;
  sent: number;
  delivered: number;
  read: number;
  failed: number;
  billable: number;
  total: number;
}

/** One logged non-message event (template, account, preferences, echo, edit, revoke, forwarded status). */
export interface LoggedEvent {
  id: number;
  integrationId: string;
  object: string;
  field: string;
  doc: Record<string, unknown>;
  receivedAt: string;
}

export interface FactsRepo {
  accountFacts(integrationId: string): Promise<AccountFacts | undefined>;
  /** The latest preference of a contact (by phone or user id) for a category, e.g. `marketing_messages`. */
  preference(integrationId: string, contactId: string, category: string): Promise<ContactPreference | undefined>;
  /** Every contact's preferences in a workspace. */
  preferences(workspaceId: string): Promise<ContactPreference[]>;
  usage(workspaceId: string, since: string): Promise<UsageRow[]>;
  eventsAfter(workspaceId: string, afterId: number, limit: number): Promise<LoggedEvent[]>;
}

export const toPreference = (row: Record<string, unknown>): ContactPreference => ({
  integrationId: String(row.integration_id),
  contactId: String(row.contact_id),
  category: String(row.category),
  value: String(row.value),
  detail: (row.detail as string | null) ?? null,
  occurredAt: String(row.occurred_at),
});

export const toAccountFacts = (integrationId: string, row: Record<string, unknown>): AccountFacts => ({
  integrationId,
  qualityRating: (row.quality_rating as string | null) ?? null,
  messagingLimit: (row.messaging_limit as string | null) ?? null,
  restriction: (row.restriction as string | null) ?? null,
  accountEvent: (row.account_event as string | null) ?? null,
  coexistence: row.coexistence === null || row.coexistence === undefined ? null : row.coexistence === 1,
  updatedAt: String(row.updated_at),
});

export const toLoggedEvent = (row: Record<string, unknown>): LoggedEvent => ({
  id: Number(row.id),
  integrationId: String(row.integration_id),
  object: String(row.object),
  field: String(row.field),
  doc: JSON.parse(String(row.doc)) as Record<string, unknown>,
  receivedAt: String(row.received_at),
});

/** `usage`'s counts as numbers (SUM gives a bigint or a string on some drivers). */
export const toUsageRow = (row: UsageRow): UsageRow => ({
  category: row.category,
  sent: Number(row.sent),
  delivered: Number(row.delivered),
  read: Number(row.read),
  failed: Number(row.failed),
  billable: Number(row.billable),
  total: Number(row.total),
});

export function createFactsRepo(db: Database): FactsRepo {
  const facts = db.prepare<[string], Record<string, unknown>>('SELECT * FROM account_facts WHERE integration_id = ?');
  const preference = db.prepare<[string, string, string], Record<string, unknown>>(
    'SELECT * FROM contact_preferences WHERE integration_id = ? AND contact_id = ? AND category = ?',
  );
  const preferences = db.prepare<[string], Record<string, unknown>>('SELECT * FROM contact_preferences WHERE workspace_id = ?');
  // Messages lumen handed to Meta (or sent from the app) since then, by Meta's pricing category; those with no
  // pricing yet count as `unknown`. A message counts once, in its furthest state.
  const usage = db.prepare<[string, string], UsageRow>(
    `SELECT COALESCE(pricing_category, 'unknown') AS category,
            SUM(state IN ('sent', 'delivered', 'read', 'accepted')) AS sent,
            SUM(state IN ('delivered', 'read')) AS delivered,
            SUM(state = 'read') AS read,
            SUM(state = 'failed') AS failed,
            SUM(COALESCE(billable, 0) = 1) AS billable,
            COUNT(*) AS total
       FROM outbound_messages
      WHERE workspace_id = ? AND created_at >= ? AND (wamid IS NOT NULL OR state = 'failed')
      GROUP BY 1 ORDER BY total DESC, category`,
  );
  const events = db.prepare<[string, number, number], Record<string, unknown>>(
    'SELECT id, integration_id, object, field, doc, received_at FROM webhook_events WHERE workspace_id = ? AND id > ? ORDER BY id LIMIT ?',
  );
  return {
    async accountFacts(integrationId) {
      const row = facts.get(integrationId);
      return row ? toAccountFacts(integrationId, row) : undefined;
    },
    async preference(integrationId, contactId, category) {
      const row = preference.get(integrationId, contactId, category);
      return row ? toPreference(row) : undefined;
    },
    async preferences(workspaceId) {
      return preferences.all(workspaceId).map(toPreference);
    },
    async usage(workspaceId, since) {
      return usage.all(workspaceId, since).map(toUsageRow);
    },
    async eventsAfter(workspaceId, afterId, limit) {
      return events.all(workspaceId, afterId, limit).map(toLoggedEvent);
    },
  };
}
