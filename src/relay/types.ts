/** What the relay extracts from one verified webhook delivery. Produced by `parse.ts` (pure). */

/** One inbound, user-authored message: stored as an interaction and handed to the user's code. */
export interface InboundMessage {
  channel: 'whatsapp';
  /** Meta's message id (wamid…): the idempotency key. */
  wamid: string;
  /** Which number received it (metadata.phone_number_id). */
  phoneNumberId: string;
  /** The WABA id of the entry it came in. */
  wabaId: string | null;
  /** The sender: `from` (a phone number's digits), else the username user's id. */
  from: string;
  fromKind: 'phone' | 'user_id';
  /** The sender's WhatsApp profile name from `contacts[]`, when present. */
  contactName: string | null;
  /** The sender's user id (BSUID) when Meta gives one, even alongside `from`. */
  userId: string | null;
  /** Meta's message type: text, image, audio, video, document, sticker, location, contacts, interactive, button,
   * reaction, order, system, unsupported, request_welcome, or anything newer (kept as is). */
  type: string;
  /** A one-line human rendering for every type, e.g. `hi`, `[image] caption (media 123)`, `[reaction] 👍 to wamid.X`. */
  text: string;
  /** Media id for image/video/audio/document/sticker. */
  mediaId: string | null;
  /** The message this one replies to (context.id), when it is a reply. */
  replyTo: string | null;
  /** Meta's timestamp (seconds since the epoch, as a string in the payload) as ISO 8601. */
  timestamp: string;
  /** The message object exactly as received. */
  raw: Record<string, unknown>;
}

export type DeliveryStatusValue = 'sent' | 'delivered' | 'read' | 'failed' | (string & {});

/** A status callback about a message lumen sent. */
export interface StatusUpdate {
  wamid: string;
  phoneNumberId: string;
  status: DeliveryStatusValue;
  recipientId: string | null;
  timestamp: string;
  /** For `failed`: Meta's first error. */
  errorCode: number | null;
  errorTitle: string | null;
  errorDetails: string | null;
  raw: Record<string, unknown>;
}

/** Something in the delivery that was acknowledged but not processed, and why (for the log). */
export interface IgnoredItem {
  reason:
    | 'not_whatsapp_business_account'
    | 'other_field' // e.g. message_template_status_update, account_update
    | 'unknown_phone_number' // metadata.phone_number_id is not one lumen has connected
    | 'malformed'; // a piece whose shape is wrong (no id, no metadata…)
  field?: string;
  phoneNumberId?: string;
  detail?: string;
}

/** A top-level `errors[]` in a change value (Meta reports problems with incoming messages there). */
export interface WebhookError {
  phoneNumberId: string | null;
  code: number | null;
  title: string | null;
  details: string | null;
}

export interface ParsedDelivery {
  messages: InboundMessage[];
  statuses: StatusUpdate[];
  errors: WebhookError[];
  ignored: IgnoredItem[];
}
