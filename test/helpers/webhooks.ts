/**
 * The one builder of webhook payloads, and the published samples in test/fixtures/webhooks. Unit tests use the
 * documents (objects, malformed ones included); end-to-end tests use the bytes (`toBody`, `textDelivery`…),
 * serialised once, so the bytes sent are the bytes signed.
 *
 * scripts/crash-relay.mjs and scripts/fuzz-corpus.mjs build the same shapes in plain JS: they run standalone.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// ---------------------------------------------------------------------------------------------------------------
// The published samples

/** The in-repo copies (what tests read). */
export const FIXTURES_DIR = join(import.meta.dirname, '..', 'fixtures', 'webhooks');
/** The shared folder beside the repository, when present: the in-repo copies must match it. */
export const SHARED_FIXTURES_DIR = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'webhooks');
/** The phone number id the pywa samples use. */
export const FIXTURE_PHONE_NUMBER_ID = '1122334455667';

/** A sample's exact bytes. */
export function fixtureBytes(name: string): Buffer {
  return readFileSync(join(fixturesDir(), name));
}

/** A sample, parsed. */
export function fixtureJson(name: string): unknown {
  return JSON.parse(fixtureBytes(name).toString('utf8'));
}

/**
 * A sample's exact bytes with every `"phone_number_id": "…"` value replaced by `phoneNumberId`. Nothing else is
 * touched (the reaction sample's `\uXXXX` escapes stay escaped): the result is what gets signed and sent.
 */
export function fixtureFor(name: string, phoneNumberId: string): Buffer {
  const raw = fixtureBytes(name).toString('utf8');
  return Buffer.from(raw.replace(/("phone_number_id"\s*:\s*")[^"]*(")/g, `$1${phoneNumberId}$2`), 'utf8');
}

function fixturesDir(): string {
  return existsSync(join(FIXTURES_DIR, '01-inbound-text.json')) ? FIXTURES_DIR : SHARED_FIXTURES_DIR;
}

// ---------------------------------------------------------------------------------------------------------------
// Documents, as Meta shapes them

/** The WABA id of the built deliveries (the sandbox's). */
export const WABA_ID = '102290129340398';

export interface TextMessageSpec {
  wamid: string;
  from: string;
  body: string;
  /** The sender's profile name, in `contacts[]` (see `inbound`). */
  name?: string;
  /** Unix seconds; now by default, as Meta sends it. */
  timestamp?: number | string;
}

export interface StatusSpec {
  wamid: string;
  status: string;
  recipient?: string;
  timestamp?: number | string;
}

const nowSeconds = () => String(Math.floor(Date.now() / 1000));

/** A `messages[]` item of type text. */
export function textMessage(spec: TextMessageSpec): Record<string, unknown> {
  return { from: spec.from, id: spec.wamid, timestamp: String(spec.timestamp ?? nowSeconds()), type: 'text', text: { body: spec.body } };
}

/** A `statuses[]` item. */
export function statusItem(spec: StatusSpec): Record<string, unknown> {
  return {
    id: spec.wamid,
    status: spec.status,
    timestamp: String(spec.timestamp ?? nowSeconds()),
    ...(spec.recipient === undefined ? {} : { recipient_id: spec.recipient }),
  };
}

/** The `contacts`, `messages` and `statuses` of a `messages` value: one contact per message, as Meta sends them. */
export function inbound(messages: TextMessageSpec[], statuses: StatusSpec[] = []): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  if (messages.length > 0) {
    value.contacts = messages.map((m) => ({ profile: { name: m.name ?? `Sender ${m.from}` }, wa_id: m.from }));
    value.messages = messages.map(textMessage);
  }
  if (statuses.length > 0) value.statuses = statuses.map(statusItem);
  return value;
}

/** One `changes[]` item of field `messages` for the number; `value` adds its fields (any shape, malformed too). */
export function messagesChange(phoneNumberId: string, value: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    field: 'messages',
    value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '15550104242', phone_number_id: phoneNumberId },
      ...value,
    },
  };
}

/** One `entry[]` item. */
export function entry(changes: unknown[], id = WABA_ID): Record<string, unknown> {
  return { id, changes };
}

/** A whole delivery of these entries (any value, to build malformed ones). */
export function delivery(...entries: unknown[]): Record<string, unknown> {
  return { object: 'whatsapp_business_account', entry: entries };
}

// ---------------------------------------------------------------------------------------------------------------
// Bytes

/** A document serialised once: these bytes are signed and sent. */
export function toBody(document: unknown): Buffer {
  return Buffer.from(JSON.stringify(document));
}

/** A delivery of one text message for the number. */
export function textDelivery(phoneNumberId: string, message: TextMessageSpec): Buffer {
  return toBody(delivery(entry([messagesChange(phoneNumberId, inbound([message]))])));
}

/** A delivery of one status of a message the number sent. */
export function statusDelivery(phoneNumberId: string, status: StatusSpec): Buffer {
  return toBody(delivery(entry([messagesChange(phoneNumberId, inbound([], [status]))])));
}
