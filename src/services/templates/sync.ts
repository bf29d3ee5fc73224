import type { GraphClient } from '../../graph/client.js';
import { listAllTemplates } from '../../graph/templates.js';
import type { GraphTemplate } from '../../graph/types.js';
import type { Integration, TemplateRecord, TemplateSyncCounts } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';
import { aboutObject } from '../../graph/explain.js';
import { parameterFormat, requiredParameters } from './parameters.js';

export function toTemplateRecord(template: GraphTemplate, integrationId: string, syncedAt: string): TemplateRecord {
  return {
    integrationId,
    templateId: String(template.id),
    name: template.name,
    language: template.language,
    status: String(template.status ?? 'UNKNOWN').toUpperCase(),
    category: template.category ?? null,
    parameterFormat: parameterFormat(template),
    requiredParameters: requiredParameters(template),
    raw: template,
    syncedAt,
    // Meta's list names a rejection's reason (NONE when there is none) and the quality score.
    statusReason: reasonOf((template as { rejected_reason?: unknown }).rejected_reason),
    qualityScore: scoreOf((template as { quality_score?: unknown }).quality_score),
  };
}

function reasonOf(value: unknown): string | null {
  return typeof value === 'string' && value !== '' && value.toUpperCase() !== 'NONE' ? value : null;
}

function scoreOf(value: unknown): string | null {
  const score = typeof value === 'object' && value !== null ? (value as { score?: unknown }).score : value;
  return typeof score === 'string' && score !== '' ? score : null;
}

/** Every template of the WABA as records for this integration. */
export async function fetchTemplateRecords(
  graph: GraphClient,
  wabaId: string,
  integrationId: string,
  syncedAt: string,
): Promise<TemplateRecord[]> {
  const templates = await aboutObject({ kind: 'WABA', id: wabaId, flag: '--waba-id' }, () =>
    listAllTemplates(graph, wabaId),
  );
  return templates
    .filter((t) => typeof t?.name === 'string' && typeof t?.language === 'string')
    .map((t) => toTemplateRecord(t, integrationId, syncedAt));
}

export interface TemplateSyncResult extends TemplateSyncCounts {
  integrationId: string;
  approved: number;
  syncedAt: string;
}

export function countApproved(records: TemplateRecord[]): number {
  return records.filter((r) => r.status === 'APPROVED').length;
}

export async function syncTemplates(deps: ServiceDeps, integration: Integration): Promise<TemplateSyncResult> {
  const graph = await deps.graphFor(integration);
  const syncedAt = deps.now().toISOString();
  const records = await fetchTemplateRecords(graph, integration.wabaId, integration.id, syncedAt);
  const counts = await deps.store.templates.replaceAll(integration.id, records, syncedAt);
  return { integrationId: integration.id, ...counts, approved: countApproved(records), syncedAt };
}
