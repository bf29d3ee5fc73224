import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { UserError } from '../../../errors.js';
import { outboundSummary } from '../../../services/messages/send.js';
import type { show } from './index.js';

export async function run(ctx: Context, _options: Options<typeof show>, ref: string): Promise<void> {
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const message = ref.startsWith('wamid.') ? await store.outbound.findByWamid(ref) : await store.outbound.findById(ref);
  if (!message || message.workspaceId !== workspace.id) {
    throw new UserError(`No sent message "${ref}" in workspace ${workspace.name}.`, {
      code: 'message_not_found',
      hint: 'Give the id `lumen send` printed (msg_…) or the wamid. Inbound messages: `lumen messages list`.',
    });
  }
  const timeline = message.wamid ? await store.outbound.timeline(message.wamid) : [];
  const data = { ...outboundSummary(message), request: message.body, timeline };
  ctx.out.result(data, () => {
    const lines = [
      `${message.id}  ${message.kind}${message.templateName ? ` ${message.templateName} (${message.templateLanguage})` : ''} to +${message.recipient}`,
      `  State     ${message.state}${message.errorCode ? ` (error ${message.errorCode}: ${message.errorTitle ?? ''})` : ''}`,
      `  wamid     ${message.wamid ?? '-'}`,
      `  Written   ${ctx.time.atRelative(message.createdAt)}${message.source !== 'cli' ? ` by ${message.source}` : ''}`,
    ];
    if (message.approvedBy) lines.push(`  Approved  by ${message.approvedBy} at ${message.approvedAt ? ctx.time.at(message.approvedAt) : '?'}`);
    if (message.rejectedBy) lines.push(`  Rejected  by ${message.rejectedBy} at ${message.rejectedAt ? ctx.time.at(message.rejectedAt) : '?'}: ${message.rejectReason}`);
    if (timeline.length > 0) {
      lines.push('  Timeline');
      for (const entry of timeline) {
        lines.push(`    ${ctx.time.at(entry.occurredAt)}  ${entry.status}${entry.errorCode ? ` (error ${entry.errorCode}: ${entry.errorTitle ?? ''})` : ''}`);
      }
    } else if (message.wamid) {
      lines.push('  No status webhooks yet (they arrive through a running `lumen relay start`).');
    }
    return lines;
  });
}
