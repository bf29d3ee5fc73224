import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import { resolveIntegration } from '../../../services/whatsapp/integrations.js';
import { rotateVerifyToken } from '../../../services/whatsapp/rotate-token.js';
import type { rotateToken } from './index.js';

export async function run(ctx: Context, options: Options<typeof rotateToken>): Promise<void> {
  const deps = await serviceDeps(ctx);
  const integration = await resolveIntegration(deps.store, await ctx.workspace(), options.integration);
  const result = await rotateVerifyToken(deps, integration);
  const s = ctx.out.style;
  ctx.out.result(result, () => [
    `New verify token for ${s.bold(result.label)} (${result.id}):`,
    '',
    `  Verify token   ${s.bold(result.webhook.verifyToken)}`,
    `  Callback URL   ${result.webhook.url ?? `<your public relay URL>${result.webhook.path}`}`,
    '',
    'The old token no longer works. Paste this one in Meta\'s App Dashboard → WhatsApp → Configuration and click',
    '"Verify and save".',
    s.yellow('It is shown only this once; lumen keeps only a hash of it.'),
  ]);
}
