import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { UserError } from '../../../errors.js';
import { outboundSummary } from '../../../services/messages/summary.js';
import { printable } from '../../table.js';
import type { Interaction, Store } from '../../../store/types.js';
import type { show } from './index.js';

export async function run(ctx: Context, _options: Options<typeof show>, ref: string): Promise<void> {
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const message = ref.startsWith('wamid.') ? await store.outbound.findByWamid(ref) : ref.startsWith('in_') ? undefined : await store.outbound.findById(ref);
  if (!message || message.workspaceId !== workspace.id) {
    const received = await findReceived(store, workspace.id, ref);
    if (received) return showReceived(ctx, received);
    throw new UserError(`No message "${ref}" in workspace ${workspace.name}.`, {
      code: 'message_not_found',
      kind: 'not_found',
      hint: 'Give an id lumen printed (msg_… for a sent message, in_… for a received one) or a wamid; `lumen messages list` lists both.',
    });
  }
  const timeline = message.wamid ? await store.outbound.timeline(message.integrationId, message.wamid) : [];
  // Still "sending" after the longest a send can take: its process stopped, or lost Meta's answer, mid-send.
  const { LONGEST_SEND_MS } = await import('../../../services/messages/outbox.js');
  const outcomeUnknown = message.state === 'sending' && ctx.now().getTime() - Date.parse(message.updatedAt) > LONGEST_SEND_MS;
  const data = {
    ...outboundSummary(message),
    outcomeUnknown,
    pricing: message.pricing ?? null,
    previousTexts: message.previousTexts ?? [],
    deletedAt: message.deletedAt ?? null,
    request: message.body,
    timeline,
  };
  const { textOf } = await import('../../../store/repos/changes.js');
  ctx.out.result(data, () => {
    const lines = [
      `${message.id}  ${message.kind}${message.templateName ? ` ${message.templateName} (${message.templateLanguage})` : ''} to ${message.recipientKind === 'phone' ? '+' : ''}${message.recipient}`,
      `  State     ${message.state}${message.errorCode ? ` (error ${message.errorCode}: ${message.errorTitle ?? ''})` : ''}` +
        (outcomeUnknown ? ", outcome unknown: lumen stopped or lost Meta's answer while sending it (never sent again on its own; if it did not arrive, send it anew with another --idempotency-key)" : ''),
      `  wamid     ${message.wamid ?? '-'}`,
      `  Written   ${ctx.time.atRelative(message.createdAt)}${message.source === 'business_app' ? ' from the WhatsApp Business app' : message.source !== 'cli' ? ` by ${message.source}` : ''}`,
    ];
    if (message.pricing) {
      const p = message.pricing;
      lines.push(
        `  Pricing   ${p.category ?? 'unknown category'}${p.type ? ` · ${p.type}` : ''}${p.model ? ` · ${p.model}` : ''}` +
          ` · ${p.billable === true ? 'billable' : p.billable === false ? 'not billable' : 'billable?'}`,
      );
    }
    const text = textOf(message.body);
    if (text !== null && (message.previousTexts?.length ?? 0) > 0) {
      lines.push(`  Text      ${JSON.stringify(text)} (edited)`);
      for (const earlier of message.previousTexts ?? []) lines.push(`    was ${JSON.stringify(earlier.text)} until ${ctx.time.at(earlier.at)}`);
    } else if (text !== null) {
      lines.push(`  Text      ${JSON.stringify(text)}`);
    }
    // What is (or, held for approval, would be) sent to Meta, as it is stored.
    lines.push(`  Request   ${JSON.stringify(message.body)}`);
    if (message.deletedAt) lines.push(`  Deleted   ${ctx.time.atRelative(message.deletedAt)}`);
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
    return lines.map(printable);
  });
}

/** A received message by its id (in_…) or its wamid, in this workspace. */
async function findReceived(store: Store, workspaceId: string, ref: string): Promise<Interaction | undefined> {
  if (ref.startsWith('in_')) {
    const found = await store.inbox.findInteraction(ref);
    return found?.workspaceId === workspaceId ? found : undefined;
  }
  if (!ref.startsWith('wamid.')) return undefined;
  for (const integration of await store.integrations.list(workspaceId)) {
    const found = await store.inbox.findByWamid(integration.id, ref);
    if (found) return found;
  }
  return undefined;
}

async function showReceived(ctx: Context, message: Interaction): Promise<void> {
  const store = await ctx.store();
  const media = await store.media.forInteraction(message.id);
  const data = { direction: 'in' as const, ...message, media: media ? { id: media.mediaId, state: media.state, path: media.path, mimeType: media.mimeType, size: media.size } : null };
  ctx.out.result(data, () => {
    const from = message.fromKind === 'phone' ? `+${message.from}` : message.from;
    const earlier = message.previousTexts ?? [];
    const lines = [
      `${message.id}  ${message.type} from ${from}${message.contactName ? ` (${message.contactName})` : ''}`,
      `  Text      ${message.text || '-'}${earlier.length > 0 ? ' (edited)' : ''}`,
      // As a sent message shows its edits: what the customer wrote before, and until when
      ...earlier.map((e) => `    was ${JSON.stringify(e.text)} until ${ctx.time.at(e.at)}`),
      `  wamid     ${message.wamid}`,
      `  Received  ${ctx.time.atRelative(message.receivedAt)}`,
    ];
    if (message.deletedAt) lines.push(`  Deleted   ${ctx.time.atRelative(message.deletedAt)} (by the customer)`);
    if (message.replyTo) lines.push(`  Reply to  ${message.replyTo}`);
    if (media) lines.push(`  Media     ${media.mediaId} ${media.state}${media.path ? ` at ${media.path}` : ''}`);
    // A stranger's text, name and ids: control characters escaped (a multi-line text stays on one line).
    return lines.map(printable);
  });
}
