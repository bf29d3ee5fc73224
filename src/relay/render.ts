/**
 * Renders each message type into the one-line `text` summary lumen stores and prints: the body for `text`, a
 * bracketed summary for everything else. Pure; never throws on any shape of message.
 */
import { firstMetaError, get, idLike, isRecord, type Json, messageType, truncate } from './payload.js';

const FLOW_RESPONSE_MAX_CHARS = 200;
const DETAIL_VALUE_MAX_CHARS = 64;

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
      const error = firstMetaError(get(message, 'errors'));
      const kind = text(get(content, 'type'));
      return bracket(type, (error?.title ?? error?.details ?? error?.message) || null, kind && `(${kind})`);
    }
    default: {
      const error = firstMetaError(get(message, 'errors'));
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

function coordinate(value: unknown): number | null {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}
