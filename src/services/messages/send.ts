import type { Integration, OutboundMessage, Workspace } from '../../store/types.js';
import { composeMessage, type ComposedMessage, type TemplateInput, type TextInput } from './compose.js';
import { deliverOutbound, submitOutbound, type OutboxDeps, type SendRates } from './outbox.js';

export interface SendOneInput {
  workspace: Workspace;
  integration: Integration;
  to: string;
  message: TextInput | TemplateInput;
  force?: boolean;
  idempotencyKey?: string | undefined;
  rates: SendRates;
}

export type SendOneResult =
  | { outcome: 'sent'; message: OutboundMessage }
  | { outcome: 'already_sent'; message: OutboundMessage }
  | { outcome: 'pending_approval'; message: OutboundMessage };

/** Checks, records, and (unless it awaits approval) sends one message. */
export async function sendOne(deps: OutboxDeps, input: SendOneInput): Promise<SendOneResult> {
  const composed = await composeMessage(deps.store, input.integration, {
    to: input.to,
    message: input.message,
    force: input.force ?? false,
    now: deps.now(),
  });
  return sendComposed(deps, input, composed);
}

export async function sendComposed(
  deps: OutboxDeps,
  input: Omit<SendOneInput, 'to' | 'message'>,
  composed: ComposedMessage,
): Promise<SendOneResult> {
  const submitted = await submitOutbound(deps, {
    workspace: input.workspace,
    integration: input.integration,
    to: composed.to,
    kind: composed.kind,
    body: composed.body,
    templateName: composed.templateName,
    templateLanguage: composed.templateLanguage,
    idempotencyKey: input.idempotencyKey ?? null,
    source: 'cli',
    forceWindow: input.force ?? false,
  });
  if (submitted.kind === 'already_sent') return { outcome: 'already_sent', message: submitted.message };
  if (submitted.kind === 'pending_approval') return { outcome: 'pending_approval', message: submitted.message };
  const sent = await deliverOutbound(deps, submitted.message, input.integration, input.rates);
  return { outcome: sent.alreadySent ? 'already_sent' : 'sent', message: sent.message };
}

/** What `--json` shows of a sent (or held) message. */
export function outboundSummary(message: OutboundMessage) {
  return {
    id: message.id,
    state: message.state,
    to: message.recipient,
    wamid: message.wamid,
    kind: message.kind,
    template: message.templateName ? { name: message.templateName, language: message.templateLanguage } : null,
    integrationId: message.integrationId,
    source: message.source,
    error: message.errorCode !== null || message.errorTitle ? { code: message.errorCode, title: message.errorTitle, details: message.errorDetails, fbtraceId: message.fbtraceId } : null,
    approval:
      message.approvedBy || message.rejectedBy
        ? {
            approvedBy: message.approvedBy,
            approvedAt: message.approvedAt,
            rejectedBy: message.rejectedBy,
            rejectedAt: message.rejectedAt,
            reason: message.rejectReason,
          }
        : null,
    createdAt: message.createdAt,
    updatedAt: message.updatedAt,
  };
}
