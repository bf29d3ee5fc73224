import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import { UsageError } from '../../../errors.js';
import { currentUser, rejectMessage } from '../../../services/messages/approvals.js';
import { outboundSummary } from '../../../services/messages/summary.js';
import type { reject } from './index.js';

export async function run(ctx: Context, options: Options<typeof reject>, id: string): Promise<void> {
  if (!options.reason?.trim()) throw new UsageError('Say why with --reason "…" (it is recorded with the rejection).');
  const deps = await serviceDeps(ctx);
  const workspace = await ctx.workspace();
  const rejected = await rejectMessage(deps, workspace, id, currentUser(ctx.env), options.reason.trim());
  ctx.out.result(outboundSummary(rejected), () => `Message ${rejected.id} rejected by ${rejected.rejectedBy}: ${rejected.rejectReason}. Nothing was sent.`);
}
