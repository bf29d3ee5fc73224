/**
 * Meta's checks on the content of an outbound message, one function per type. Field paths in errors are written
 * the way Meta writes them (`interactive['action']['buttons'][0]['reply']['title']`). Missing or malformed values
 * are code 100; values Meta parses but refuses (counts, duplicates, lengths of button and row texts, ranges) are
 * 131009 "Parameter value is not valid", with the field named in `error_data.details`.
 */
import {
  badParameter,
  invalidParameterValue,
  missingParameter,
  parameterValueNotValid,
} from './errors.js';
import { isRecord } from './http.js';
import type { MediaStore } from './media.js';

export const TEXT_BODY_MAX = 4096;
export const CAPTION_MAX = 1024;
const BUTTON_BODY_MAX = 1024;
const LIST_BODY_MAX = 4096;
const HEADER_TEXT_MAX = 60;
const FOOTER_TEXT_MAX = 60;
const WAMID = /^wamid\.[A-Za-z0-9+/=_-]+$/;

const key = (path: string, name: string) => `${path}['${name}']`;
const at = (path: string, index: number) => `${path}[${index}]`;

/** Length in characters (code points), as Meta counts them. */
function length(text: string): number {
  return [...text].length;
}

/** A required or optional string of at most `max` characters; with `notValid` a too-long one is a 131009. */
function text(
  parent: Record<string, unknown>,
  name: string,
  path: string,
  options: { required: boolean; max?: number; notValid?: string },
): string | undefined {
  const value = parent[name];
  const where = key(path, name);
  if (value === undefined || value === null || value === '') {
    if (options.required) throw missingParameter(where);
    return undefined;
  }
  if (typeof value !== 'string') throw badParameter(`Param ${where} must be a string.`);
  if (options.max !== undefined && length(value) > options.max) {
    if (options.notValid !== undefined) {
      throw parameterValueNotValid(`${where}: ${options.notValid} length invalid. Min length: 1, Max length: ${options.max}.`);
    }
    throw badParameter(`Param ${where} must be at most ${options.max} characters long.`);
  }
  return value;
}

function record(parent: Record<string, unknown>, name: string, path: string): Record<string, unknown> {
  const value = parent[name];
  const where = key(path, name);
  if (value === undefined || value === null) throw missingParameter(where);
  if (!isRecord(value)) throw badParameter(`Param ${where} must be an object.`);
  return value;
}

function list(parent: Record<string, unknown>, name: string, path: string): unknown[] {
  const value = parent[name];
  const where = key(path, name);
  if (value === undefined || value === null) throw missingParameter(where);
  if (!Array.isArray(value)) throw badParameter(`Param ${where} must be an array.`);
  return value;
}

function httpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

export function validateText(payload: Record<string, unknown>): void {
  text(payload, 'body', 'text', { required: true, max: TEXT_BODY_MAX });
  const preview = payload.preview_url;
  if (preview !== undefined && typeof preview !== 'boolean') throw badParameter("Param text['preview_url'] must be a boolean.");
}

/**
 * A media object (`image`, `document`, … or an interactive header's): exactly one of an uploaded media `id` or a
 * `link`; `caption` where the type has one; `filename` on documents.
 */
export function validateMediaObject(
  media: MediaStore,
  kind: string,
  payload: Record<string, unknown>,
  path: string,
  options: { caption: boolean },
): void {
  const { id, link } = payload;
  if ((id === undefined || id === '') && (link === undefined || link === '')) {
    throw missingParameter(`${key(path, 'id')} or ${key(path, 'link')}`);
  }
  if (id !== undefined && link !== undefined) {
    throw invalidParameterValue(`Param ${path} must have either 'id' or 'link', not both.`);
  }
  if (id !== undefined) {
    // Meta's words for an id it does not hold (or a media id not uploaded by this business).
    const known = typeof id === 'string' && media.get(id)?.origin === 'upload';
    if (!known) throw invalidParameterValue(`Param ${key(path, 'id')} is not a valid whatsapp business account media attachment ID`);
  } else if (typeof link !== 'string' || !httpUrl(link)) {
    throw invalidParameterValue(`Param ${key(path, 'link')} must be a valid http(s) URL.`);
  }
  if (options.caption) {
    text(payload, 'caption', path, { required: false, max: CAPTION_MAX });
  } else if (payload.caption !== undefined) {
    throw badParameter(`Unexpected key "caption" on param "${path}".`);
  }
  if (kind === 'document') text(payload, 'filename', path, { required: false });
}

export function validateLocation(payload: Record<string, unknown>): void {
  for (const [name, limit] of [
    ['latitude', 90],
    ['longitude', 180],
  ] as const) {
    const value = payload[name];
    const where = key('location', name);
    if (value === undefined || value === null) throw missingParameter(where);
    if (typeof value !== 'number' || !Number.isFinite(value)) throw badParameter(`Param ${where} must be a number.`);
    if (value < -limit || value > limit) {
      throw parameterValueNotValid(`${where} must be between -${limit} and ${limit}; got ${value}.`);
    }
  }
  text(payload, 'name', 'location', { required: false });
  text(payload, 'address', 'location', { required: false });
}

/** `contacts` is an array of contact cards, each with `name.formatted_name`. */
export function validateContacts(contacts: unknown): void {
  if (!Array.isArray(contacts) || contacts.length === 0) {
    if (contacts !== undefined && !Array.isArray(contacts)) throw badParameter('Param contacts must be an array.');
    throw missingParameter('contacts');
  }
  contacts.forEach((card, i) => {
    const path = at('contacts', i);
    if (!isRecord(card)) throw badParameter(`Param ${path} must be an object.`);
    const name = record(card, 'name', path);
    text(name, 'formatted_name', key(path, 'name'), { required: true });
  });
}

/** A reaction to a message; an empty emoji removes the reaction. */
export function validateReaction(payload: Record<string, unknown>): void {
  const messageId = text(payload, 'message_id', 'reaction', { required: true })!;
  if (!WAMID.test(messageId)) throw invalidParameterValue(`Param reaction['message_id'] is not a valid message id.`);
  const emoji = payload.emoji;
  if (emoji === undefined || emoji === null) throw missingParameter("reaction['emoji']");
  if (typeof emoji !== 'string') throw badParameter("Param reaction['emoji'] must be a string.");
  if (emoji !== '' && !isSingleEmoji(emoji)) {
    throw parameterValueNotValid(`reaction['emoji'] must be a single emoji (or "" to remove the reaction).`);
  }
}

function isSingleEmoji(value: string): boolean {
  const graphemes = [...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(value)];
  return graphemes.length === 1 && /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20e3/u.test(value);
}

/** `context: {message_id}`: the send is a reply to that message. */
export function validateContext(context: unknown): void {
  if (!isRecord(context)) throw badParameter('Param context must be an object.');
  const messageId = text(context, 'message_id', 'context', { required: true })!;
  if (!WAMID.test(messageId)) throw invalidParameterValue(`Param context['message_id'] is not a valid message id.`);
}

const INTERACTIVE_TYPES = [
  'button',
  'list',
  'cta_url',
  'flow',
  'product',
  'product_list',
  'catalog_message',
  'location_request_message',
  'address_message',
  'voice_call',
] as const;

/** Reply buttons, lists and CTA URL buttons are checked as Meta does; other interactive types only need an action. */
export function validateInteractive(media: MediaStore, payload: Record<string, unknown>): void {
  const type = payload.type;
  if (type === undefined || type === null || type === '') throw missingParameter("interactive['type']");
  if (typeof type !== 'string' || !(INTERACTIVE_TYPES as readonly string[]).includes(type)) {
    const allowed = INTERACTIVE_TYPES.map((t) => t.toUpperCase()).join(', ');
    throw badParameter(`Param interactive['type'] must be one of {${allowed}} - got "${String(type)}".`);
  }
  const action = record(payload, 'action', 'interactive');
  if (type !== 'button' && type !== 'list' && type !== 'cta_url') return;

  const body = record(payload, 'body', 'interactive');
  text(body, 'text', "interactive['body']", { required: true, max: type === 'list' ? LIST_BODY_MAX : BUTTON_BODY_MAX });
  if (payload.footer !== undefined) {
    const footer = record(payload, 'footer', 'interactive');
    text(footer, 'text', "interactive['footer']", { required: true, max: FOOTER_TEXT_MAX });
  }
  if (payload.header !== undefined) validateHeader(media, record(payload, 'header', 'interactive'), type);

  if (type === 'button') validateButtons(action);
  else if (type === 'list') validateList(action);
  else validateCtaUrl(action);
}

function validateHeader(media: MediaStore, header: Record<string, unknown>, interactiveType: string): void {
  const path = "interactive['header']";
  // List messages take a text header only.
  const allowed = interactiveType === 'list' ? ['text'] : ['text', 'image', 'video', 'document'];
  const type = header.type;
  if (type === undefined || type === null || type === '') throw missingParameter(key(path, 'type'));
  if (typeof type !== 'string' || !allowed.includes(type)) {
    throw badParameter(`Param ${key(path, 'type')} must be one of {${allowed.map((t) => t.toUpperCase()).join(', ')}} - got "${String(type)}".`);
  }
  if (type === 'text') {
    text(header, 'text', path, { required: true, max: HEADER_TEXT_MAX });
    return;
  }
  validateMediaObject(media, type, record(header, type, path), key(path, type), { caption: false });
}

function validateButtons(action: Record<string, unknown>): void {
  const path = "interactive['action']['buttons']";
  const buttons = list(action, 'buttons', "interactive['action']");
  if (buttons.length < 1 || buttons.length > 3) {
    throw parameterValueNotValid(`${path}: Buttons count invalid. Min count: 1, Max count: 3; got ${buttons.length}.`);
  }
  const ids = new Set<string>();
  const titles = new Set<string>();
  buttons.forEach((button, i) => {
    const where = at(path, i);
    if (!isRecord(button)) throw badParameter(`Param ${where} must be an object.`);
    if (button.type === undefined) throw missingParameter(key(where, 'type'));
    if (button.type !== 'reply') throw badParameter(`Param ${key(where, 'type')} must be one of {REPLY} - got "${String(button.type)}".`);
    const reply = record(button, 'reply', where);
    const id = text(reply, 'id', key(where, 'reply'), { required: true, max: 256, notValid: 'Button id' })!;
    const title = text(reply, 'title', key(where, 'reply'), { required: true, max: 20, notValid: 'Button title' })!;
    if (ids.has(id)) throw parameterValueNotValid(`${key(key(where, 'reply'), 'id')}: Button ids must be unique; '${id}' is repeated.`);
    if (titles.has(title)) {
      throw parameterValueNotValid(`${key(key(where, 'reply'), 'title')}: Button titles must be unique; '${title}' is repeated.`);
    }
    ids.add(id);
    titles.add(title);
  });
}

function validateList(action: Record<string, unknown>): void {
  const path = "interactive['action']";
  text(action, 'button', path, { required: true, max: 20, notValid: 'Button label' });
  const sections = list(action, 'sections', path);
  const sectionsPath = key(path, 'sections');
  if (sections.length < 1 || sections.length > 10) {
    throw parameterValueNotValid(`${sectionsPath}: Sections count invalid. Min count: 1, Max count: 10; got ${sections.length}.`);
  }
  const rowIds = new Set<string>();
  let rowCount = 0;
  sections.forEach((section, i) => {
    const where = at(sectionsPath, i);
    if (!isRecord(section)) throw badParameter(`Param ${where} must be an object.`);
    // A title is required once there is more than one section.
    text(section, 'title', where, { required: sections.length > 1, max: 24, notValid: 'Section title' });
    const rows = list(section, 'rows', where);
    if (rows.length === 0) throw parameterValueNotValid(`${key(where, 'rows')}: Rows count invalid. Min count: 1.`);
    rows.forEach((row, j) => {
      const rowPath = at(key(where, 'rows'), j);
      if (!isRecord(row)) throw badParameter(`Param ${rowPath} must be an object.`);
      const id = text(row, 'id', rowPath, { required: true, max: 200, notValid: 'Row id' })!;
      text(row, 'title', rowPath, { required: true, max: 24, notValid: 'Row title' });
      text(row, 'description', rowPath, { required: false, max: 72, notValid: 'Row description' });
      if (rowIds.has(id)) throw parameterValueNotValid(`${key(rowPath, 'id')}: Row ids must be unique; '${id}' is repeated.`);
      rowIds.add(id);
    });
    rowCount += rows.length;
  });
  if (rowCount > 10) {
    throw parameterValueNotValid(`${sectionsPath}: Total row count invalid. Min count: 1, Max count: 10; got ${rowCount}.`);
  }
}

function validateCtaUrl(action: Record<string, unknown>): void {
  const path = "interactive['action']";
  const name = action.name;
  if (name === undefined) throw missingParameter(key(path, 'name'));
  if (name !== 'cta_url') throw badParameter(`Param ${key(path, 'name')} must be one of {CTA_URL} - got "${String(name)}".`);
  const parameters = record(action, 'parameters', path);
  const where = key(path, 'parameters');
  text(parameters, 'display_text', where, { required: true, max: 20, notValid: 'Display text' });
  const url = text(parameters, 'url', where, { required: true })!;
  if (!httpUrl(url)) throw invalidParameterValue(`Param ${key(where, 'url')} must be a valid http(s) URL.`);
}
