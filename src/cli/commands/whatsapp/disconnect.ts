import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import { CancelledError, UsageError } from '../../../errors.js';
import { disconnectWhatsApp } from '../../../services/whatsapp/disconnect.js';
import { describeIntegration, resolveIntegration } from '../../../services/whatsapp/integrations.js';
import type { disconnect } from './index.js';

export async function run(ctx: Context, options: Options<typeof disconnect>): Promise<void> {
  const deps = await serviceDeps(ctx);
  const integration = await resolveIntegration(deps.store, await ctx.workspace(), options.integration);
  if (!options.yes) {
    if (!ctx.prompter.canPrompt) {
      throw new UsageError(`Disconnecting ${describeIntegration(integration)} needs confirmation.`, 'Pass --yes.');
    }
    const sure = await ctx.prompter.confirm({
      message: `Disconnect ${describeIntegration(integration)}? Its secrets and templates are deleted${options.purge ? ', and its stored messages' : ''}.`,
      default: false,
    });
    if (!sure) throw new CancelledError('Nothing changed.');
  }
  const result = await disconnectWhatsApp(deps, integration, { purge: options.purge });
  ctx.out.result(result, () => [
    `Disconnected ${result.label} (${result.id}); its secrets and templates are deleted.`,
    options.purge ? `${result.messagesPurged} stored messages were purged.` : 'Stored messages are kept (use --purge to delete them).',
    `Remove the Callback URL (…${result.webhookPath}) in Meta's App Dashboard → WhatsApp → Configuration:`,
    'lumen no longer answers it, and Meta retries failed deliveries for days.',
  ]);
}
