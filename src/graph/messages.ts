import type { GraphClient } from './client.js';

export interface SendMessageResponse {
  messaging_product?: string;
  contacts?: Array<{ input?: string; wa_id?: string }>;
  messages?: Array<{ id: string; message_status?: string }>;
}

/**
 * POST /{phone-number-id}/messages. Retried only when the caller says so: the outbox does, for throttling and
 * server errors (never for 190, 131047 or template errors: the retry policy knows which).
 */
export function sendMessage(
  graph: GraphClient,
  phoneNumberId: string,
  body: Record<string, unknown>,
  options: { retry: boolean },
): Promise<SendMessageResponse> {
  return graph.post<SendMessageResponse>(`${encodeURIComponent(phoneNumberId)}/messages`, body, options);
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
