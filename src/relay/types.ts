/** What the relay extracts from one verified webhook delivery. Produced by `parse.ts` (pure). */
import type { FieldChange, StatusPricing } from '../store/changes.js';

export type { AccountChange, EchoChange, EditChange, FieldChange, PreferenceChange, StatusPricing, TemplateChange } from '../store/changes.js';

/** One inbound, user-authored message: stored as an interaction and handed to the user's code. */
export interface InboundMessage {
  channel: 'whatsapp';
  /** Meta's message id (wamid…): the idempotency key. Ids are well-formed UTF-16 (lone surrogates become U+FFFD). */
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
  /** The user's parent user id (a managed business's portfolio-wide id), when Meta gives one. */
  parentUserId: string | null;
  /** Media id for image/video/audio/document/sticker. */
  mediaId: string | null;
  /** What the webhook says of that media (the file itself is fetched after the 200). */
  media: InboundMedia | null;
  /** The message this one replies to (context.id), when it is a reply. */
  replyTo: string | null;
  /** Meta's timestamp (seconds since the epoch, as a string in the payload) as ISO 8601. */
  timestamp: string;
  /** The message object exactly as received. */
  raw: Record<string, unknown>;
}

export interface InboundMedia {
  id: string;
  mimeType: string | null;
  /** As Meta sends it in the webhook (base64 of the SHA-256). */
  sha256: string | null;
  caption: string | null;
  filename: string | null;
}

/** The status values lumen takes; a status with any other value is an `unknown_status` ignored item. */
export type DeliveryStatusValue = 'sent' | 'delivered' | 'read' | 'failed';

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
  /** Meta's `pricing` object (v24+: no `conversation`), when the status carries one. */
  pricing: StatusPricing | null;
  raw: Record<string, unknown>;
}

/** Something in the delivery that was acknowledged but not processed, and why (for the log). */
export interface IgnoredItem {
  reason:
    | 'not_whatsapp_business_account'
    | 'other_field' // a field lumen does not act on (e.g. flows, calls)
    | 'unknown_phone_number' // metadata.phone_number_id is not one lumen has connected
    | 'unknown_account' // a template or account change about a WABA none of the connected numbers is in
    | 'unknown_status' // a status whose value is not sent, delivered, read or failed
    | 'malformed'; // a piece whose shape is wrong (no id, no metadata…), or the budget ran out
  field?: string;
  phoneNumberId?: string;
  detail?: string;
}

/**
 * One item of a change value's `errors[]` (Meta reports problems with incoming messages there), for any field. Not
 * reported for a number lumen has not connected.
 */
export interface WebhookError {
  /** The change's field, normally `messages`. */
  field: string;
  /** metadata.phone_number_id, or null when the change has none. */
  phoneNumberId: string | null;
  /** The WABA id of the entry it came in. */
  wabaId: string | null;
  /** Meta's error code (e.g. 131051), when a number. */
  code: number | null;
  title: string | null;
  message: string | null;
  /** `error_data.details` (older payloads: `details`). */
  details: string | null;
  /** The error object exactly as received. */
  raw: Record<string, unknown>;
}

export interface ParsedDelivery {
  messages: InboundMessage[];
  statuses: StatusUpdate[];
  errors: WebhookError[];
  /** Everything but inbound messages and statuses that lumen acts on. */
  changes: FieldChange[];
  ignored: IgnoredItem[];
  /** True when part of the delivery was skipped because it is over MAX_DELIVERY_ITEMS: refuse it whole (413). */
  overBudget: boolean;
}

/** The statuses Meta gives a message template (`templates list --status`, and what a status webhook may set). */
export const TEMPLATE_STATUSES: readonly string[] = [
  'APPROVED',
  'PENDING',
  'REJECTED',
  'PAUSED',
  'DISABLED',
  'IN_APPEAL',
  'PENDING_DELETION',
  'DELETED',
  'LIMIT_EXCEEDED',
  'ARCHIVED',
];
