import type { OutboundMessage } from '../../store/types.js';

/** What `--json` shows of a sent (or held) message. */
export function outboundSummary(message: OutboundMessage) {
  return {
    id: message.id,
    state: message.state,
    to: message.recipient,
    recipientKind: message.recipientKind,
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

/** What a sent message says, in a few words: its text, caption or template name. */
export function outboundPreview(m: OutboundMessage): string {
  const part = m.body[m.kind];
  if (m.kind === 'template') return m.templateName ?? '';
  if (typeof part !== 'object' || part === null) return '';
  const fields = part as Record<string, unknown>;
  if (typeof fields.body === 'string') return fields.body;
  if (typeof fields.caption === 'string') return fields.caption;
  const body = fields.body as Record<string, unknown> | undefined;
  if (m.kind === 'interactive' && typeof body?.text === 'string') return body.text;
  return '';
}
