import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import { syncTemplates } from '../../../services/templates/sync.js';
import { resolveIntegration } from '../../../services/whatsapp/integrations.js';
import type { sync } from './index.js';

export async function run(ctx: Context, options: Options<typeof sync>): Promise<void> {
  const deps = await serviceDeps(ctx);
  const integration = await resolveIntegration(deps.store, await ctx.workspace(), options.integration);
  const result = await ctx.out.step(
    `Syncing templates of WABA ${integration.wabaId}`,
    () => syncTemplates(deps, integration),
    (r) => `${r.total} templates synced (${r.approved} approved)`,
  );
  ctx.out.result(result, () =>
    `${result.added} added, ${result.updated} changed, ${result.removed} removed; ${result.total} in all.`,
  );
}
