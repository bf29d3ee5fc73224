import { TEMPLATE_STATUSES } from '../../../relay/types.js';
import { UsageError } from '../../../errors.js';
import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import { resolveIntegration } from '../../../services/whatsapp/integrations.js';
import { table } from '../../table.js';
import type { list } from './index.js';

export async function run(ctx: Context, options: Options<typeof list>): Promise<void> {
  const deps = await serviceDeps(ctx);
  const integration = await resolveIntegration(deps.store, await ctx.workspace(), options.integration);
  const status = options.status === undefined ? undefined : templateStatus(options.status);
  const templates = await deps.store.templates.list(integration.id, { status });
  const data = templates.map((t) => ({
    name: t.name,
    language: t.language,
    status: t.status,
    category: t.category,
    parameterFormat: t.parameterFormat,
    parameters: t.requiredParameters.map((p) => `${p.component}:${p.name}`),
    id: t.templateId,
    // From Meta's template webhooks (status, category, quality) or the sync.
    reason: t.statusReason ?? null,
    quality: t.qualityScore ?? null,
    updatedByWebhookAt: t.webhookUpdatedAt ?? null,
  }));
  ctx.out.result(data, () => {
    if (data.length === 0) {
      return options.status
        ? `No ${options.status.toUpperCase()} templates. Run \`lumen templates sync\` to fetch the latest.`
        : 'No templates synced. Run `lumen templates sync`.';
    }
    return table(
      ['NAME', 'LANGUAGE', 'STATUS', 'CATEGORY', 'QUALITY', 'PARAMETERS'],
      data.map((t) => [
        t.name,
        t.language,
        t.reason ? `${t.status} (${t.reason.length > 60 ? `${t.reason.slice(0, 59)}…` : t.reason})` : t.status,
        t.category ?? '',
        t.quality ?? '',
        t.parameters.join(' ') || '-',
      ]),
    );
  });
}

/** The statuses Meta gives a template (WhatsApp Business Management API, message_templates `status`). */

function templateStatus(value: string): string {
  const status = value.trim().toUpperCase();
  if (!TEMPLATE_STATUSES.includes(status)) {
    throw new UsageError(`--status must be one of ${TEMPLATE_STATUSES.join(', ')}; got "${value}".`);
  }
  return status;
}
