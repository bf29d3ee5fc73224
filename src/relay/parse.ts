/**
 * Turns one verified webhook delivery (already JSON-parsed) into what the relay stores: inbound messages, status
 * updates, Meta's errors, and the pieces it acknowledges without processing. Pure: no I/O, no clock, never throws
 * on any shape of input — a wrong shape becomes an `ignored` item so the delivery can still be acknowledged.
 */
import type { IgnoredItem, InboundMessage, ParsedDelivery, StatusUpdate, WebhookError } from './types.js';

export interface ParseOptions {
  /** Whether lumen has this phone number id connected; changes for any other number are acknowledged and ignored. */
  isConnected: (phoneNumberId: string) => boolean;
}

/**
 * Work cap for one delivery: entries, changes, messages, statuses, errors and contacts looked at, counted together.
 * Meta's real batches are far smaller; past this the rest is dropped with one `ignored` item saying so.
 */
export const MAX_DELIVERY_ITEMS = 10_000;

/** Used when Meta's timestamp is missing or not seconds since the epoch: the message is still kept. */
export const UNKNOWN_TIMESTAMP = '1970-01-01T00:00:00.000Z';

const FLOW_RESPONSE_MAX_CHARS = 200;
/** Meta's messages are a few levels deep; far deeper ones cannot be stored (JSON.stringify recurses). */
const MAX_RAW_DEPTH = 64;

/** Whether a JSON value nests deeper than `max`, checked without recursion. */
function deeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}
const DETAIL_VALUE_MAX_CHARS = 64;
const MEDIA_TYPES = new Set(['image', 'video', 'audio', 'document', 'sticker']);

type Json = Record<string, unknown>;

export function parseDelivery(body: unknown, options: ParseOptions): ParsedDelivery {
  const out: ParsedDelivery = { messages: [], statuses: [], errors: [], ignored: [] };
  if (!isRecord(body)) {
    out.ignored.push({ reason: 'malformed', detail: `body is ${describe(body)}, not an object` });
    return out;
  }
  const object = get(body, 'object');
  if (object !== 'whatsapp_business_account') {
    out.ignored.push({ reason: 'not_whatsapp_business_account', detail: `object is ${describe(object)}` });
    return out;
  }
  const entries = get(body, 'entry');
  if (!Array.isArray(entries)) {
    out.ignored.push({ reason: 'malformed', detail: `entry is ${describe(entries)}, not an array` });
    return out;
  }

  const budget = new Budget(out.ignored);
  for (let e = 0; e < entries.length && budget.take(); e++) {
    const entry: unknown = entries[e];
    const at = `entry[${e}]`;
    if (!isRecord(entry)) {
      out.ignored.push({ reason: 'malformed', detail: `${at} is ${describe(entry)}, not an object` });
      continue;
    }
    const wabaId = idLike(get(entry, 'id'));
    const changes = get(entry, 'changes');
    if (!Array.isArray(changes)) {
      out.ignored.push({ reason: 'malformed', detail: `${at}.changes is ${describe(changes)}, not an array` });
      continue;
    }
    for (let c = 0; c < changes.length && budget.take(); c++) {
      parseChange(changes[c], `${at}.changes[${c}]`, wabaId, options, budget, out);
    }
  }
  return out;
}

function parseChange(
  change: unknown,
  at: string,
  wabaId: string | null,
  options: ParseOptions,
  budget: Budget,
  out: ParsedDelivery,
): void {
  if (!isRecord(change)) {
    out.ignored.push({ reason: 'malformed', detail: `${at} is ${describe(change)}, not an object` });
    return;
  }
  const field = get(change, 'field');
  if (typeof field !== 'string') {
    out.ignored.push({ reason: 'malformed', detail: `${at}.field is ${describe(field)}, not a string` });
    return;
  }
  if (field !== 'messages') {
    out.ignored.push({ reason: 'other_field', field });
    return;
  }
  const value = get(change, 'value');
  if (!isRecord(value)) {
    out.ignored.push({ reason: 'malformed', field, detail: `${at}.value is ${describe(value)}, not an object` });
    return;
  }
  const metadata = get(value, 'metadata');
  const phoneNumberId = isRecord(metadata) ? nonEmptyString(get(metadata, 'phone_number_id')) : null;
  const malformed = (detail: string) => {
    const item: IgnoredItem = { reason: 'malformed', field, detail };
    out.ignored.push(phoneNumberId === null ? item : { ...item, phoneNumberId });
  };
  const errors = get(value, 'errors');
  if (phoneNumberId === null) {
    malformed(`${at}.value.metadata.phone_number_id is missing or not a string`);
    // Meta's errors are still worth reporting even when they cannot be routed to a number.
    walk(errors, `${at}.value.errors`, (item) => parseWebhookError(item, null), out.errors, budget, malformed);
    return;
  }
  if (!options.isConnected(phoneNumberId)) {
    out.ignored.push({ reason: 'unknown_phone_number', field, phoneNumberId });
    return;
  }

  const messages = get(value, 'messages');
  const statuses = get(value, 'statuses');
  if (messages === undefined && statuses === undefined && errors === undefined) {
    malformed(`${at}.value has no messages, statuses or errors`);
    return;
  }
  const contacts = new Contacts(get(value, 'contacts'), budget);
  const toMessage = (item: unknown) => parseMessage(item, phoneNumberId, wabaId, contacts);
  walk(messages, `${at}.value.messages`, toMessage, out.messages, budget, malformed);
  walk(statuses, `${at}.value.statuses`, (item) => parseStatus(item, phoneNumberId), out.statuses, budget, malformed);
  walk(errors, `${at}.value.errors`, (item) => parseWebhookError(item, phoneNumberId), out.errors, budget, malformed);
}

/** Parses each item of an optional array into `into`; a wrong shape (parse returns why) becomes `malformed`. */
function walk<T extends object>(
  list: unknown,
  at: string,
  parse: (item: unknown) => T | string,
  into: T[],
  budget: Budget,
  malformed: (detail: string) => void,
): void {
  if (list === undefined) return;
  if (!Array.isArray(list)) {
    malformed(`${at} is ${describe(list)}, not an array`);
    return;
  }
  for (let i = 0; i < list.length && budget.take(); i++) {
    const parsed = parse(list[i]);
    if (typeof parsed === 'string') malformed(`${at}[${i}] ${parsed}`);
    else into.push(parsed);
  }
}

/** An InboundMessage, or why the item was dropped. */
function parseMessage(
  message: unknown,
  phoneNumberId: string,
  wabaId: string | null,
  contacts: Contacts,
): InboundMessage | string {
  if (!isRecord(message)) return `is ${describe(message)}, not an object`;
  const wamid = nonEmptyString(get(message, 'id'));
  if (wamid === null) return 'has no id';
  if (deeperThan(message, MAX_RAW_DEPTH)) return `is nested deeper than ${MAX_RAW_DEPTH} levels`;

  const phone = nonEmptyString(get(message, 'from'));
  const fromUserId = nonEmptyString(get(message, 'from_user_id'));
  const contact = contacts.find(phone, fromUserId);
  const userId = fromUserId ?? (contact ? nonEmptyString(get(contact, 'user_id')) : null);
  const from = phone ?? userId;
  if (from === null) return 'has no sender (no from, from_user_id or contact user_id)';

  const profile = contact ? get(contact, 'profile') : undefined;
  const context = get(message, 'context');
  const type = messageType(message);
  const media = MEDIA_TYPES.has(type) ? get(message, type) : undefined;
  return {
    channel: 'whatsapp',
    wamid,
    phoneNumberId,
    wabaId,
    from,
    fromKind: phone !== null ? 'phone' : 'user_id',
    contactName: isRecord(profile) ? nonEmptyString(get(profile, 'name')) : null,
    userId,
    type,
    text: renderMessageText(message),
    mediaId: isRecord(media) ? idLike(get(media, 'id')) : null,
    replyTo: isRecord(context) ? nonEmptyString(get(context, 'id')) : null,
    timestamp: isoTimestamp(get(message, 'timestamp')),
    raw: message,
  };
}

function parseStatus(status: unknown, phoneNumberId: string): StatusUpdate | string {
  if (!isRecord(status)) return `is ${describe(status)}, not an object`;
  const wamid = nonEmptyString(get(status, 'id'));
  if (wamid === null) return 'has no id';
  if (deeperThan(status, MAX_RAW_DEPTH)) return `is nested deeper than ${MAX_RAW_DEPTH} levels`;
  const value = nonEmptyString(get(status, 'status'));
  if (value === null) return 'has no status';
  const error = firstError(get(status, 'errors'));
  return {
    wamid,
    phoneNumberId,
    status: value,
    recipientId: nonEmptyString(get(status, 'recipient_id')) ?? nonEmptyString(get(status, 'recipient_user_id')),
    timestamp: isoTimestamp(get(status, 'timestamp')),
    errorCode: error?.code ?? null,
    errorTitle: error?.title ?? null,
    errorDetails: error?.details ?? null,
    raw: status,
  };
}

function parseWebhookError(error: unknown, phoneNumberId: string | null): WebhookError | string {
  const fields = readError(error);
  return fields === null ? `is ${describe(error)}, not an object` : { phoneNumberId, ...fields };
}

type ErrorFields = Omit<WebhookError, 'phoneNumberId'>;

function firstError(errors: unknown): ErrorFields | null {
  return Array.isArray(errors) ? readError(errors[0]) : null;
}

/** Meta's error object: `{code, title, message, error_data: {details}}` (older payloads put `details` at the top). */
function readError(error: unknown): ErrorFields | null {
  if (!isRecord(error)) return null;
  const code = get(error, 'code');
  const data = get(error, 'error_data');
  return {
    code: typeof code === 'number' && Number.isFinite(code) ? code : null,
    title: nonEmptyString(get(error, 'title')),
    details:
      (isRecord(data) ? nonEmptyString(get(data, 'details')) : null) ??
      nonEmptyString(get(error, 'details')) ??
      nonEmptyString(get(error, 'message')),
  };
}

/**
 * The sender's `contacts[]` entry: matched by wa_id (phone) or user_id, else the only contact when it does not
 * name someone else. Indexes are built on first use and their scan counts against the delivery's budget.
 */
class Contacts {
  private readonly list: readonly unknown[];
  private byWaId: Map<string, Json> | undefined;
  private byUserId: Map<string, Json> | undefined;

  constructor(
    contacts: unknown,
    private readonly budget: Budget,
  ) {
    this.list = Array.isArray(contacts) ? contacts : [];
  }

  find(phone: string | null, userId: string | null): Json | null {
    if (this.list.length === 0) return null;
    this.index();
    const byPhone = phone === null ? undefined : this.byWaId?.get(phone);
    const matched = byPhone ?? (userId === null ? undefined : this.byUserId?.get(userId));
    if (matched) return matched;
    const only = this.list.length === 1 ? this.list[0] : undefined;
    if (!isRecord(only)) return null;
    const waId = nonEmptyString(get(only, 'wa_id'));
    const onlyUserId = nonEmptyString(get(only, 'user_id'));
    const otherPhone = phone !== null && waId !== null && waId !== phone;
    const otherUser = userId !== null && onlyUserId !== null && onlyUserId !== userId;
    return otherPhone || otherUser ? null : only;
  }

  private index(): void {
    if (this.byWaId) return;
    this.byWaId = new Map();
    this.byUserId = new Map();
    for (let i = 0; i < this.list.length && this.budget.take(); i++) {
      const contact = this.list[i];
      if (!isRecord(contact)) continue;
      const waId = nonEmptyString(get(contact, 'wa_id'));
      const userId = nonEmptyString(get(contact, 'user_id'));
      if (waId !== null && !this.byWaId.has(waId)) this.byWaId.set(waId, contact);
      if (userId !== null && !this.byUserId.has(userId)) this.byUserId.set(userId, contact);
    }
  }
}

/** Counts work across the whole delivery; the first refusal records one `ignored` item. */
class Budget {
  private used = 0;
  private exhausted = false;

  constructor(private readonly ignored: IgnoredItem[]) {}

  take(): boolean {
    if (this.used < MAX_DELIVERY_ITEMS) {
      this.used++;
      return true;
    }
    if (!this.exhausted) {
      this.exhausted = true;
      this.ignored.push({
        reason: 'malformed',
        detail: `delivery too large: stopped after ${MAX_DELIVERY_ITEMS} items`,
      });
    }
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Text rendering

/**
 * One human line for any message: the body for `text` (kept as sent), a bracketed summary for everything else,
 * e.g. `[image] caption (media 123)`, `[reaction] 👍 to wamid.X`, `[button] Yes (yes-id)`.
 */
export function renderMessageText(message: Record<string, unknown>): string {
  if (!isRecord(message)) return '[unknown]';
  const type = messageType(message);
  const payload = get(message, type);
  const content: Json = isRecord(payload) ? payload : {};
  switch (type) {
    case 'text': {
      const body = get(content, 'body');
      return typeof body === 'string' ? body : '[text]';
    }
    case 'image':
    case 'video':
    case 'sticker':
    case 'audio':
    case 'document':
      return renderMedia(type, content);
    case 'location':
      return renderLocation(content);
    case 'contacts':
      return renderContacts(payload);
    case 'interactive':
      return renderInteractive(content);
    case 'button': {
      const payloadId = idLike(get(content, 'payload'));
      return bracket('button', text(get(content, 'text')), payloadId && `(${oneLine(payloadId)})`);
    }
    case 'reaction': {
      const emoji = text(get(content, 'emoji'));
      const target = idLike(get(content, 'message_id'));
      const to = target && `to ${oneLine(target)}`;
      return emoji === null ? bracket('reaction removed', to) : bracket('reaction', emoji, to);
    }
    case 'order':
      return renderOrder(content);
    case 'system':
      return bracket('system', text(get(content, 'body')));
    case 'unsupported':
    case 'unknown': {
      const error = firstError(get(message, 'errors'));
      const kind = text(get(content, 'type'));
      return bracket(type, (error?.title ?? error?.details) || null, kind && `(${kind})`);
    }
    default: {
      const error = firstError(get(message, 'errors'));
      return bracket(oneLine(type).slice(0, DETAIL_VALUE_MAX_CHARS) || 'unknown', error?.title ?? null);
    }
  }
}

function renderMedia(type: string, media: Json): string {
  const label = type === 'audio' && get(media, 'voice') === true ? 'voice' : type;
  const filename = type === 'document' ? text(get(media, 'filename')) : null;
  const caption = text(get(media, 'caption'));
  const id = idLike(get(media, 'id'));
  const described = filename && caption ? `${filename} — ${caption}` : (filename ?? caption);
  return bracket(label, described, id && `(media ${oneLine(id)})`);
}

function renderLocation(location: Json): string {
  const place = joinPresent([text(get(location, 'name')), text(get(location, 'address'))], ', ');
  const lat = coordinate(get(location, 'latitude'));
  const lng = coordinate(get(location, 'longitude'));
  return bracket('location', place || null, lat !== null && lng !== null ? `(${lat}, ${lng})` : null);
}

function renderContacts(contacts: unknown): string {
  if (!Array.isArray(contacts) || contacts.length === 0) return '[contacts]';
  const first: unknown = contacts[0];
  let name: string | null = null;
  let phone: string | null = null;
  if (isRecord(first)) {
    const nameObj = get(first, 'name');
    if (isRecord(nameObj)) {
      name =
        text(get(nameObj, 'formatted_name')) ??
        (joinPresent([text(get(nameObj, 'first_name')), text(get(nameObj, 'last_name'))], ' ') || null);
    }
    const phones = get(first, 'phones');
    const firstPhone: unknown = Array.isArray(phones) ? phones[0] : undefined;
    if (isRecord(firstPhone)) phone = text(get(firstPhone, 'phone')) ?? text(get(firstPhone, 'wa_id'));
  }
  const more = contacts.length > 1 ? `and ${contacts.length - 1} more` : null;
  return bracket('contacts', name, phone, more);
}

function renderInteractive(interactive: Json): string {
  const subtype = text(get(interactive, 'type'));
  const reply = subtype === null ? undefined : get(interactive, subtype);
  const content: Json = isRecord(reply) ? reply : {};
  const titled = (label: string) => {
    const id = idLike(get(content, 'id'));
    return bracket(label, text(get(content, 'title')), id && `(${oneLine(id)})`);
  };
  switch (subtype) {
    case 'button_reply':
      return titled('button');
    case 'list_reply':
      return titled('list');
    case 'nfm_reply': {
      const response = get(content, 'response_json');
      const json = typeof response === 'string' ? truncate(oneLine(response), FLOW_RESPONSE_MAX_CHARS) : null;
      return bracket('flow', text(get(content, 'body')) ?? text(get(content, 'name')), json);
    }
    case null:
      return '[interactive]';
    default:
      return bracket('interactive', subtype.slice(0, DETAIL_VALUE_MAX_CHARS));
  }
}

function renderOrder(order: Json): string {
  const items = get(order, 'product_items');
  const count = Array.isArray(items) ? items.length : 0;
  const catalog = idLike(get(order, 'catalog_id'));
  const summary = `${count} ${count === 1 ? 'item' : 'items'}${catalog ? ` from catalog ${oneLine(catalog)}` : ''}`;
  const note = text(get(order, 'text'));
  return bracket('order', note ? `${summary} — ${note}` : summary);
}

/** `[label] part part…`, skipping absent parts. */
function bracket(label: string, ...parts: (string | null)[]): string {
  const rest = joinPresent(parts, ' ');
  return rest === '' ? `[${label}]` : `[${label}] ${rest}`;
}

function joinPresent(parts: (string | null)[], separator: string): string {
  return parts.filter((part): part is string => part !== null && part !== '').join(separator);
}

/** User-provided text inside a bracketed form: one line, or null when absent/blank. */
function text(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const line = oneLine(value);
  return line === '' ? null : line;
}

function oneLine(value: string): string {
  return value.replace(/\s*[\r\n\u2028\u2029]+\s*/g, ' ').trim();
}

function truncate(value: string, max: number): string {
  if (value.length <= max) return value;
  let cut = max;
  const code = value.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--; // do not split a surrogate pair
  return `${value.slice(0, cut)}…`;
}

function coordinate(value: unknown): number | null {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

// ---------------------------------------------------------------------------------------------------------------
// Small readers of unknown JSON

function messageType(message: Json): string {
  return nonEmptyString(get(message, 'type')) ?? 'unknown';
}

const MAX_ISO_SECONDS = 253_402_300_800; // 10000-01-01T00:00:00Z

/** The last conversion: the messages of a busy second share their timestamp. */
let lastSeconds = -1;
let lastIso = '';

/** Meta's `timestamp` (seconds since the epoch, a string; numbers accepted) as ISO 8601, else the epoch. */
function isoTimestamp(value: unknown): string {
  let seconds: number | null = null;
  if (typeof value === 'string' && /^\d{1,12}$/.test(value)) seconds = Number(value);
  else if (typeof value === 'number' && Number.isInteger(value) && value >= 0) seconds = value;
  // Past 9999-12-31 toISOString writes a 6-digit year (+033658-…), which no longer sorts as text.
  if (seconds === null || seconds >= MAX_ISO_SECONDS) return UNKNOWN_TIMESTAMP;
  if (seconds !== lastSeconds) {
    lastIso = new Date(seconds * 1000).toISOString();
    lastSeconds = seconds;
  }
  return lastIso;
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own properties only, so `constructor`, `toString`… never leak in from the prototype. */
function get(record: Json, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A string with something in it (ids and senders of only spaces are as good as missing). */
function nonEmptyString(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

/** Ids are strings in Meta's payloads; a finite number is accepted as its decimal form. */
function idLike(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return nonEmptyString(value);
}

/** A short, safe description of an unexpected value for `ignored[].detail`. */
function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    const shown = JSON.stringify(truncate(value, DETAIL_VALUE_MAX_CHARS));
    return `the string ${shown}`;
  }
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value).slice(0, DETAIL_VALUE_MAX_CHARS)}`;
}
