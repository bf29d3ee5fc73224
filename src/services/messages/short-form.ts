/**
 * A message as the user's code writes it — in a `{"reply": …}` answer, on an `--exec` handler's stdout, or to the
 * relay's local API — turned into what `composeMessage` checks and builds. Two spellings are accepted:
 * - a Cloud API message object (it has a `type`: `{"type":"image","image":{"link":…}}`), sent as is;
 * - lumen's short form, the same fields as `lumen send`'s flags:
 *   `{"text":"Hi"}`, `{"image":"https://…|<media id>","caption":"…"}` (also video, audio, document + filename,
 *   sticker; `{"image":{"link"|"id",…}}` as the Cloud API writes it, without its "type", is the same), `{"text":"Pick one","buttons":[{"id":"yes","title":"Yes"}],"header":"…","footer":"…"}`,
 *   `{"list":{…}}`, `{"text":"…","ctaUrl":"https://…","ctaText":"Open"}`,
 *   `{"location":{"latitude":…,"longitude":…,"name":…,"address":…}}`, `{"contacts":[…]}`,
 *   `{"react":"👍","toMessage":"wamid…"}`, `{"template":{"name":…,"language":…,"params":[…]}}`;
 *   any of them with `"replyTo":"wamid…"`.
 * Every problem is a UsageError naming the field (later checks too: the message is marked `spelledAs: 'fields'`).
 */
import { UsageError } from '../../errors.js';
import type { MessageInput } from './compose.js';
import { MEDIA_TYPES, type MediaType } from './message-types.js';

export function messageFromObject(value: unknown, where = 'the message'): MessageInput {
  // Later checks (lengths, the window, the template's parameters) name these fields too, not `lumen send`'s flags.
  return { ...shortForm(value, where), spelledAs: 'fields' };
}

function shortForm(value: unknown, where: string): MessageInput {
  if (!isRecord(value)) throw new UsageError(`${where} must be a JSON object.`);
  const replyTo = optionalString(value, 'replyTo', where);
  if (typeof value.type === 'string') {
    // A Cloud API object: its type's object and the envelope; anything else would be sent for Meta to drop.
    onlyFields(value, [value.type, ...CLOUD_API_ENVELOPE], where, `a Cloud API "${value.type}" message`);
    // A plain Cloud API text is a text (checked for length and the window as one); with a callback payload it is sent as is.
    if (value.type === 'text' && isRecord(value.text) && typeof value.text.body === 'string' && value.biz_opaque_callback_data == null) {
      const previewUrl = value.text.preview_url === true;
      const context = isRecord(value.context) && typeof value.context.message_id === 'string' ? value.context.message_id : replyTo;
      return { kind: 'text', text: value.text.body, previewUrl, replyTo: context };
    }
    const { replyTo: _, ...body } = value;
    return { kind: 'free_form', input: { kind: 'raw', body }, replyTo };
  }

  const media = MEDIA_TYPES.filter((type) => value[type] !== undefined);
  if (media.length > 1) throw new UsageError(`${where} has ${media.join(' and ')}: one media per message.`);
  // One kind of message each, as `lumen send` takes one: nothing the caller gave is dropped without a word.
  const kinds = [...media, ...KINDS.filter((field) => value[field] !== undefined)];
  if (kinds.length > 1) throw new UsageError(`${where} has ${kinds.map((k) => `"${k}"`).join(' and ')}: one kind of message each (send them as separate messages).`);
  if (kinds.length === 1 && value.text !== undefined && !WITH_TEXT.has(kinds[0]!)) {
    const instead = media.length === 1 ? ` (the ${kinds[0]}'s words are its "caption")` : '';
    throw new UsageError(`${where} has "text" and "${kinds[0]}": "text" goes only with "buttons" or "ctaUrl"${instead}.`);
  }
  // Nothing the caller gave is dropped without a word either: each kind takes its own fields.
  const kind = kinds[0] ?? 'text';
  if (kinds.length === 0 && value.text === undefined) throw nothingToSend(where);
  const fields = media.length === 1 ? [kind, 'caption', 'filename'] : FIELDS_OF[kind as keyof typeof FIELDS_OF];
  onlyFields(value, fields, where, media.length === 1 ? `${article(kind)} ${kind}` : kind === 'text' ? 'a text message' : `a "${kind}" message`);
  if (media.length === 1) {
    const type = media[0] as MediaType;
    // The Cloud API's own object without its "type" ({"image":{"link":…,"caption":…}}) means the same.
    const given = value[type];
    if (isRecord(given)) {
      const link = optionalString(given, 'link', `${where}: ${type}`);
      const id = optionalString(given, 'id', `${where}: ${type}`);
      if ((link === undefined) === (id === undefined)) throw new UsageError(`${where}: "${type}" must have a "link" or an "id" (one of them).`);
      for (const field of ['caption', 'filename'] as const) {
        if (given[field] != null && value[field] != null) throw new UsageError(`${where} has "${field}" twice, in "${type}" and beside it: give it once.`);
      }
      return shortForm(
        {
          ...value,
          [type]: link ?? id,
          caption: optionalString(given, 'caption', `${where}: ${type}`) ?? value.caption,
          filename: optionalString(given, 'filename', `${where}: ${type}`) ?? value.filename,
        },
        where,
      );
    }
    const source = requiredString(value, type, where);
    // As `send --image`: an http(s) URL or the digits of a media id (an upload's, or Meta's), nothing else.
    if (!/^https?:\/\//i.test(source) && !/^\d{5,}$/.test(source)) {
      throw new UsageError(`${where}: "${type}" must be an http(s) URL or a media id (digits, as POST /v1/media answers); got ${JSON.stringify(source.slice(0, 80))}.`);
    }
    return {
      kind: 'free_form',
      replyTo,
      input: {
        kind: 'media',
        type,
        source: /^https?:\/\//i.test(source) ? { link: source } : { id: source },
        caption: optionalString(value, 'caption', where),
        filename: optionalString(value, 'filename', where),
      },
    };
  }
  if (value.buttons !== undefined) {
    if (!Array.isArray(value.buttons)) throw new UsageError(`${where}: "buttons" must be a list of {"id","title"}.`);
    const buttons = value.buttons.map((b, i) => {
      if (!isRecord(b)) throw new UsageError(`${where}: buttons[${i}] must be {"id","title"}.`);
      onlyFields(b, ['id', 'title'], `${where}: buttons[${i}]`, 'a reply button');
      return { id: requiredString(b, 'id', `${where}: buttons[${i}]`), title: requiredString(b, 'title', `${where}: buttons[${i}]`) };
    });
    return {
      kind: 'free_form',
      replyTo,
      input: {
        kind: 'buttons',
        body: requiredString(value, 'text', where),
        buttons,
        header: optionalString(value, 'header', where),
        footer: optionalString(value, 'footer', where),
      },
    };
  }
  if (value.list !== undefined) return { kind: 'free_form', replyTo, input: { kind: 'list', list: value.list } };
  if (value.ctaUrl !== undefined) {
    return {
      kind: 'free_form',
      replyTo,
      input: {
        kind: 'cta_url',
        body: requiredString(value, 'text', where),
        url: requiredString(value, 'ctaUrl', where),
        text: requiredString(value, 'ctaText', where),
        header: optionalString(value, 'header', where),
        footer: optionalString(value, 'footer', where),
      },
    };
  }
  if (value.location !== undefined) {
    const location = value.location;
    if (!isRecord(location)) throw new UsageError(`${where}: "location" must be {"latitude","longitude"}.`);
    onlyFields(location, ['latitude', 'longitude', 'name', 'address'], `${where}: location`, 'a location');
    return {
      kind: 'free_form',
      replyTo,
      input: {
        kind: 'location',
        latitude: requiredNumber(location, 'latitude', `${where}: location`),
        longitude: requiredNumber(location, 'longitude', `${where}: location`),
        name: optionalString(location, 'name', `${where}: location`),
        address: optionalString(location, 'address', `${where}: location`),
      },
    };
  }
  if (value.contacts !== undefined) {
    if (!Array.isArray(value.contacts)) throw new UsageError(`${where}: "contacts" must be a list of contact cards.`);
    return { kind: 'free_form', replyTo, input: { kind: 'contacts', contacts: value.contacts } };
  }
  if (value.react !== undefined) {
    const emoji = value.react;
    if (typeof emoji !== 'string') throw new UsageError(`${where}: "react" must be an emoji ("" removes it).`);
    if (value.toMessage != null && replyTo !== undefined) {
      throw new UsageError(`${where} has "toMessage" and "replyTo": a reaction names the message it reacts to once (either of them).`);
    }
    return { kind: 'free_form', input: { kind: 'reaction', emoji, messageId: optionalString(value, 'toMessage', where) ?? replyTo ?? '' } };
  }
  if (value.template !== undefined) {
    const template = value.template;
    if (!isRecord(template)) throw new UsageError(`${where}: "template" must be {"name","language","params"}.`);
    onlyFields(template, ['name', 'language', 'params', 'header', 'filename', 'buttons'], `${where}: template`, 'a template');
    const params = template.params ?? [];
    if (!Array.isArray(params) || params.some((p) => typeof p !== 'string')) throw new UsageError(`${where}: template.params must be a list of text values.`);
    const buttons = template.buttons;
    if (buttons !== undefined && (!isRecord(buttons) || Object.values(buttons).some((v) => typeof v !== 'string'))) {
      throw new UsageError(`${where}: template.buttons must map button indexes to values.`);
    }
    return {
      kind: 'template',
      name: requiredString(template, 'name', `${where}: template`),
      language: optionalString(template, 'language', `${where}: template`),
      params: params as string[],
      header: optionalString(template, 'header', `${where}: template`),
      // A DOCUMENT header's file name (refused for any other header, as `send --filename` is)
      headerFilename: optionalString(template, 'filename', `${where}: template`),
      buttons: buttons as Record<number, string> | undefined,
      replyTo,
    };
  }
  if (value.text !== undefined) {
    if (value.previewUrl != null && typeof value.previewUrl !== 'boolean') throw new UsageError(`${where}: "previewUrl" must be true or false.`);
    return { kind: 'text', text: requiredString(value, 'text', where), previewUrl: value.previewUrl === true, replyTo };
  }
  throw nothingToSend(where);
}

function nothingToSend(where: string): UsageError {
  return new UsageError(`${where} has nothing to send: give "text", a media field, "buttons", "list", "location", "contacts", "react", "template" or a Cloud API "type".`);
}

/** What each kind of short-form message takes besides `replyTo` (a media type takes its own, `caption` and `filename`). */
const FIELDS_OF = {
  text: ['text', 'previewUrl'],
  buttons: ['text', 'buttons', 'header', 'footer'],
  list: ['list'],
  ctaUrl: ['text', 'ctaUrl', 'ctaText', 'header', 'footer'],
  location: ['location'],
  contacts: ['contacts'],
  react: ['react', 'toMessage'],
  template: ['template'],
} as const;

/** Fields of the Cloud API's envelope that lumen sets to the only value they have: given or not, nothing is lost. */
const SET_BY_LUMEN = ['messaging_product', 'recipient_type'];

/** A Cloud API message's own top-level fields besides its type's object (`to`/`recipient` are refused when built). */
const CLOUD_API_ENVELOPE = ['type', 'messaging_product', 'recipient_type', 'context', 'biz_opaque_callback_data', 'to', 'recipient'];

/** Refuses a field this kind of message does not take: it would be left out of what is sent. */
function onlyFields(value: Record<string, unknown>, fields: readonly string[], where: string, what: string): void {
  // null is "not given" (as `None` from Python); the envelope's constants are what lumen sends anyway.
  const extra = Object.keys(value).filter(
    (key) => key !== 'replyTo' && value[key] !== null && value[key] !== undefined && !fields.includes(key) && !SET_BY_LUMEN.includes(key),
  );
  if (extra.length === 0) return;
  // (Named up to five: a body of a hundred thousand keys gets a line, not megabytes.)
  const named = extra.slice(0, 5).map((key) => `"${key.slice(0, 40)}"`);
  if (extra.length > 5) named.push(`${extra.length - 5} more`);
  throw new UsageError(`${where} has ${named.join(' and ')}, which ${what} does not take: nothing is sent with a part left out.`);
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

/** The short form's fields that each make a message of their own kind (besides the media types). */
const KINDS = ['buttons', 'list', 'ctaUrl', 'location', 'contacts', 'react', 'template'] as const;
/** The kinds whose body is the "text" field. */
const WITH_TEXT: ReadonlySet<string> = new Set(['buttons', 'ctaUrl']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requiredString(object: Record<string, unknown>, field: string, where: string): string {
  const value = Object.hasOwn(object, field) ? object[field] : undefined;
  if (value === undefined || value === null) throw new UsageError(`${where}: "${field}" is required.`);
  if (typeof value !== 'string') throw new UsageError(`${where}: "${field}" must be text (a JSON string); got ${Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `a ${typeof value}`}.`);
  if (value.trim() === '') throw new UsageError(`${where}: "${field}" is empty.`);
  return value;
}

function optionalString(object: Record<string, unknown>, field: string, where: string): string | undefined {
  const value = Object.hasOwn(object, field) ? object[field] : undefined;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new UsageError(`${where}: "${field}" must be text.`);
  return value;
}

function requiredNumber(object: Record<string, unknown>, field: string, where: string): number {
  const value = Object.hasOwn(object, field) ? object[field] : undefined;
  // ("" and "  " are not 0: Number() would make them the Gulf of Guinea.)
  const number = typeof value === 'string' ? (value.trim() === '' ? Number.NaN : Number(value)) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) throw new UsageError(`${where}: "${field}" must be a number.`);
  return number;
}
