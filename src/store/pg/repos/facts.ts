import type { PgDatabase } from '../db.js';
import { toAccountFacts, toLoggedEvent, toPreference, toUsageRow, type FactsRepo, type UsageRow } from '../../repos/facts.js';

export function createFactsRepo(db: PgDatabase): FactsRepo {
  return {
    async accountFacts(integrationId) {
      const row = await db.get('SELECT * FROM account_facts WHERE integration_id = $1', [integrationId]);
      return row ? toAccountFacts(integrationId, row) : undefined;
    },
    async preference(integrationId, contactId, category) {
      const row = await db.get('SELECT * FROM contact_preferences WHERE integration_id = $1 AND contact_id = $2 AND category = $3', [
        integrationId,
        contactId,
        category,
      ]);
      return row ? toPreference(row) : undefined;
    },
    async preferences(workspaceId) {
      const rows = await db.all('SELECT * FROM contact_preferences WHERE workspace_id = $1 ORDER BY integration_id, contact_id, category', [workspaceId]);
      return rows.map(toPreference);
    },
    async usage(workspaceId, since) {
      // As on SQLite: messages handed to Meta (or sent from the app) since then, by Meta's pricing category (none yet:
      // `unknown`), each counted once in its furthest state.
      const rows = await db.all<UsageRow>(
        `SELECT COALESCE(pricing_category, 'unknown') AS category,
                COUNT(*) FILTER (WHERE state IN ('sent', 'delivered', 'read', 'accepted')) AS sent,
                COUNT(*) FILTER (WHERE state IN ('delivered', 'read')) AS delivered,
                COUNT(*) FILTER (WHERE state = 'read') AS read,
                COUNT(*) FILTER (WHERE state = 'failed') AS failed,
                COUNT(*) FILTER (WHERE COALESCE(billable, 0) = 1) AS billable,
                COUNT(*) AS total
           FROM outbound_messages
          WHERE workspace_id = $1 AND created_at >= $2 AND (wamid IS NOT NULL OR state = 'failed')
          GROUP BY 1 ORDER BY total DESC, 1`,
        [workspaceId, since],
      );
      return rows.map(toUsageRow);
    },
    async eventsAfter(workspaceId, afterId, limit) {
      const rows = await db.all(
        'SELECT id, integration_id, object, field, doc, received_at FROM webhook_events WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3',
        [workspaceId, afterId, limit],
      );
      return rows.map(toLoggedEvent);
    },
  };
}
