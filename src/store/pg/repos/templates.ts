import type { PgDatabase, PgQueryable } from '../db.js';
import { planTemplateReplace, TEMPLATE_COLUMNS, toTemplate, type EarlierTemplate, type TemplateRow } from '../../repos/templates.js';
import type { TemplateRecord, TemplateRepo, TemplateSyncCounts } from '../../types.js';

/**
 * Replaces an integration's templates inside the caller's transaction: the rows there before are locked first, so
 * two syncs of one number at once count against what the other wrote, never against the same old rows.
 */
export async function replaceTemplates(client: PgQueryable, integrationId: string, templates: TemplateRecord[]): Promise<TemplateSyncCounts> {
  const { rows: existing } = await client.query<EarlierTemplate>(
    'SELECT name, language, raw, status, status_reason, quality_score FROM templates WHERE integration_id = $1 FOR UPDATE',
    [integrationId],
  );
  const { rows, counts } = planTemplateReplace(existing, templates);
  await client.query('DELETE FROM templates WHERE integration_id = $1', [integrationId]);
  if (rows.length > 0) {
    // One statement for any number of templates: a column of values per array.
    const columns = TEMPLATE_COLUMNS.map((_, i) => rows.map((row) => row[i] ?? null));
    await client.query(
      `INSERT INTO templates (integration_id, ${TEMPLATE_COLUMNS.join(', ')})
       SELECT $1, * FROM unnest(${TEMPLATE_COLUMNS.map((_, i) => `$${i + 2}::text[]`).join(', ')})`,
      [integrationId, ...columns],
    );
  }
  return counts;
}

export function createTemplateRepo(db: PgDatabase): TemplateRepo {
  return {
    async replaceAll(integrationId, templates, now) {
      return db.tx(async (client) => {
        const counts = await replaceTemplates(client, integrationId, templates);
        await client.query('UPDATE integrations SET templates_synced_at = $1, updated_at = $1 WHERE id = $2', [now, integrationId]);
        return counts;
      });
    },
    async list(integrationId, filter) {
      const rows = filter?.status
        ? await db.all<TemplateRow>('SELECT * FROM templates WHERE integration_id = $1 AND status = $2 ORDER BY name COLLATE "C", language COLLATE "C"', [
            integrationId,
            filter.status.toUpperCase(),
          ])
        : await db.all<TemplateRow>('SELECT * FROM templates WHERE integration_id = $1 ORDER BY name COLLATE "C", language COLLATE "C"', [integrationId]);
      return rows.map(toTemplate);
    },
    async findByName(integrationId, name) {
      return (await db.all<TemplateRow>('SELECT * FROM templates WHERE integration_id = $1 AND name = $2 ORDER BY language COLLATE "C"', [integrationId, name])).map(
        toTemplate,
      );
    },
  };
}
