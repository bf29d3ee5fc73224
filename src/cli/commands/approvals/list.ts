import type { Context } from '../../context.js';
import { table } from '../../table.js';
import { outboundSummary } from '../../../services/messages/summary.js';

export async function run(ctx: Context): Promise<void> {
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const pending = (await store.outbound.listByState(workspace.id, 'pending_approval', 1000)).map(outboundSummary);
  ctx.out.result(pending, () => {
    if (pending.length === 0) return `Nothing awaits approval in workspace ${workspace.name} (policy: ${workspace.approvalPolicy}).`;
    return table(
      ['ID', 'TO', 'WHAT', 'SOURCE', 'WRITTEN'],
      pending.map((m) => [
        m.id,
        `+${m.to}`,
        m.template ? `template ${m.template.name} (${m.template.language})` : 'text',
        m.source,
        ctx.time.atRelative(m.createdAt),
      ]),
    );
  });
}
