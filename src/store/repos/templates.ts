import type { Database } from '../db.js';
import type { TemplateRecord, TemplateRepo, TemplateSyncCounts } from '../types.js';

export interface TemplateRow {
  integration_id: string;
  template_id: string;
  name: string;
  language: string;
  status: string;
  category: string | null;
  parameter_format: string;
  required_parameters: string;
  raw: string;
  synced_at: string;
  status_reason: string | null;
  quality_score: string | null;
  webhook_updated_at: string | null;
}

export const toTemplate = (row: TemplateRow): TemplateRecord => ({
  integrationId: row.integration_id,
  templateId: row.template_id,
  name: row.name,
  language: row.language,
  status: row.status,
  category: row.category,
  parameterFormat: row.parameter_format === 'NAMED' ? 'NAMED' : 'POSITIONAL',
  requiredParameters: JSON.parse(row.required_parameters),
  raw: JSON.parse(row.raw),
  syncedAt: row.synced_at,
  statusReason: row.status_reason,
  qualityScore: row.quality_score,
  webhookUpdatedAt: row.webhook_updated_at,
});

/** What a template row held before a replace: what decides the counts and which webhook facts stay. */
export interface EarlierTemplate {
  name: string;
  language: string;
  raw: string;
  status: string;
  status_reason: string | null;
  quality_score: string | null;
}

/**
 * The rows a replace writes (one per name and language, the last one given winning) and what it changed, from the
 * rows there before. Pure, so both backends write and count the same. Each row's values are in the order of
 * TEMPLATE_COLUMNS (after integration_id).
 */
export function planTemplateReplace(existingRows: EarlierTemplate[], templates: TemplateRecord[]): { rows: unknown[][]; counts: TemplateSyncCounts } {
  const existing = new Map(existingRows.map((row) => [`${row.name}\u0000${row.language}`, row]));
  const rows = new Map<string, unknown[]>();
  const counts: TemplateSyncCounts = { total: 0, added: 0, updated: 0, removed: 0 };
  for (const t of templates) {
    const key = `${t.name}\u0000${t.language}`;
    const raw = JSON.stringify(t.raw);
    const earlier = existing.get(key);
    // A reason Meta's webhook gave stays while the status it explained does; the sync's own words win.
    const reason = t.statusReason ?? (earlier && earlier.status === t.status ? earlier.status_reason : null);
    const counted = rows.has(key);
    rows.set(key, [
      t.templateId,
      t.name,
      t.language,
      t.status,
      t.category,
      t.parameterFormat,
      JSON.stringify(t.requiredParameters),
      raw,
      t.syncedAt,
      reason,
      t.qualityScore ?? earlier?.quality_score ?? null,
    ]);
    if (counted) continue;
    counts.total += 1;
    if (earlier === undefined) counts.added += 1;
    else if (earlier.raw !== raw) counts.updated += 1;
  }
  counts.removed = [...existing.keys()].filter((key) => !rows.has(key)).length;
  return { rows: [...rows.values()], counts };
}

/** The columns planTemplateReplace's rows fill, after integration_id. */
export const TEMPLATE_COLUMNS = [
  'template_id', 'name', 'language', 'status', 'category', 'parameter_format', 'required_parameters', 'raw', 'synced_at',
  'status_reason', 'quality_score',
] as const;

/** Replaces an integration's templates; must run inside a transaction. */
export function replaceTemplates(db: Database, integrationId: string, templates: TemplateRecord[]): TemplateSyncCounts {
  const existing = db
    .prepare<[string], EarlierTemplate>(
      'SELECT name, language, raw, status, status_reason, quality_score FROM templates WHERE integration_id = ?',
    )
    .all(integrationId);
  const { rows, counts } = planTemplateReplace(existing, templates);
  db.prepare('DELETE FROM templates WHERE integration_id = ?').run(integrationId);
  const insert = db.prepare(
    `INSERT INTO templates (integration_id, ${TEMPLATE_COLUMNS.join(', ')})
     VALUES (?, ${TEMPLATE_COLUMNS.map(() => '?').join(', ')})`,
  );
  for (const row of rows) insert.run(integrationId, ...row);
  return counts;
}

export function createTemplateRepo(db: Database): TemplateRepo {
  const listAll = db.prepare<[string], TemplateRow>(
    'SELECT * FROM templates WHERE integration_id = ? ORDER BY name, language',
  );
  const listByStatus = db.prepare<[string, string], TemplateRow>(
    'SELECT * FROM templates WHERE integration_id = ? AND status = ? ORDER BY name, language',
  );
  const byName = db.prepare<[string, string], TemplateRow>(
    'SELECT * FROM templates WHERE integration_id = ? AND name = ? ORDER BY language',
  );
  const touchIntegration = db.prepare('UPDATE integrations SET templates_synced_at = ?, updated_at = ? WHERE id = ?');
  return {
    async replaceAll(integrationId, templates, now) {
      return db.transaction(() => {
        const counts = replaceTemplates(db, integrationId, templates);
        touchIntegration.run(now, now, integrationId);
        return counts;
      }).immediate();
    },
    async list(integrationId, filter) {
      const rows = filter?.status
        ? listByStatus.all(integrationId, filter.status.toUpperCase())
        : listAll.all(integrationId);
      return rows.map(toTemplate);
    },
    async findByName(integrationId, name) {
      return byName.all(integrationId, name).map(toTemplate);
    },
  };
}
