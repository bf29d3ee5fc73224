import { userInfo } from 'node:os';
import { UserError } from '../../errors.js';
import type { ApprovalPolicy, OutboundMessage, Store, Workspace } from '../../store/types.js';
import { assertMarketingAllowed, findSendableTemplate, windowState } from './compose.js';
import type { ServiceDeps } from '../deps.js';
import { deliverOutbound, type SendRates } from './outbox.js';
import { utcText } from '../../text.js';

export const APPROVAL_POLICIES: ApprovalPolicy[] = ['none', 'templates', 'all'];

/** Who approves or rejects: the OS user running lumen. */
export function currentUser(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? env.USERNAME ?? 'unknown';
  }
}

async function pendingMessage(store: Store, workspace: Workspace, id: string): Promise<OutboundMessage> {
  const message = await store.outbound.findById(id);
  if (!message || message.workspaceId !== workspace.id) {
    throw new UserError(`No message ${id} in workspace ${workspace.name}.`, {
      code: 'message_not_found',
      hint: 'See `lumen approvals list`.',
    });
  }
  if (message.state !== 'pending_approval') throw alreadyDecided(message);
  return message;
}

function alreadyDecided(message: OutboundMessage): UserError {
  const decision = message.approvedBy
    ? `was already approved by ${message.approvedBy} at ${utcText(message.approvedAt)}`
    : message.rejectedBy
      ? `was already rejected by ${message.rejectedBy} at ${utcText(message.rejectedAt)}`
      : `is not awaiting approval (state ${message.state})`;
  return new UserError(`Message ${message.id} ${decision}.`, {
    code: 'already_decided',
    hint: `\`lumen messages show ${message.id}\` shows its history.`,
  });
}

/**
 * Approves a held message and sends it, after checking again what may have changed since it was written: the
 * template (still synced and approved?) and, for free-form text, the 24-hour window.
 */
export async function approveMessage(
  deps: ServiceDeps,
  workspace: Workspace,
  id: string,
  by: string,
  rates: SendRates,
): Promise<OutboundMessage> {
  const message = await pendingMessage(deps.store, workspace, id);
  const integration = await deps.store.integrations.findById(message.integrationId);
  if (!integration) {
    throw new UserError(`The number message ${id} was written for is no longer connected.`, {
      code: 'integration_not_found',
      hint: `Reject it: \`lumen approvals reject ${id} --reason "number disconnected"\`.`,
    });
  }
  if (message.kind === 'template') {
    const template = await findSendableTemplate(deps.store, integration, message.templateName ?? '', message.templateLanguage ?? undefined);
    await assertMarketingAllowed(deps.store, integration, template, message.recipient);
  } else if (!message.forceWindow) {
    const window = await windowState(deps.store, integration.id, message.recipient, deps.now());
    if (!window.open) {
      throw new UserError(`The 24-hour window with +${message.recipient} has closed since this message was written.`, {
        code: 'window_closed',
        hint: `Reject it and send a template instead: \`lumen approvals reject ${id} --reason "window closed"\`.`,
      });
    }
  }
  if (!(await deps.store.outbound.approve(id, by, deps.now().toISOString()))) {
    throw alreadyDecided((await deps.store.outbound.findById(id))!);
  }
  const approved = (await deps.store.outbound.findById(id))!;
  return (await deliverOutbound(deps, approved, integration, rates)).message;
}

export async function rejectMessage(deps: ServiceDeps, workspace: Workspace, id: string, by: string, reason: string) {
  const { store } = deps;
  await pendingMessage(store, workspace, id);
  if (!(await store.outbound.reject(id, by, reason, deps.now().toISOString()))) {
    throw alreadyDecided((await store.outbound.findById(id))!);
  }
  return (await store.outbound.findById(id))!;
}
