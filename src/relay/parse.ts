/**
 * Turns one verified webhook delivery (already JSON-parsed) into what the relay stores: inbound messages, status
 * updates, Meta's errors, and the pieces it acknowledges without processing. Pure: no I/O, no clock, never throws
 * on any shape of input — a wrong shape becomes an `ignored` item so the delivery can still be acknowledged.
 * This module walks the payload; `render.ts` turns each message into its one-line text.
 */
import {
  firstMetaError,
  get,
  idLike,
  isRecord,
  type Json,
  messageType,
  nonEmptyString,
  readMetaError,
  toWellFormed,
  truncate,
} from './payload.js';
import { deeperThan } from '../json.js';
import { renderMessageText } from './render.js';
import type {
  AccountChange,
  DeliveryStatusValue,
  EchoChange,
  EditChange,
  FieldChange,
  IgnoredItem,
  InboundMedia,
  InboundMessage,
  ParsedDelivery,
  PreferenceChange,
  StatusPricing,
  StatusUpdate,
  TemplateChange,
  WebhookError,
} from './types.js';
import { TEMPLATE_STATUSES } from './types.js';

export { renderMessageText } from './render.js';

export interface ParseOptions {
  /** Whether lumen has this phone number id connected; changes for any other number are acknowledged and ignored. */
  isConnected: (phoneNumberId: string) => boolean;
  /** Whether a WABA id is one of a connected number's; changes about any other account are ignored. Default: all. */
  isKnownWaba?: (wabaId: string) => boolean;
}

/**
 * Work cap for one delivery: entries, changes, messages, statuses, errors and contacts looked at, counted together.
 * Meta's real batches are far smaller; past this the rest is skipped, `overBudget` is set and one `ignored` item
 * says so.
 */
export const MAX_DELIVERY_ITEMS = 10_000;

/** Used when Meta's timestamp is missing or not seconds since the epoch: the message is still kept (the relay dates it when it arrived). */
export const UNKNOWN_TIMESTAMP = '1970-01-01T00:00:00.000Z';

/** The status values Meta sends about a message lumen sent; any other value is ignored, never stored. */
const STATUS_VALUES: ReadonlySet<string> = new Set<DeliveryStatusValue>(['sent', 'delivered', 'read', 'failed']);

function isKnownStatus(value: string): value is DeliveryStatusValue {
  return STATUS_VALUES.has(value);
}

/** Meta's messages are a few levels deep; far deeper ones cannot be stored (JSON.stringify recurses). */
const MAX_RAW_DEPTH = 64;
const DETAIL_VALUE_MAX_CHARS = 64;
const MEDIA_TYPES: ReadonlySet<string> = new Set(['image', 'video', 'audio', 'document', 'sticker']);

export function parseDelivery(body: unknown, options: ParseOptions): ParsedDelivery {
  const out: ParsedDelivery = { messages: [], statuses: [], errors: [], changes: [], ignored: [], overBudget: false };
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
    const wabaId = keyLike(get(entry, 'id'));
    const changes = get(entry, 'changes');
    if (!Array.isArray(changes)) {
      out.ignored.push({ reason: 'malformed', detail: `${at}.changes is ${describe(changes)}, not an array` });
      continue;
    }
    const time = isoTimestamp(get(entry, 'time'));
    const entryTime = time === UNKNOWN_TIMESTAMP ? null : time;
    for (let c = 0; c < changes.length && budget.take(); c++) {
      parseChange(changes[c], `${at}.changes[${c}]`, wabaId, entryTime, options, budget, out);
    }
  }
  out.overBudget = budget.exhausted;
  return out;
}

function parseChange(
  change: unknown,
  at: string,
  wabaId: string | null,
  entryTime: string | null,
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
  const value = get(change, 'value');
  const handler = Object.hasOwn(FIELD_HANDLERS, field) ? FIELD_HANDLERS[field] : undefined;
  if (handler === undefined) {
    out.ignored.push({ reason: 'other_field', field });
    // Not processed, but Meta's errors about it are still reported.
    if (isRecord(value)) parseOtherFieldErrors(value, at, field, wabaId, options, budget, out);
    return;
  }
  if (!isRecord(value)) {
    out.ignored.push({ reason: 'malformed', field, detail: `${at}.value is ${describe(value)}, not an object` });
    return;
  }
  handler({ value, at, field, wabaId, entryTime, options, budget, out });
}

interface FieldContext {
  value: Json;
  at: string;
  field: string;
  wabaId: string | null;
  /** The entry's `time` (ISO), when it has one. */
  entryTime: string | null;
  options: ParseOptions;
  budget: Budget;
  out: ParsedDelivery;
}

type FieldHandler = (context: FieldContext) => void;

/** Each webhook field lumen acts on, and what reads it. Any other field is acknowledged as `other_field`. */
const FIELD_HANDLERS: Readonly<Record<string, FieldHandler>> = {
  messages: parseMessagesField,
  smb_message_echoes: parseEchoesField,
  user_preferences: parsePreferencesField,
  message_template_status_update: parseTemplateField,
  template_category_update: parseTemplateField,
  message_template_quality_update: parseTemplateField,
  message_template_components_update: parseTemplateField,
  account_update: parseAccountField,
  phone_number_quality_update: parseAccountField,
  business_capability_update: parseAccountField,
};

/** The fields lumen acts on (for documentation and `--events`). */
export const HANDLED_FIELDS: readonly string[] = Object.keys(FIELD_HANDLERS);

/**
 * The number a per-number change is about, when it is one lumen has connected; else the change is reported (missing
 * number: its errors are still kept; another number: ignored) and null returned.
 */
function connectedNumber(context: FieldContext, listsPresent: boolean, lists: string): string | null {
  const { value, at, field, wabaId, options, budget, out } = context;
  const phoneNumberId = phoneNumberIdOf(value);
  const malformed = malformedReporter(out, field, phoneNumberId);
  const errors = get(value, 'errors');
  if (phoneNumberId === null) {
    malformed(`${at}.value.metadata.phone_number_id is missing or not a string`);
    // Meta's errors are still worth reporting even when they cannot be routed to a number.
    walk(errors, `${at}.value.errors`, (item) => parseWebhookError(item, field, null, wabaId), out.errors, budget, malformed);
    return null;
  }
  if (!options.isConnected(phoneNumberId)) {
    out.ignored.push({ reason: 'unknown_phone_number', field, phoneNumberId });
    return null;
  }
  if (!listsPresent && errors === undefined) {
    malformed(`${at}.value has no ${lists}`);
    return null;
  }
  walk(errors, `${at}.value.errors`, (item) => parseWebhookError(item, field, phoneNumberId, wabaId), out.errors, budget, malformed);
  return phoneNumberId;
}

function parseMessagesField(context: FieldContext): void {
  const { value, at, field, wabaId, budget, out } = context;
  const messages = get(value, 'messages');
  const statuses = get(value, 'statuses');
  const phoneNumberId = connectedNumber(context, messages !== undefined || statuses !== undefined, 'messages, statuses or errors');
  if (phoneNumberId === null) return;
  const malformed = malformedReporter(out, field, phoneNumberId);
  const contacts = new Contacts(get(value, 'contacts'), budget);
  // Edits and revokes of earlier messages are changes to them, not new messages.
  const edits: EditChange[] = [];
  const toMessage = (item: unknown) => {
    const edit = isRecord(item) ? parseEdit(item, field, phoneNumberId, wabaId) : null;
    if (edit !== null) {
      if (typeof edit === 'string') return edit;
      edits.push(edit);
      return null;
    }
    return parseMessage(item, phoneNumberId, wabaId, contacts);
  };
  const toStatus = (item: unknown, index: number) =>
    parseStatus(item, phoneNumberId, (value) => {
      const detail = `${at}.value.statuses[${index}].status is ${describe(value)}`;
      out.ignored.push({ reason: 'unknown_status', field, phoneNumberId, detail });
    });
  walk(messages, `${at}.value.messages`, toMessage, out.messages, budget, malformed);
  walk(statuses, `${at}.value.statuses`, toStatus, out.statuses, budget, malformed);
  out.changes.push(...edits);
}

/** `type: "edit"` / `type: "revoke"` messages: null when the message is neither, a string when its shape is wrong. */
function parseEdit(message: Json, field: string, phoneNumberId: string, wabaId: string | null): EditChange | string | null {
  const type = messageType(message);
  if (type !== 'edit' && type !== 'revoke') return null;
  const content = get(message, type);
  const context = get(message, 'context');
  const original =
    (isRecord(content) ? keyString(get(content, 'original_message_id')) ?? keyString(get(content, 'message_id')) : null) ??
    (isRecord(context) ? keyString(get(context, 'id')) : null);
  if (original === null) return `is an ${type} naming no original_message_id`;
  if (deeperThan(message, MAX_RAW_DEPTH)) return `is nested deeper than ${MAX_RAW_DEPTH} levels`;
  let text: string | null = null;
  if (type === 'edit' && isRecord(content)) {
    const edited = get(content, 'message');
    text = isRecord(edited) ? renderMessageText(edited) : isRecord(get(content, 'text')) ? renderMessageText({ type: 'text', text: get(content, 'text') }) : null;
  }
  return {
    kind: type,
    field,
    phoneNumberId,
    wabaId,
    wamid: keyString(get(message, 'id')),
    originalWamid: original,
    text,
    timestamp: isoTimestamp(get(message, 'timestamp')),
    raw: message,
  };
}

/** smb_message_echoes: messages the business sent from the WhatsApp Business app (and their edits and revokes). */
function parseEchoesField(context: FieldContext): void {
  const { value, at, field, wabaId, budget, out } = context;
  const echoes = get(value, 'message_echoes');
  const phoneNumberId = connectedNumber(context, echoes !== undefined, 'message_echoes or errors');
  if (phoneNumberId === null) return;
  const toEcho = (item: unknown): FieldChange | string => {
    if (!isRecord(item)) return `is ${describe(item)}, not an object`;
    const edit = parseEdit(item, field, phoneNumberId, wabaId);
    if (edit !== null) return edit;
    const wamid = keyString(get(item, 'id'));
    if (wamid === null) return 'has no id';
    const to = keyString(get(item, 'to')) ?? keyString(get(item, 'to_user_id'));
    if (to === null) return 'has no recipient (to)';
    if (deeperThan(item, MAX_RAW_DEPTH)) return `is nested deeper than ${MAX_RAW_DEPTH} levels`;
    const echo: EchoChange = {
      kind: 'echo',
      field,
      phoneNumberId,
      wabaId,
      wamid,
      to,
      type: messageType(item),
      text: renderMessageText(item),
      timestamp: isoTimestamp(get(item, 'timestamp')),
      raw: item,
    };
    return echo;
  };
  walk(echoes, `${at}.value.message_echoes`, toEcho, out.changes, budget, malformedReporter(out, field, phoneNumberId));
}

/** user_preferences: marketing opt-outs (`value: "stop"`) and opt-ins (`"resume"`). */
function parsePreferencesField(context: FieldContext): void {
  const { value, at, field, wabaId, budget, out } = context;
  const preferences = get(value, 'user_preferences');
  const phoneNumberId = connectedNumber(context, preferences !== undefined, 'user_preferences or errors');
  if (phoneNumberId === null) return;
  const toPreference = (item: unknown): PreferenceChange | string => {
    if (!isRecord(item)) return `is ${describe(item)}, not an object`;
    const contact = keyString(get(item, 'wa_id')) ?? keyString(get(item, 'user_id'));
    if (contact === null) return 'names no user (wa_id or user_id)';
    const category = nonEmptyString(get(item, 'category'));
    const choice = nonEmptyString(get(item, 'value'));
    if (category === null || choice === null) return 'has no category or value';
    if (deeperThan(item, MAX_RAW_DEPTH)) return `is nested deeper than ${MAX_RAW_DEPTH} levels`;
    return {
      kind: 'preference',
      field,
      phoneNumberId,
      wabaId,
      contact,
      category: truncate(category, 64),
      value: truncate(choice, 64),
      detail: nonEmptyString(get(item, 'detail')),
      timestamp: isoTimestamp(get(item, 'timestamp')),
      raw: item,
    };
  };
  walk(preferences, `${at}.value.user_preferences`, toPreference, out.changes, budget, malformedReporter(out, field, phoneNumberId));
}

/** Whether a WABA-level change (templates, account) is about an account lumen knows; reported as ignored if not. */
function knownAccount(context: FieldContext): boolean {
  const { wabaId, options, field, out } = context;
  if (wabaId === null || !options.isKnownWaba || options.isKnownWaba(wabaId)) return true;
  out.ignored.push({ reason: 'unknown_account', field, detail: `WABA ${wabaId}` });
  return false;
}

/** The four template fields: status (with Meta's reason), category, quality score, components. */
function parseTemplateField(context: FieldContext): void {
  const { value, at, field, wabaId, out } = context;
  parseOtherFieldErrors(value, at, field, wabaId, context.options, context.budget, out);
  if (!knownAccount(context)) return;
  const text = (name: string) => {
    const found = nonEmptyString(get(value, name));
    return found === null ? null : truncate(found, 1000);
  };
  const templateId = keyLike(get(value, 'message_template_id'));
  const name = text('message_template_name');
  const language = text('message_template_language');
  if (templateId === null && (name === null || language === null)) {
    malformedReporter(out, field, null)(`${at}.value names no template (message_template_id, or its name and language)`);
    return;
  }
  if (deeperThan(value, MAX_RAW_DEPTH)) {
    malformedReporter(out, field, null)(`${at}.value is nested deeper than ${MAX_RAW_DEPTH} levels`);
    return;
  }
  const change: TemplateChange = {
    kind: 'template',
    field,
    wabaId,
    templateId,
    name,
    language,
    status: null,
    reason: null,
    category: null,
    previousCategory: null,
    quality: null,
    components: null,
    eventAt: context.entryTime,
    raw: value,
  };
  if (field === 'message_template_status_update') {
    const event = text('event')?.toUpperCase() ?? null;
    if (event === null) {
      malformedReporter(out, field, null)(`${at}.value has no event (the new status)`);
      return;
    }
    // REINSTATED: a paused template is approved again. FLAGGED: its quality is low (it is paused if that lasts).
    // Another event is no status: taken as one, it would block every send of the template.
    if (event === 'FLAGGED') change.quality = 'RED';
    else if (event === 'REINSTATED' || TEMPLATE_STATUSES.includes(event)) change.status = event === 'REINSTATED' ? 'APPROVED' : event;
    else {
      out.ignored.push({ reason: 'unknown_status', field, detail: `template event ${JSON.stringify(event.slice(0, 40))}` });
      return;
    }
    change.reason = templateReason(value);
    change.category = text('message_template_category');
  } else if (field === 'template_category_update') {
    change.category = text('new_category') ?? text('correct_category');
    change.previousCategory = text('previous_category');
  } else if (field === 'message_template_quality_update') {
    change.quality = text('new_quality_score');
  } else {
    const components: Record<string, unknown> = {};
    for (const key of ['message_template_element', 'message_template_title', 'message_template_footer', 'message_template_buttons']) {
      const part = get(value, key);
      if (part !== undefined) components[key.replace('message_template_', '')] = part;
    }
    change.components = components;
  }
  out.changes.push(change);
}

/** Meta's reason for a status: `reason` (NONE means none), else the rejection's or the pause's own words. */
function templateReason(value: Json): string | null {
  const parts: string[] = [];
  const reason = nonEmptyString(get(value, 'reason'));
  if (reason !== null && reason.toUpperCase() !== 'NONE') parts.push(reason);
  for (const key of ['rejection_info', 'other_info', 'disable_info']) {
    const info = get(value, key);
    if (!isRecord(info)) continue;
    const words = nonEmptyString(get(info, 'reason')) ?? nonEmptyString(get(info, 'title')) ?? nonEmptyString(get(info, 'description'));
    if (words !== null && !parts.includes(words)) parts.push(words);
  }
  return parts.length > 0 ? truncate(parts.join(': '), 1000) : null;
}

/** account_update, phone_number_quality_update and business_capability_update. */
function parseAccountField(context: FieldContext): void {
  const { value, at, field, wabaId, out } = context;
  parseOtherFieldErrors(value, at, field, wabaId, context.options, context.budget, out);
  if (!knownAccount(context)) return;
  if (deeperThan(value, MAX_RAW_DEPTH)) {
    malformedReporter(out, field, null)(`${at}.value is nested deeper than ${MAX_RAW_DEPTH} levels`);
    return;
  }
  const text = (record: Json, name: string) => {
    const found = nonEmptyString(get(record, name));
    return found === null ? null : truncate(found, 200);
  };
  const event = text(value, 'event');
  const change: AccountChange = {
    kind: 'account',
    field,
    wabaId,
    phoneNumber: keyLike(get(value, 'phone_number')) ?? keyLike(get(value, 'display_phone_number')),
    event,
    qualityRating: null,
    messagingLimit: null,
    restriction: null,
    coexistence: null,
    capability: null,
    eventAt: context.entryTime,
    raw: value,
  };
  if (field === 'phone_number_quality_update') {
    change.messagingLimit = text(value, 'current_limit') ?? text(value, 'messaging_limit_tier');
    // FLAGGED (quality low), UNFLAGGED, UPGRADE, DOWNGRADE…: the event is the rating's news.
    const quality = text(value, 'quality_rating') ?? text(value, 'new_quality_score');
    change.qualityRating = quality ?? (event === 'FLAGGED' ? 'RED' : event === 'UNFLAGGED' ? 'GREEN' : null);
  } else if (field === 'business_capability_update') {
    change.capability = value;
    const limit = get(value, 'max_daily_conversation_per_phone') ?? get(value, 'max_daily_conversations_per_business');
    if (typeof limit === 'number' || typeof limit === 'string') change.messagingLimit = String(limit);
  } else {
    const restrictions = get(value, 'restriction_info');
    if (Array.isArray(restrictions)) {
      const named = restrictions
        .filter(isRecord)
        .map((r) => [text(r, 'restriction_type'), text(r, 'expiration') ?? idLike(get(r, 'expiration'))].filter(Boolean).join(' until '))
        .filter((r) => r !== '');
      if (named.length > 0) change.restriction = named.join(', ');
    }
    const ban = get(value, 'ban_info');
    if (isRecord(ban) && change.restriction === null) change.restriction = text(ban, 'waba_ban_state');
    const violation = get(value, 'violation_info');
    if (isRecord(violation) && change.restriction === null) change.restriction = text(violation, 'violation_type');
    if (event === 'ACCOUNT_RESTRICTION' && change.restriction === null) change.restriction = 'ACCOUNT_RESTRICTION';
    // Coexistence: the number is on the WhatsApp Business app too (Meta names it in the account or its phone fields).
    const onApp = get(value, 'is_on_biz_app');
    if (typeof onApp === 'boolean') change.coexistence = onApp;
    if (event === 'PARTNER_APP_INSTALLED' || event === 'BUSINESS_APP_ONBOARDED' || event === 'COEXISTENCE_ONBOARDED') change.coexistence = true;
    if (event === 'PARTNER_APP_UNINSTALLED' || event === 'PARTNER_REMOVED') change.coexistence = false;
  }
  out.changes.push(change);
}

/** `value.errors` of a change without a connected number to walk it (WABA-level or unhandled fields): reported unless they are about a number lumen does not have. */
function parseOtherFieldErrors(
  value: Json,
  at: string,
  field: string,
  wabaId: string | null,
  options: ParseOptions,
  budget: Budget,
  out: ParsedDelivery,
): void {
  const errors = get(value, 'errors');
  if (errors === undefined) return;
  const phoneNumberId = phoneNumberIdOf(value);
  if (phoneNumberId !== null && !options.isConnected(phoneNumberId)) return;
  const toError = (item: unknown) => parseWebhookError(item, field, phoneNumberId, wabaId);
  walk(errors, `${at}.value.errors`, toError, out.errors, budget, malformedReporter(out, field, phoneNumberId));
}

function phoneNumberIdOf(value: Json): string | null {
  const metadata = get(value, 'metadata');
  return isRecord(metadata) ? keyString(get(metadata, 'phone_number_id')) : null;
}

function malformedReporter(out: ParsedDelivery, field: string, phoneNumberId: string | null) {
  return (detail: string): void => {
    const item: IgnoredItem = { reason: 'malformed', field, detail };
    out.ignored.push(phoneNumberId === null ? item : { ...item, phoneNumberId });
  };
}

/**
 * Parses each item of an optional array into `into`. `parse` returns the item, why its shape is wrong (reported as
 * `malformed`), or null when it has reported the item as ignored itself.
 */
function walk<T extends object>(
  list: unknown,
  at: string,
  parse: (item: unknown, index: number) => T | string | null,
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
    const parsed = parse(list[i], i);
    if (typeof parsed === 'string') malformed(`${at}[${i}] ${parsed}`);
    else if (parsed !== null) into.push(parsed);
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
  const wamid = keyString(get(message, 'id'));
  if (wamid === null) return 'has no id';
  if (deeperThan(message, MAX_RAW_DEPTH)) return `is nested deeper than ${MAX_RAW_DEPTH} levels`;

  const phone = keyString(get(message, 'from'));
  const fromUserId = keyString(get(message, 'from_user_id'));
  const contact = contacts.find(phone, fromUserId);
  const userId = fromUserId ?? (contact ? keyString(get(contact, 'user_id')) : null);
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
    parentUserId: contact ? keyString(get(contact, 'parent_user_id')) : null,
    type,
    text: renderMessageText(message),
    mediaId: isRecord(media) ? keyLike(get(media, 'id')) : null,
    media: inboundMedia(media),
    replyTo: isRecord(context) ? keyString(get(context, 'id')) : null,
    timestamp: isoTimestamp(get(message, 'timestamp')),
    raw: message,
  };
}

/** The media object of an image/video/audio/document/sticker message, when it names a media id. */
function inboundMedia(media: unknown): InboundMedia | null {
  if (!isRecord(media)) return null;
  const id = keyLike(get(media, 'id'));
  if (id === null) return null;
  const text = (name: string) => nonEmptyString(get(media, name));
  return { id, mimeType: text('mime_type'), sha256: text('sha256'), caption: text('caption'), filename: text('filename') };
}

/** A StatusUpdate, why the item was dropped, or null when its value is not one lumen knows (`onUnknown` is told). */
function parseStatus(
  status: unknown,
  phoneNumberId: string,
  onUnknown: (value: string) => void,
): StatusUpdate | string | null {
  if (!isRecord(status)) return `is ${describe(status)}, not an object`;
  const wamid = keyString(get(status, 'id'));
  if (wamid === null) return 'has no id';
  if (deeperThan(status, MAX_RAW_DEPTH)) return `is nested deeper than ${MAX_RAW_DEPTH} levels`;
  const value = nonEmptyString(get(status, 'status'));
  if (value === null) return 'has no status';
  if (!isKnownStatus(value)) {
    // Stores rank statuses by value: one they do not know (`constructor`, a future value) is never handed on.
    onUnknown(value);
    return null;
  }
  const error = firstMetaError(get(status, 'errors'));
  return {
    wamid,
    phoneNumberId,
    status: value,
    recipientId: keyString(get(status, 'recipient_id')) ?? keyString(get(status, 'recipient_user_id')),
    timestamp: isoTimestamp(get(status, 'timestamp')),
    errorCode: error?.code ?? null,
    errorTitle: error?.title ?? null,
    errorDetails: error ? (error.details ?? error.message) : null,
    pricing: readPricing(get(status, 'pricing')),
    raw: status,
  };
}

/** `pricing: {billable, pricing_model, category, type}`; unknown categories and types are kept as given. */
function readPricing(pricing: unknown): StatusPricing | null {
  if (!isRecord(pricing)) return null;
  const text = (name: string) => {
    const found = nonEmptyString(get(pricing, name));
    return found === null ? null : truncate(found, 64);
  };
  const billable = get(pricing, 'billable');
  return {
    model: text('pricing_model'),
    category: text('category')?.toLowerCase() ?? null,
    type: text('type'),
    billable: typeof billable === 'boolean' ? billable : null,
  };
}

function parseWebhookError(
  error: unknown,
  field: string,
  phoneNumberId: string | null,
  wabaId: string | null,
): WebhookError | string {
  if (!isRecord(error)) return `is ${describe(error)}, not an object`;
  if (deeperThan(error, MAX_RAW_DEPTH)) return `is nested deeper than ${MAX_RAW_DEPTH} levels`;
  return { field, phoneNumberId, wabaId, ...readMetaError(error), raw: error };
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
    const waId = keyString(get(only, 'wa_id'));
    const onlyUserId = keyString(get(only, 'user_id'));
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
      const waId = keyString(get(contact, 'wa_id'));
      const userId = keyString(get(contact, 'user_id'));
      if (waId !== null && !this.byWaId.has(waId)) this.byWaId.set(waId, contact);
      if (userId !== null && !this.byUserId.has(userId)) this.byUserId.set(userId, contact);
    }
  }
}

/** Counts work across the whole delivery; the first refusal records one `ignored` item. */
class Budget {
  private used = 0;
  private refused = false;

  constructor(private readonly ignored: IgnoredItem[]) {}

  /** Whether something was skipped because the budget ran out. */
  get exhausted(): boolean {
    return this.refused;
  }

  take(): boolean {
    if (this.used < MAX_DELIVERY_ITEMS) {
      this.used++;
      return true;
    }
    if (!this.refused) {
      this.refused = true;
      this.ignored.push({
        reason: 'malformed',
        detail: `delivery too large: stopped after ${MAX_DELIVERY_ITEMS} items`,
      });
    }
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Small readers of unknown JSON

/** An id used as a key (wamid, sender, phone number id…): a non-empty string, made well-formed. */
function keyString(value: unknown): string | null {
  const id = nonEmptyString(value);
  return id === null ? null : toWellFormed(id);
}

/** Like `keyString`, also taking a finite number as its decimal form (WABA and media ids). */
function keyLike(value: unknown): string | null {
  const id = idLike(value);
  return id === null ? null : toWellFormed(id);
}

const MAX_ISO_SECONDS = 253_402_300_800; // 10000-01-01T00:00:00Z
const MIN_SECONDS = 1_230_768_000; // 2009-01-01T00:00:00Z

/** Meta's `timestamp` (seconds since the epoch, a string; numbers accepted) as ISO 8601, else the epoch. */
function isoTimestamp(value: unknown): string {
  let seconds: number | null = null;
  if (typeof value === 'string' && /^\d{1,12}$/.test(value)) seconds = Number(value);
  else if (typeof value === 'number' && Number.isInteger(value) && value >= 0) seconds = value;
  // Past 9999-12-31 toISOString writes a 6-digit year (+033658-…), which no longer sorts as text; before 2009 there
  // was no WhatsApp to send it.
  if (seconds === null || seconds >= MAX_ISO_SECONDS || seconds < MIN_SECONDS) return UNKNOWN_TIMESTAMP;
  return new Date(seconds * 1000).toISOString();
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
