import { randomBytes } from 'node:crypto';
import type { GraphClient } from '../../graph/client.js';
import { GraphError } from '../../graph/errors.js';
import { sendMessage, textMessageBody } from '../../graph/messages.js';
import type { OutboundMessage, OutboundRepo } from '../../store/types.js';

export function newOutboundId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}

export interface TextSend {
  workspaceId: string;
  integrationId: string;
  phoneNumberId: string;
  to: string;
  text: string;
  replyTo?: string | null;
  inReplyTo?: string | null;
  source: OutboundMessage['source'];
}

/** Records the message first (queued), then sends it and records Meta's answer: a wamid or the error. */
export async function sendTextMessage(
  deps: { outbound: OutboundRepo; graph: GraphClient; now: () => Date },
  send: TextSend,
): Promise<OutboundMessage> {
  const now = deps.now().toISOString();
  const body = textMessageBody(send.to, send.text, { replyTo: send.replyTo ?? null });
  const message: OutboundMessage = {
    id: newOutboundId(),
    workspaceId: send.workspaceId,
    integrationId: send.integrationId,
    wamid: null,
    recipient: send.to,
    kind: 'text',
    body,
    state: 'queued',
    errorCode: null,
    errorTitle: null,
    errorDetails: null,
    fbtraceId: null,
    source: send.source,
    inReplyTo: send.inReplyTo ?? null,
    idempotencyKey: null,
    createdAt: now,
    updatedAt: now,
  };
  await deps.outbound.insert(message);
  try {
    const response = await sendMessage(deps.graph, send.phoneNumberId, body);
    const wamid = response.messages?.[0]?.id;
    if (!wamid) throw new Error('The Graph API accepted the message but returned no message id.');
    await deps.outbound.markAccepted(message.id, wamid, deps.now().toISOString());
  } catch (error) {
    const graphError = error instanceof GraphError ? error : undefined;
    await deps.outbound.markFailed(
      message.id,
      {
        code: graphError?.code ?? null,
        title: graphError?.message ?? (error as Error).message,
        details: graphError?.details ?? null,
        fbtraceId: graphError?.fbtraceId ?? null,
      },
      deps.now().toISOString(),
    );
    throw error;
  }
  return (await deps.outbound.findById(message.id))!;
}
