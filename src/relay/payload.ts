/**
 * Small readers of a webhook payload (unknown JSON), shared by the walker (`parse.ts`) and the text renderer
 * (`render.ts`). Every lookup is of own properties only, so payload strings such as `constructor` or `__proto__`
 * never reach Object.prototype.
 */

export type Json = Record<string, unknown>;

export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own properties only, so `constructor`, `toString`… never leak in from the prototype. */
export function get(record: Json, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A string with something in it (ids and senders of only spaces are as good as missing). */
export function nonEmptyString(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

/** Ids are strings in Meta's payloads; a finite number is accepted as its decimal form. */
export function idLike(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return nonEmptyString(value);
}

/** UTF-16 code units that are half of a surrogate pair with no other half. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * `value` with each lone surrogate replaced by U+FFFD, as `String.prototype.toWellFormed` does (and as a UTF-8
 * encoder does): an id stored as UTF-8 and read back is then the same string as the id parsed again from a
 * redelivery, so deduplication on it holds. (Node 20 has the native method; the ES2023 lib this project compiles
 * against does not declare it.)
 */
export function toWellFormed(value: string): string {
  return value.replace(LONE_SURROGATE, '\ufffd');
}

export function messageType(message: Json): string {
  return nonEmptyString(get(message, 'type')) ?? 'unknown';
}

/** `value` cut to about `max` UTF-16 units, never splitting a surrogate pair, with `…` when cut. */
export function truncate(value: string, max: number): string {
  if (value.length <= max) return value;
  let cut = max;
  const code = value.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--; // do not split a surrogate pair
  return `${value.slice(0, cut)}…`;
}

/** The readable fields of one of Meta's error objects. */
export interface MetaErrorFields {
  code: number | null;
  title: string | null;
  message: string | null;
  details: string | null;
}

/** Meta's error object: `{code, title, message, error_data: {details}}` (older payloads put `details` at the top). */
export function readMetaError(error: Json): MetaErrorFields {
  const code = get(error, 'code');
  const data = get(error, 'error_data');
  return {
    code: typeof code === 'number' && Number.isFinite(code) ? code : null,
    title: nonEmptyString(get(error, 'title')),
    message: nonEmptyString(get(error, 'message')),
    details: (isRecord(data) ? nonEmptyString(get(data, 'details')) : null) ?? nonEmptyString(get(error, 'details')),
  };
}

/** The first error of an `errors[]` (statuses and unsupported messages carry one), when it is an object. */
export function firstMetaError(errors: unknown): MetaErrorFields | null {
  const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
  return isRecord(first) ? readMetaError(first) : null;
}
