import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import { approveMessage, currentUser } from '../../../services/messages/approvals.js';
import { DEFAULT_SEND_RATE, DEFAULT_WORKSPACE_SEND_RATE } from '../../../services/messages/outbox.js';
import { outboundSummary } from '../../../services/messages/summary.js';
import type { approve } from './index.js';

export async function run(ctx: Context, _options: Options<typeof approve>, id: string): Promise<void> {
  const deps = await serviceDeps(ctx);
  const workspace = await ctx.workspace();
  const by = currentUser(ctx.env);
  const { finishingSend } = await import('../../serve.js');
  // The approval is the decision: once it is asked for, the send runs to its end through a Ctrl-C.
  const sent = await finishingSend((line) => ctx.out.warn(line), (stop) => (stop.sending(), ctx.out.step(
    `Approving and sending ${id}`,
    () =>
      approveMessage(
        deps,
        workspace,
        id,
        by,
        { perIntegration: DEFAULT_SEND_RATE, perWorkspace: DEFAULT_WORKSPACE_SEND_RATE },
      ),
    (m) => `Approved by ${by} and sent to ${m.recipientKind === 'user_id' ? m.recipient : `+${m.recipient}`}`,
  )));
  ctx.out.result(outboundSummary(sent), () => `Message ${sent.id} accepted by Meta (${sent.wamid}).`);
}
