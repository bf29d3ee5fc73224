/**
 * Webhook deliveries shaped like Meta's (`whatsapp_business_account` envelope, one change per number), used by the
 * sandbox's webhook sender and by `lumen trigger`. Field names and nesting follow Meta's webhook reference.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { sendErrorText } from './errors.js';

export interface NumberInfo {
  wabaId: string;
  phoneNumberId: string;
  /** Digits only, as webhook metadata carries it. */
  displayPhoneNumber: string;
}

/** The types `lumen trigger` makes (media in them is a placeholder id the sandbox does not hold). */
export const INBOUND_TYPES = ['text', 'image', 'location', 'interactive', 'button', 'reaction', 'contacts', 'order'] as const;
export type InboundType = (typeof INBOUND_TYPES)[number];
export const MEDIA_MESSAGE_TYPES = ['image', 'video', 'audio', 'document', 'sticker'] as const;
export type MediaMessageType = (typeof MEDIA_MESSAGE_TYPES)[number];
/** Every type the sandbox can post as an inbound message (`POST /_sandbox/inbound`). */
export const SANDBOX_INBOUND_TYPES = [...INBOUND_TYPES, 'video', 'audio', 'document', 'sticker'] as const;
export type SandboxInboundType = (typeof SANDBOX_INBOUND_TYPES)[number];

/** The media object of an inbound image/video/audio/document/sticker message. */
export interface InboundMedia {
  id: string;
  mimeType: string;
  /** As the webhook carries it: base64 of the SHA-256 of the bytes. */
  sha256: string;
  /** Documents only. */
  filename?: string;
}

export interface InboundSpec {
  /** The sender's phone number (digits); absent for a user known only by a business-scoped user id. */
  from?: string;
  /** The sender's business-scoped user id, e.g. `US.13491208655302741918`. */
  userId?: string;
  name?: string;
  type?: SandboxInboundType;
  /** The text, or the default caption of an image/video/document. */
  text?: string;
  caption?: string;
  /** The media the message carries; without it a placeholder (an id the sandbox does not hold) is made up. */
  media?: InboundMedia;
  /** The message this one answers or reacts to. */
  contextWamid?: string;
  /** For `interactive`: the id of the reply button the user tapped (default `yes`). */
  buttonId?: string;
  wamid?: string;
  timestamp?: number;
}

export interface StatusSpec {
  wamid: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  /** The recipient's phone digits (`recipient_id`); '' when the message went to a user id only. */
  recipient: string;
  /** The business-scoped user id the message went to (`recipient_user_id`). */
  recipientUserId?: string;
  timestamp?: number;
  errorCode?: number;
  errorTitle?: string;
  /** Meta's pricing of the message (v24+: no `conversation`); default: a free service message. */
  pricing?: { category: string; billable: boolean; type?: string; model?: string };
}

/** Tags the wamids made here, so the sandbox knows them as messages a user sent (e.g. to accept a read receipt). */
const WAMID_TAG_KEY = 'lumen-sandbox-inbound-wamid';

function wamidTag(bytes: Buffer): Buffer {
  return createHmac('sha256', WAMID_TAG_KEY).update(bytes).digest().subarray(0, 4);
}

/** A wamid in Meta's style: "wamid." + base64 of an opaque id. */
export function newWamid(recipient = '15550000000'): string {
  const head = Buffer.concat([Buffer.from(`\u0018\f${recipient}\u0015\u0002\u0000\u0012\u0018\u0014`, 'latin1'), randomBytes(6)]);
  return `wamid.${Buffer.concat([head, wamidTag(head)]).toString('base64')}`;
}

/** Whether `newWamid` made this wamid (here, or in `lumen trigger`). */
export function isSandboxInboundWamid(wamid: string): boolean {
  if (!wamid.startsWith('wamid.')) return false;
  const bytes = Buffer.from(wamid.slice('wamid.'.length), 'base64');
  if (bytes.length < 10) return false;
  return wamidTag(bytes.subarray(0, bytes.length - 4)).equals(bytes.subarray(bytes.length - 4));
}

const seconds = (value?: number) => String(value ?? Math.floor(Date.now() / 1000));

/** The `messages[]` entry for one inbound message of the given type. */
export function inboundMessage(spec: InboundSpec): Record<string, unknown> {
  const type = spec.type ?? 'text';
  const text = spec.text ?? 'Hello from the sandbox';
  const sender = spec.from ?? spec.userId ?? '15550000000';
  // Meta leaves `from` out for a user it knows only by user id, and names the user id in `from_user_id`.
  const base: Record<string, unknown> = {
    ...(spec.from !== undefined ? { from: spec.from } : {}),
    ...(spec.userId !== undefined ? { from_user_id: spec.userId } : {}),
    id: spec.wamid ?? newWamid(sender),
    timestamp: seconds(spec.timestamp),
  };
  if (spec.contextWamid && type !== 'reaction') {
    base.context = { ...(spec.from !== undefined ? { from: spec.from } : {}), id: spec.contextWamid };
  }
  switch (type) {
    case 'text':
      return { ...base, text: { body: text }, type };
    case 'image':
    case 'video':
    case 'audio':
    case 'document':
    case 'sticker':
      return { ...base, type, [type]: mediaObject(type, spec) };
    case 'location':
      return { ...base, type, location: { latitude: 52.3676, longitude: 4.9041, name: text, address: 'Dam 1, Amsterdam' } };
    case 'interactive':
      return { ...base, type, interactive: { type: 'button_reply', button_reply: { id: spec.buttonId ?? 'yes', title: text } } };
    case 'button':
      return { ...base, type, button: { payload: 'TRACK', text } };
    case 'reaction':
      return { ...base, type, reaction: { message_id: spec.contextWamid ?? newWamid(sender), emoji: '👍' } };
    case 'contacts':
      return {
        ...base,
        type,
        contacts: [{ name: { formatted_name: text, first_name: text }, phones: [{ phone: '+1 555 010 9999', wa_id: '15550109999', type: 'CELL' }] }],
      };
    case 'order':
      return {
        ...base,
        type,
        order: { catalog_id: '1234567890', text, product_items: [{ product_retailer_id: 'sku-1', quantity: '2', item_price: '12.50', currency: 'EUR' }] },
      };
  }
}

/** Meta's media object for each type: captions on image/video/document, a filename on documents. */
function mediaObject(type: MediaMessageType, spec: InboundSpec): Record<string, unknown> {
  // Without real media (e.g. `lumen trigger`), a placeholder the sandbox does not hold; the image keeps its old shape.
  const media: InboundMedia = spec.media ?? {
    id: String(Date.now()),
    mimeType: PLACEHOLDER_MIME[type],
    sha256: randomBytes(32).toString('base64'),
    ...(type === 'document' ? { filename: 'sandbox.pdf' } : {}),
  };
  const caption = spec.media ? (spec.caption ?? spec.text) : (spec.caption ?? spec.text ?? 'Hello from the sandbox');
  const captioned = type === 'image' || type === 'video' || type === 'document';
  return {
    ...(captioned && caption !== undefined ? { caption } : {}),
    ...(type === 'document' ? { filename: media.filename ?? 'sandbox.pdf' } : {}),
    mime_type: media.mimeType,
    sha256: media.sha256,
    id: media.id,
    ...(type === 'audio' ? { voice: /ogg/.test(media.mimeType) } : {}),
    ...(type === 'sticker' ? { animated: false } : {}),
  };
}

const PLACEHOLDER_MIME: Readonly<Record<MediaMessageType, string>> = {
  image: 'image/jpeg',
  video: 'video/mp4',
  audio: 'audio/ogg; codecs=opus',
  document: 'application/pdf',
  sticker: 'image/webp',
};

function envelope(number: NumberInfo, value: Record<string, unknown>) {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: number.wabaId,
        changes: [
          {
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: number.displayPhoneNumber, phone_number_id: number.phoneNumberId },
              ...value,
            },
            field: 'messages',
          },
        ],
      },
    ],
  };
}

export function inboundPayload(number: NumberInfo, specs: InboundSpec[]) {
  // One contacts entry per sender: {profile, wa_id} for a phone, with user_id when known, {profile, user_id} without.
  const senders = new Map<string, Record<string, unknown>>();
  for (const spec of specs) {
    const key = spec.from ?? `user:${spec.userId ?? ''}`;
    if (senders.has(key)) continue;
    senders.set(key, {
      profile: { name: spec.name ?? 'Sandbox User' },
      ...(spec.from !== undefined ? { wa_id: spec.from } : {}),
      ...(spec.userId !== undefined ? { user_id: spec.userId } : {}),
    });
  }
  return envelope(number, { contacts: [...senders.values()], messages: specs.map(inboundMessage) });
}

export function statusEntry(spec: StatusSpec): Record<string, unknown> {
  // A message sent to a user id: Meta names it in recipient_user_id, and recipient_id (the phone) is left out.
  const toUserOnly = spec.recipientUserId !== undefined && spec.recipient === '';
  return {
    id: spec.wamid,
    status: spec.status,
    timestamp: seconds(spec.timestamp),
    ...(toUserOnly ? {} : { recipient_id: spec.recipient }),
    ...(spec.recipientUserId !== undefined ? { recipient_user_id: spec.recipientUserId } : {}),
    ...(spec.status === 'failed'
      ? {
          errors: [failedStatusError(spec.errorCode ?? 131026, spec.errorTitle)],
        }
      : {
          // Per-message pricing (PMP): a template is charged by its category; service messages are free.
          pricing: {
            billable: spec.pricing?.billable ?? false,
            pricing_model: spec.pricing?.model ?? 'PMP',
            category: spec.pricing?.category ?? 'service',
            type: spec.pricing?.type ?? (spec.pricing?.billable ? 'regular' : 'free_customer_service'),
          },
        }),
  };
}

export function statusPayload(number: NumberInfo, specs: StatusSpec[]) {
  // Statuses of messages sent to a user id carry the user in contacts (not for failed ones, as Meta does).
  const users = [...new Set(specs.filter((s) => s.recipientUserId !== undefined && s.status !== 'failed').map((s) => s.recipientUserId))];
  return envelope(number, {
    ...(users.length > 0 ? { contacts: users.map((userId) => ({ user_id: userId })) } : {}),
    statuses: specs.map(statusEntry),
  });
}

/** One delivery carrying inbound messages and statuses together, as Meta sometimes batches them. */
export function batchPayload(number: NumberInfo, inbound: InboundSpec[], statuses: StatusSpec[]) {
  const payload = inboundPayload(number, inbound);
  const value = payload.entry[0]!.changes[0]!.value as Record<string, unknown>;
  value.statuses = statuses.map(statusEntry);
  return payload;
}

/** JSON as Meta sends it: non-ASCII escaped as \uXXXX (so the signed bytes are pure ASCII). */
export function serializeLikeMeta(payload: unknown): string {
  return JSON.stringify(payload).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A failed status's error: Meta's title and details for the code (131047's are not 131026's), or the title given. */
function failedStatusError(code: number, title: string | undefined): Record<string, unknown> {
  const known = sendErrorText(code);
  const shown = title ?? known?.title ?? 'Message undeliverable';
  return { code, title: shown, message: shown, error_data: { details: known?.details ?? 'Message failed to send.' } };
}
