import type { Context } from '../../context.js';
import { printable, table } from '../../table.js';
import { outboundPreview, outboundSummary } from '../../../services/messages/summary.js';

export async function run(ctx: Context): Promise<void> {
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const held = await store.outbound.listByState(workspace.id, 'pending_approval', 1000);
  const pending = held.map(outboundSummary);
  ctx.out.result(pending, () => {
    if (pending.length === 0) return `Nothing awaits approval in workspace ${workspace.name} (policy: ${workspace.approvalPolicy}).`;
    return table(
      ['ID', 'TO', 'WHAT', 'SOURCE', 'WRITTEN'],
      held.map((m) => {
        // What the approver decides on: the template, or the kind and its first words (all of it: `messages show ID`).
        const words = outboundPreview(m).replace(/\s+/g, ' ');
        const what = m.templateName
          ? `template ${m.templateName} (${m.templateLanguage})`
          : `${m.kind}${words ? `: ${words.length > 50 ? `${words.slice(0, 49)}…` : words}` : ''}`;
        return [m.id, `${m.recipientKind === 'phone' ? '+' : ''}${m.recipient}`, printable(what), m.source, ctx.time.atRelative(m.createdAt)];
      }),
    );
  });
}
