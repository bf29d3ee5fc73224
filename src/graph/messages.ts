import type { GraphClient } from './client.js';

export interface SendMessageResponse {
  messaging_product?: string;
  contacts?: Array<{ input?: string; wa_id?: string }>;
  messages?: Array<{ id: string; message_status?: string }>;
}

/** POST /{phone-number-id}/messages. Never retried here: a retry must be a decision of the caller's outbox. */
export function sendMessage(graph: GraphClient, phoneNumberId: string, body: Record<string, unknown>): Promise<SendMessageResponse> {
  return graph.post<SendMessageResponse>(`${encodeURIComponent(phoneNumberId)}/messages`, body, { retry: false });
}

export function textMessageBody(to: string, text: string, options: { replyTo?: string | null; previewUrl?: boolean } = {}) {
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'text',
    text: { body: text, preview_url: options.previewUrl ?? false },
    ...(options.replyTo ? { context: { message_id: options.replyTo } } : {}),
  };
}
