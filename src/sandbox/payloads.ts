/**
 * Webhook deliveries shaped like Meta's (`whatsapp_business_account` envelope, one change per number), used by the
 * sandbox's webhook sender and by `lumen trigger`. Field names and nesting follow Meta's webhook reference.
 */
import { randomBytes } from 'node:crypto';

export interface NumberInfo {
  wabaId: string;
  phoneNumberId: string;
  /** Digits only, as webhook metadata carries it. */
  displayPhoneNumber: string;
}

export const INBOUND_TYPES = ['text', 'image', 'location', 'interactive', 'button', 'reaction', 'contacts', 'order'] as const;
export type InboundType = (typeof INBOUND_TYPES)[number];

export interface InboundSpec {
  from: string;
  name?: string;
  type?: InboundType;
  text?: string;
  /** The message this one answers or reacts to. */
  contextWamid?: string;
  wamid?: string;
  timestamp?: number;
}

export interface StatusSpec {
  wamid: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  recipient: string;
  timestamp?: number;
  errorCode?: number;
  errorTitle?: string;
}

/** A wamid in Meta's style: "wamid." + base64 of an opaque id. */
export function newWamid(recipient = '15550000000'): string {
  const inner = Buffer.concat([Buffer.from(`\u0018\f${recipient}\u0015\u0002\u0000\u0012\u0018\u0014`, 'latin1'), randomBytes(10)]);
  return `wamid.${inner.toString('base64')}`;
}

const seconds = (value?: number) => String(value ?? Math.floor(Date.now() / 1000));

/** The `messages[]` entry for one inbound message of the given type. */
export function inboundMessage(spec: InboundSpec): Record<string, unknown> {
  const type = spec.type ?? 'text';
  const text = spec.text ?? 'Hello from the sandbox';
  const base: Record<string, unknown> = {
    from: spec.from,
    id: spec.wamid ?? newWamid(spec.from),
    timestamp: seconds(spec.timestamp),
  };
  if (spec.contextWamid && type !== 'reaction') base.context = { from: spec.from, id: spec.contextWamid };
  switch (type) {
    case 'text':
      return { ...base, text: { body: text }, type };
    case 'image':
      return {
        ...base,
        type,
        image: { caption: text, mime_type: 'image/jpeg', sha256: randomBytes(32).toString('base64'), id: String(Date.now()) },
      };
    case 'location':
      return { ...base, type, location: { latitude: 52.3676, longitude: 4.9041, name: text, address: 'Dam 1, Amsterdam' } };
    case 'interactive':
      return { ...base, type, interactive: { type: 'button_reply', button_reply: { id: 'yes', title: text } } };
    case 'button':
      return { ...base, type, button: { payload: 'TRACK', text } };
    case 'reaction':
      return { ...base, type, reaction: { message_id: spec.contextWamid ?? newWamid(spec.from), emoji: '👍' } };
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
  const senders = new Map(specs.map((s) => [s.from, s.name ?? 'Sandbox User']));
  return envelope(number, {
    contacts: [...senders].map(([waId, name]) => ({ profile: { name }, wa_id: waId })),
    messages: specs.map(inboundMessage),
  });
}

export function statusEntry(spec: StatusSpec): Record<string, unknown> {
  return {
    id: spec.wamid,
    status: spec.status,
    timestamp: seconds(spec.timestamp),
    recipient_id: spec.recipient,
    ...(spec.status === 'failed'
      ? {
          errors: [
            {
              code: spec.errorCode ?? 131026,
              title: spec.errorTitle ?? 'Message undeliverable',
              message: spec.errorTitle ?? 'Message undeliverable',
              error_data: { details: 'Message failed to send.' },
            },
          ],
        }
      : {
          conversation: { id: randomBytes(16).toString('hex'), origin: { type: 'service' } },
          pricing: { billable: true, pricing_model: 'PMP', category: 'service', type: 'regular' },
        }),
  };
}

export function statusPayload(number: NumberInfo, specs: StatusSpec[]) {
  return envelope(number, { statuses: specs.map(statusEntry) });
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
