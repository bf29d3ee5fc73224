/**
 * Every free-form message type lumen sends, checked against Meta's documented limits before Meta sees it: each
 * violation is a one-line usage error naming the limit. Builds the exact Cloud API request body.
 */
import { extname } from 'node:path';
import { UsageError } from '../../errors.js';
import { deeperThan } from '../../json.js';

export const MEDIA_TYPES = ['image', 'video', 'audio', 'document', 'sticker'] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];

/** A WhatsApp message id as Meta gives them (what a reply or a reaction names). */
export const WAMID = /^wamid\.[A-Za-z0-9+/=_-]+$/;

/** Meta's limits read as decimal units (5 MB = 5,000,000 bytes): never looser than Meta, whichever it means. */
const KB = 1000;
const MB = 1000 * KB;

/** What Meta accepts for each media type: MIME types and the largest file. */
export const MEDIA_LIMITS: Record<MediaType, { mimeTypes: string[]; maxBytes: number; caption: boolean }> = {
  image: { mimeTypes: ['image/jpeg', 'image/png'], maxBytes: 5 * MB, caption: true },
  video: { mimeTypes: ['video/mp4', 'video/3gpp'], maxBytes: 16 * MB, caption: true },
  audio: { mimeTypes: ['audio/aac', 'audio/amr', 'audio/mpeg', 'audio/mp4', 'audio/ogg'], maxBytes: 16 * MB, caption: false },
  document: {
    mimeTypes: [
      'text/plain',
      'application/pdf',
      'application/msword',
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      'application/vnd.ms-excel',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'application/vnd.ms-powerpoint',
      'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    ],
    maxBytes: 100 * MB,
    caption: true,
  },
  sticker: { mimeTypes: ['image/webp'], maxBytes: 500 * KB, caption: false },
};

const MIME_BY_EXTENSION: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.mp4': 'video/mp4',
  '.3gp': 'video/3gpp',
  '.aac': 'audio/aac',
  '.amr': 'audio/amr',
  '.mp3': 'audio/mpeg',
  '.m4a': 'audio/mp4',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.txt': 'text/plain',
  '.pdf': 'application/pdf',
  '.doc': 'application/msword',
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.xls': 'application/vnd.ms-excel',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  '.ppt': 'application/vnd.ms-powerpoint',
  '.pptx': 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
};

/** The file extension lumen gives a stored media file of this MIME type (`.bin` when it knows none). */
export function extensionFor(mimeType: string): string {
  const base = mimeType.split(';')[0]!.trim().toLowerCase();
  for (const [extension, mime] of Object.entries(MIME_BY_EXTENSION)) if (mime === base) return extension;
  return '.bin';
}

export function mimeTypeOf(path: string): string | undefined {
  return MIME_BY_EXTENSION[extname(path).toLowerCase()];
}

/** A local file to upload: its type and size must be what Meta takes for this kind of message. */
export function checkMediaFile(type: MediaType, path: string, size: number): string {
  const limits = MEDIA_LIMITS[type];
  const mimeType = mimeTypeOf(path);
  if (!mimeType || !limits.mimeTypes.includes(mimeType)) {
    throw new UsageError(
      `${path} is not a file WhatsApp takes as ${article(type)} ${type}${mimeType ? ` (${mimeType})` : ''}.`,
      `${capitalize(type)}s are ${limits.mimeTypes.join(', ')}.`,
    );
  }
  if (size > limits.maxBytes) {
    // Just over the limit rounds to the limit: then both in bytes.
    const [given, most] = formatBytes(size) === formatBytes(limits.maxBytes) ? [exactBytes(size), exactBytes(limits.maxBytes)] : [formatBytes(size), formatBytes(limits.maxBytes)];
    throw new UsageError(`${path} is ${given}; WhatsApp takes ${type}s of at most ${most}.`);
  }
  if (size === 0) throw new UsageError(`${path} is empty.`);
  return mimeType;
}

/** Who a message goes to: a phone number (E.164 digits) or a username user's business-scoped user id. */
export type Recipient = { kind: 'phone'; id: string } | { kind: 'user_id'; id: string };

/** A business-scoped user id: a country code, a dot, and an opaque id (`US.13491208655302741918`, `US.ENT.…`). */
const USER_ID = /^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$/;

export function isUserId(value: string): boolean {
  return USER_ID.test(value.trim());
}

/** The request body's address: `to` for a phone number, `recipient` for a user id (Meta: `to` wins if both). */
export function addressFields(recipient: Recipient): Record<string, string> {
  return recipient.kind === 'phone' ? { to: recipient.id } : { recipient: recipient.id };
}

export type MediaSource = { id: string } | { link: string };

/** The free-form messages (all but text and templates, which compose.ts builds). */
export type FreeFormInput =
  | { kind: 'media'; type: MediaType; source: MediaSource; caption?: string | undefined; filename?: string | undefined }
  | { kind: 'buttons'; body: string; buttons: Array<{ id: string; title: string }>; header?: string | undefined; footer?: string | undefined }
  | { kind: 'list'; list: unknown }
  | { kind: 'cta_url'; body: string; url: string; text: string; header?: string | undefined; footer?: string | undefined }
  | { kind: 'location'; latitude: number; longitude: number; name?: string | undefined; address?: string | undefined }
  | { kind: 'contacts'; contacts: unknown[] }
  | { kind: 'reaction'; messageId: string; emoji: string }
  | { kind: 'raw'; body: unknown };

export const LIMITS = {
  caption: 1024,
  interactiveBody: 1024,
  headerText: 60,
  footer: 60,
  buttons: 3,
  buttonTitle: 20,
  buttonId: 256,
  listButton: 20,
  listSections: 10,
  listRows: 10,
  rowTitle: 24,
  rowDescription: 72,
  rowId: 200,
  sectionTitle: 24,
  ctaText: 20,
  filename: 240,
} as const;

/**
 * How errors name a message's parts: `lumen send`'s flags, or the short form's JSON fields (the local API, and the
 * replies your code answers with), so an error tells the caller what to change in what it wrote.
 */
export interface Spelling {
  caption: string;
  filename: string;
  buttons: string;
  ctaUrl: string;
  ctaText: string;
  toMessage: string;
  react: string;
  text: string;
  header: string;
  footer: string;
  /** A Cloud API message object given whole. */
  raw: string;
  /** Where the recipient is given. */
  to: string;
  /** How a template is sent. */
  template: string;
  lang: string;
  params: string;
  /** A named parameter's value, as given. */
  param(name: string): string;
  headerParam: string;
  buttonParam(index: number): string;
  /** How to send outside the 24-hour window anyway, when the caller can. */
  force: string | null;
  media(type: MediaType): string;
}

export const FLAG_SPELLING: Spelling = {
  caption: '--caption',
  filename: '--filename',
  buttons: '--button ID=TITLE',
  ctaUrl: '--cta-url',
  ctaText: '--cta-text',
  toMessage: '--to-message',
  react: '--react',
  text: '--text',
  header: '--header',
  footer: '--footer',
  raw: '--body',
  to: '--to',
  template: '--template NAME',
  lang: '--lang',
  params: '--param',
  param: (name) => `--param ${name}=…`,
  headerParam: '--header-param',
  buttonParam: (index) => `--button-param ${index}=VALUE`,
  force: '--force',
  media: (type) => `--${type}`,
};

export const FIELD_SPELLING: Spelling = {
  caption: '"caption"',
  filename: '"filename"',
  buttons: '"buttons": [{"id","title"}]',
  ctaUrl: '"ctaUrl"',
  ctaText: '"ctaText"',
  toMessage: '"toMessage"',
  react: '"react"',
  text: '"text"',
  header: '"header"',
  footer: '"footer"',
  raw: 'The message',
  to: '"to"',
  template: '"template": {"name", "language", "params"}',
  lang: 'template.language',
  params: 'template.params',
  param: (name) => `"${name}=…"`,
  headerParam: 'template.header',
  buttonParam: (index) => `template.buttons: {"${index}": "VALUE"}`,
  force: null,
  media: (type) => `"${type}"`,
};

/** The body of a free-form message, checked. `type` is the Cloud API message type it has. */
export function freeFormBody(
  recipient: Recipient,
  input: FreeFormInput,
  replyTo?: string | null,
  spelling: Spelling = FLAG_SPELLING,
): { type: string; body: Record<string, unknown> } {
  const s = spelling;
  // A message is stored and sent as JSON: one nested past reason would overflow the stack on the way (a 500).
  const given = input.kind === 'raw' ? { what: s.raw, json: input.body } : input.kind === 'list' ? { what: 'The list', json: input.list } : input.kind === 'contacts' ? { what: 'The contact card', json: input.contacts } : undefined;
  if (given && deeperThan(given.json, MAX_MESSAGE_DEPTH)) {
    throw new UsageError(`${given.what} is nested deeper than ${MAX_MESSAGE_DEPTH} levels: no Cloud API message is.`);
  }
  const base = { messaging_product: 'whatsapp', recipient_type: 'individual', ...addressFields(recipient) };
  const context = replyTo ? { context: { message_id: replyTo } } : {};
  switch (input.kind) {
    case 'media': {
      const limits = MEDIA_LIMITS[input.type];
      if (input.caption !== undefined) {
        if (!limits.caption) throw new UsageError(`${capitalize(input.type)} messages take no caption (${s.caption}).`);
        maxLength(s.caption, input.caption, LIMITS.caption);
      }
      if (input.filename !== undefined) {
        if (input.type !== 'document') throw new UsageError(`${s.filename} is for documents only.`);
        maxLength(s.filename, input.filename, LIMITS.filename);
      }
      if ('link' in input.source) checkLink(input.source.link, s.media(input.type));
      const media = { ...input.source, ...(input.caption ? { caption: input.caption } : {}), ...(input.filename ? { filename: input.filename } : {}) };
      return { type: input.type, body: { ...base, ...context, type: input.type, [input.type]: media } };
    }
    case 'buttons': {
      if (input.buttons.length === 0 || input.buttons.length > LIMITS.buttons) {
        throw new UsageError(`A message takes 1 to ${LIMITS.buttons} reply buttons (${s.buttons}); got ${input.buttons.length}.`);
      }
      const ids = new Set<string>();
      const titles = new Set<string>();
      for (const button of input.buttons) {
        required(`button id`, button.id);
        maxLength(`Button id "${button.id}"`, button.id, LIMITS.buttonId);
        required(`button title`, button.title);
        maxLength(`Button title "${button.title}"`, button.title, LIMITS.buttonTitle);
        if (ids.has(button.id)) throw new UsageError(`Two buttons have the id "${button.id}"; ids must differ.`);
        if (titles.has(button.title)) throw new UsageError(`Two buttons have the title "${button.title}"; titles must differ.`);
        ids.add(button.id);
        titles.add(button.title);
      }
      const interactive = {
        type: 'button',
        ...interactiveFrame({ body: input.body, header: input.header, footer: input.footer }, s),
        action: { buttons: input.buttons.map((b) => ({ type: 'reply', reply: { id: b.id, title: b.title } })) },
      };
      return { type: 'interactive', body: { ...base, ...context, type: 'interactive', interactive } };
    }
    case 'list':
      return { type: 'interactive', body: { ...base, ...context, type: 'interactive', interactive: listInteractive(input.list) } };
    case 'cta_url': {
      checkLink(input.url, s.ctaUrl);
      required(s.ctaText, input.text);
      maxLength(s.ctaText, input.text, LIMITS.ctaText);
      const interactive = {
        type: 'cta_url',
        ...interactiveFrame({ body: input.body, header: input.header, footer: input.footer }, s),
        action: { name: 'cta_url', parameters: { display_text: input.text, url: input.url } },
      };
      return { type: 'interactive', body: { ...base, ...context, type: 'interactive', interactive } };
    }
    case 'location': {
      if (!Number.isFinite(input.latitude) || Math.abs(input.latitude) > 90) throw new UsageError('The latitude must be a number from -90 to 90.');
      if (!Number.isFinite(input.longitude) || Math.abs(input.longitude) > 180) throw new UsageError('The longitude must be a number from -180 to 180.');
      const location = {
        latitude: input.latitude,
        longitude: input.longitude,
        ...(input.name ? { name: input.name } : {}),
        ...(input.address ? { address: input.address } : {}),
      };
      return { type: 'location', body: { ...base, ...context, type: 'location', location } };
    }
    case 'contacts': {
      if (input.contacts.length === 0) throw new UsageError('The contact card holds no contact.');
      input.contacts.forEach((card, i) => {
        const name = isRecord(card) && isRecord(card.name) ? card.name.formatted_name : undefined;
        if (typeof name !== 'string' || name.trim() === '') {
          throw new UsageError(`Contact ${i + 1} has no name (name.formatted_name, or FN in a vCard).`);
        }
      });
      return { type: 'contacts', body: { ...base, ...context, type: 'contacts', contacts: input.contacts } };
    }
    case 'reaction': {
      required(s.toMessage, input.messageId);
      // As a reply's: Meta would refuse any other id only once it is sent (and the message be left failed).
      if (!WAMID.test(input.messageId)) throw new UsageError(`${s.toMessage} must name the message by its wamid (wamid.…); got "${input.messageId.slice(0, 80)}".`);
      // One emoji (a modifier or joiner sequence counts as one); an empty one removes the reaction.
      const graphemes = [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(input.emoji)].length;
      if (input.emoji !== '' && (graphemes !== 1 || /^[\p{L}\p{N}\s]/u.test(input.emoji))) {
        throw new UsageError(`${s.react} takes one emoji (or "" to remove a reaction); got "${input.emoji}".`);
      }
      return { type: 'reaction', body: { ...base, type: 'reaction', reaction: { message_id: input.messageId, emoji: input.emoji } } };
    }
    case 'raw':
      return rawBody(recipient, input.body, replyTo, s);
  }
}

/** `--body`: any Cloud API message object, shape-checked, sent as is (lumen sets the address and the product). */
function rawBody(recipient: Recipient, body: unknown, replyTo: string | null | undefined, s: Spelling): { type: string; body: Record<string, unknown> } {
  if (!isRecord(body)) throw new UsageError(`${s.raw} must be a JSON object (a Cloud API message).`);
  const type = body.type;
  if (typeof type !== 'string' || type === '') throw new UsageError(`${s.raw} needs a "type" (text, image, interactive, …).`);
  if (!isRecord(body[type])) throw new UsageError(`${s.raw} has type "${type}" but no "${type}" object.`);
  if ('to' in body || 'recipient' in body) throw new UsageError(`${s.raw} must not name the recipient: lumen adds it from ${s.to}.`);
  if (type === 'template') throw new UsageError(`Send templates with ${s.template}, so lumen can check them against the sync.`);
  const context = replyTo ? { context: { message_id: replyTo } } : {};
  return {
    type,
    body: { messaging_product: 'whatsapp', recipient_type: 'individual', ...addressFields(recipient), ...context, ...body },
  };
}

/** The body, header and footer of an interactive message; `names` say where each was given. */
function interactiveFrame(
  { body, header, footer }: { body: string; header?: string | undefined; footer?: string | undefined },
  names: { text: string; header: string; footer: string },
): Record<string, unknown> {
  required(`The message body (${names.text})`, body);
  maxLength(`The interactive body (${names.text})`, body, LIMITS.interactiveBody);
  if (header !== undefined) maxLength(names.header, header, LIMITS.headerText);
  if (footer !== undefined) maxLength(names.footer, footer, LIMITS.footer);
  return {
    ...(header ? { header: { type: 'text', text: header } } : {}),
    body: { text: body },
    ...(footer ? { footer: { text: footer } } : {}),
  };
}

/** `--list FILE.json`: `{body, button, sections:[{title?, rows:[{id, title, description?}]}], header?, footer?}`. */
function listInteractive(list: unknown): Record<string, unknown> {
  if (!isRecord(list)) throw new UsageError('The list must be a JSON object: {"body", "button", "sections": [...]}.');
  knownFields(list, ['body', 'button', 'sections', 'header', 'footer'], 'The list');
  const body = stringField(list, 'body');
  const button = stringField(list, 'button');
  required('The list\'s "button"', button);
  maxLength('The list\'s "button"', button, LIMITS.listButton);
  const sections = list.sections;
  if (!Array.isArray(sections) || sections.length === 0 || sections.length > LIMITS.listSections) {
    throw new UsageError(`A list takes 1 to ${LIMITS.listSections} sections; got ${Array.isArray(sections) ? sections.length : 'none'}.`);
  }
  const rowIds = new Set<string>();
  let rows = 0;
  const checked = sections.map((section, s) => {
    if (!isRecord(section) || !Array.isArray(section.rows) || section.rows.length === 0) {
      throw new UsageError(`List section ${s + 1} needs "rows".`);
    }
    knownFields(section, ['title', 'rows'], `List section ${s + 1}`);
    const title = section.title;
    if (sections.length > 1 && (typeof title !== 'string' || title.trim() === '')) {
      throw new UsageError(`List section ${s + 1} needs a "title" (lists with several sections title each).`);
    }
    if (typeof title === 'string') maxLength(`The title of list section ${s + 1}`, title, LIMITS.sectionTitle);
    return {
      ...(typeof title === 'string' ? { title } : {}),
      rows: section.rows.map((row: unknown, r: number) => {
        rows += 1;
        const where = `Row ${r + 1} of list section ${s + 1}`;
        if (!isRecord(row)) throw new UsageError(`${where} must be an object {"id", "title"}.`);
        knownFields(row, ['id', 'title', 'description'], where);
        const id = stringField(row, 'id');
        const rowTitle = stringField(row, 'title');
        required(`${where}'s id`, id);
        maxLength(`${where}'s id`, id, LIMITS.rowId);
        required(`${where}'s title`, rowTitle);
        maxLength(`${where}'s title`, rowTitle, LIMITS.rowTitle);
        if (rowIds.has(id)) throw new UsageError(`Two list rows have the id "${id}"; ids must differ.`);
        rowIds.add(id);
        const description = row.description;
        if (description !== undefined) {
          if (typeof description !== 'string') throw new UsageError(`${where}'s description must be text.`);
          maxLength(`${where}'s description`, description, LIMITS.rowDescription);
        }
        return { id, title: rowTitle, ...(typeof description === 'string' ? { description } : {}) };
      }),
    };
  });
  if (rows > LIMITS.listRows) throw new UsageError(`A list takes at most ${LIMITS.listRows} rows in all its sections; got ${rows}.`);
  const header = list.header === undefined ? undefined : stringField(list, 'header');
  const footer = list.footer === undefined ? undefined : stringField(list, 'footer');
  const names = { text: '"body" of the list', header: 'The list\'s "header"', footer: 'The list\'s "footer"' };
  return { type: 'list', ...interactiveFrame({ body, header, footer }, names), action: { button, sections: checked } };
}

/** A field the list does not take would be left out of what is sent: refused, named. */
function knownFields(object: Record<string, unknown>, fields: readonly string[], where: string): void {
  const extra = Object.keys(object).filter((key) => !fields.includes(key) && object[key] != null);
  if (extra.length > 0) throw new UsageError(`${where} has ${extra.map((key) => `"${key.slice(0, 40)}"`).join(' and ')}, which it does not take (${fields.map((f) => `"${f}"`).join(', ')}).`);
}

function stringField(object: Record<string, unknown>, name: string): string {
  const value = Object.hasOwn(object, name) ? object[name] : undefined;
  if (value !== undefined && typeof value !== 'string') throw new UsageError(`"${name}" must be text.`);
  return value ?? '';
}

function required(what: string, value: string): void {
  if (value.trim() === '') throw new UsageError(`${capitalize(what)} is empty.`);
}

function maxLength(what: string, value: string, max: number): void {
  const length = [...value].length;
  if (length > max) throw new UsageError(`${capitalize(what)} is ${length} characters; WhatsApp allows at most ${max}.`);
}

function checkLink(value: string, flag: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} is not a URL: "${value}".`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`${flag} must be an http(s) URL; got "${value}".`);
}

/** Deeper than any Cloud API message (a Flow's payload included) goes. */
const MAX_MESSAGE_DEPTH = 64;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

function exactBytes(bytes: number): string {
  return `${bytes.toLocaleString('en-US')} bytes`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= MB) return `${Math.round((bytes / MB) * 10) / 10} MB`;
  if (bytes >= KB) return `${Math.round(bytes / KB)} KB`;
  return `${bytes} bytes`;
}

/**
 * A vCard (3.0/4.0) → Cloud API contact objects: FN, N, TEL, EMAIL, ORG, URL. Good enough for cards phones export;
 * anything else is left out.
 */
export function contactsFromVcard(text: string): unknown[] {
  const cards = text.split(/BEGIN:VCARD/i).slice(1);
  return cards.map((card) => {
    const lines = card.replace(/\r?\n[ \t]/g, '').split(/\r?\n/);
    const contact: Record<string, unknown> = {};
    const phones: Array<Record<string, string>> = [];
    const emails: Array<Record<string, string>> = [];
    const urls: Array<Record<string, string>> = [];
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const [key, ...params] = line.slice(0, colon).split(';');
      const value = line.slice(colon + 1).trim();
      const type = params.find((p) => /^type=/i.test(p))?.split('=')[1]?.toUpperCase();
      switch (key!.toUpperCase()) {
        case 'FN':
          contact.name = { ...(contact.name as object), formatted_name: value };
          break;
        case 'N': {
          const [last, first] = value.split(';');
          contact.name = { ...(contact.name as object), ...(first ? { first_name: first } : {}), ...(last ? { last_name: last } : {}) };
          break;
        }
        case 'TEL':
          phones.push({ phone: value, ...(type ? { type } : {}) });
          break;
        case 'EMAIL':
          emails.push({ email: value, ...(type ? { type } : {}) });
          break;
        case 'ORG':
          contact.org = { company: value.split(';')[0] };
          break;
        case 'URL':
          urls.push({ url: value });
          break;
      }
    }
    if (phones.length) contact.phones = phones;
    if (emails.length) contact.emails = emails;
    if (urls.length) contact.urls = urls;
    return contact;
  });
}
