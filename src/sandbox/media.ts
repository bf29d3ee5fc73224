/**
 * Meta's side of media: uploads (`POST /{phone-number-id}/media`, multipart), lookups (`GET /{media-id}`: a
 * short-lived download URL that needs the access token, like Meta's lookaside URLs), deletes, and the downloads
 * themselves (`GET /_sandbox/media/<id>?expires=…&sig=…`). Limits and MIME types follow Meta's media reference.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  SandboxGraphError,
  badParameter,
  invalidAccessToken,
  invalidParameter,
  missingParameter,
  newFbtraceId,
  sendError,
  unknownError,
  unsupportedRequest,
} from './errors.js';
import { isRecord } from './http.js';
import { MEDIA_MESSAGE_TYPES, type MediaMessageType } from './payloads.js';
import type { MediaOrigin, SandboxMediaFault, SandboxMediaInfo } from './types.js';

export const MEDIA_KINDS = MEDIA_MESSAGE_TYPES;
export type MediaKind = MediaMessageType;

/** Meta's limits, taken as decimal units (5 MB = 5,000,000 bytes): never looser than Meta, whichever it means. */
export const MEDIA_LIMITS: Readonly<Record<MediaKind, { types: readonly string[]; maxBytes: number }>> = {
  image: { types: ['image/jpeg', 'image/png'], maxBytes: 5_000_000 },
  video: { types: ['video/mp4', 'video/3gpp'], maxBytes: 16_000_000 },
  audio: { types: ['audio/aac', 'audio/amr', 'audio/mpeg', 'audio/mp4', 'audio/ogg'], maxBytes: 16_000_000 },
  document: {
    types: [
      'text/plain',
      'application/pdf',
      'application/msword',
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      'application/vnd.ms-excel',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'application/vnd.ms-powerpoint',
      'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    ],
    maxBytes: 100_000_000,
  },
  sticker: { types: ['image/webp'], maxBytes: 500_000 },
};

/** The largest upload body read: the largest file plus room for the multipart framing and other fields. */
export const UPLOAD_BODY_LIMIT_BYTES = MEDIA_LIMITS.document.maxBytes + 1024 * 1024;

/** How long a media URL from `GET /{media-id}` stays valid, as Meta documents. */
export const MEDIA_URL_TTL_MS = 5 * 60 * 1000;

const SUPPORTED_TYPES = MEDIA_KINDS.flatMap((kind) => MEDIA_LIMITS[kind].types);

/** `audio/ogg; codecs=opus` → `audio/ogg`. */
export function baseMimeType(mimeType: string): string {
  return (mimeType.split(';')[0] ?? '').trim().toLowerCase();
}

/** Which of Meta's media kinds a MIME type uploads as, if any. */
export function mediaKindOf(mimeType: string): MediaKind | undefined {
  const base = baseMimeType(mimeType);
  return MEDIA_KINDS.find((kind) => MEDIA_LIMITS[kind].types.includes(base));
}

interface StoredMedia extends SandboxMediaInfo {
  bytes: Buffer;
}

interface IssuedUrl {
  mediaId: string;
  expiresAt: number;
  revoked: boolean;
}

interface QueuedMediaFault {
  mediaId: string | undefined;
  on: 'download' | 'info';
  remaining: number;
  status: number;
}

export type UrlCheck = { ok: true; media: StoredMedia } | { ok: false; reason: 'expired' | 'unknown' };

/** Media the sandbox holds, the download URLs it has handed out, and queued faults for both. */
export class MediaStore {
  private media = new Map<string, StoredMedia>();
  private urls = new Map<string, IssuedUrl>();
  private faults: QueuedMediaFault[] = [];

  constructor(
    private readonly now: () => number,
    private readonly ttlMs: number,
    /** Ids a media id must never take (the number's and the WABA's). */
    private readonly reservedIds: ReadonlySet<string>,
  ) {}

  add(bytes: Buffer, mimeType: string, origin: MediaOrigin, filename?: string): SandboxMediaInfo {
    let id: string;
    do id = newMediaId();
    while (this.media.has(id) || this.reservedIds.has(id));
    const stored: StoredMedia = {
      id,
      mimeType,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      fileSize: bytes.length,
      filename,
      origin,
      createdAt: this.now(),
      bytes,
    };
    this.media.set(id, stored);
    return info(stored);
  }

  get(id: string): StoredMedia | undefined {
    return this.media.get(id);
  }

  has(id: string): boolean {
    return this.media.has(id);
  }

  delete(id: string): boolean {
    return this.media.delete(id);
  }

  list(): SandboxMediaInfo[] {
    return [...this.media.values()].map(info);
  }

  /** A fresh download URL for the media, valid for the TTL from now. */
  issueUrl(id: string, origin: string): string {
    const sig = randomBytes(24).toString('base64url');
    const expiresAt = this.now() + this.ttlMs;
    this.urls.set(sig, { mediaId: id, expiresAt, revoked: false });
    const query = new URLSearchParams({ expires: String(Math.floor(expiresAt / 1000)), sig });
    return `${origin}/_sandbox/media/${id}?${query.toString()}`;
  }

  /** Whether a download URL is one this store issued for that id, still unexpired, for media that still exists. */
  checkUrl(id: string, sig: string | null): UrlCheck {
    const issued = sig === null ? undefined : this.urls.get(sig);
    const media = this.media.get(id);
    if (!issued || issued.mediaId !== id || !media) return { ok: false, reason: 'unknown' };
    if (issued.revoked || this.now() >= issued.expiresAt) return { ok: false, reason: 'expired' };
    return { ok: true, media };
  }

  /** Expires every URL issued so far (or those of one media id); returns how many were still valid. */
  expireUrls(id?: string): number {
    let expired = 0;
    for (const issued of this.urls.values()) {
      if (id !== undefined && issued.mediaId !== id) continue;
      if (!issued.revoked && this.now() < issued.expiresAt) expired += 1;
      issued.revoked = true;
    }
    return expired;
  }

  addFault(fault: SandboxMediaFault): Required<Omit<SandboxMediaFault, 'id'>> & { id: string | null } {
    if (fault.id !== undefined && (typeof fault.id !== 'string' || !this.media.has(fault.id))) {
      throw new TypeError(`fault.id must be the id of media the sandbox holds; got ${JSON.stringify(fault.id)}.`);
    }
    const on = fault.on ?? 'download';
    if (on !== 'download' && on !== 'info') throw new TypeError('fault.on must be "download" or "info".');
    const times = fault.times ?? 1;
    if (!Number.isInteger(times) || times < 0) throw new TypeError('fault.times must be an integer ≥ 0 (0 = always).');
    const status = fault.status ?? 500;
    if (!Number.isInteger(status) || status < 500 || status > 599) throw new TypeError('fault.status must be 500-599.');
    this.faults.push({ mediaId: fault.id, on, remaining: times === 0 ? Infinity : times, status });
    return { id: fault.id ?? null, on, times, status };
  }

  /** Consumes the oldest fault queued for this media id (or for any media) and this kind of request. */
  takeFault(id: string, on: 'download' | 'info'): number | undefined {
    const fault = this.faults.find((f) => f.on === on && (f.mediaId === undefined || f.mediaId === id));
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
    return fault.status;
  }

  reset(): void {
    this.media.clear();
    this.urls.clear();
    this.faults = [];
  }
}

function info(media: StoredMedia): SandboxMediaInfo {
  const { bytes: _bytes, ...rest } = media;
  return { ...rest };
}

/** Numeric, 16 digits, like Meta's media ids. */
function newMediaId(): string {
  const digits = [...randomBytes(15)].map((b) => String(b % 10)).join('');
  return `1${digits}`;
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// ---------------------------------------------------------------------------------------------------------------
// Uploads

/** A file part of a multipart body. */
export interface UploadedFile {
  filename: string;
  /** The part's Content-Type, as sent ('' when it had none). */
  type: string;
  bytes: Buffer;
}

/** A parsed multipart/form-data body: text fields and file parts by name (the last one of a name wins). */
export class MultipartBody {
  constructor(
    readonly fields: ReadonlyMap<string, string>,
    readonly files: ReadonlyMap<string, UploadedFile>,
  ) {}
}

/**
 * Parses multipart/form-data (RFC 7578) in place: parts are found with `Buffer.indexOf`, so a 100 MB file costs
 * no copy (undici's `Response.formData()` took seconds and four copies for one). Text fields are UTF-8; a part
 * with a `filename` (or `filename*`) parameter is a file.
 */
export function parseMultipart(raw: Buffer, contentType: string): MultipartBody {
  const bad = () => invalidParameter('The request body could not be parsed as multipart/form-data.');
  const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const marker = boundary?.[1] ?? boundary?.[2];
  if (marker === undefined || marker.length > 70) throw bad();
  const delimiter = Buffer.from(`--${marker}`);
  const next = Buffer.from(`\r\n--${marker}`);
  const fields = new Map<string, string>();
  const files = new Map<string, UploadedFile>();
  let pos = raw.indexOf(delimiter);
  if (pos !== 0 && (pos < 2 || raw[pos - 2] !== 0x0d || raw[pos - 1] !== 0x0a)) throw bad(); // only a preamble may precede
  for (;;) {
    pos += delimiter.length;
    if (raw[pos] === 0x2d && raw[pos + 1] === 0x2d) break; // the closing delimiter
    const lineEnd = raw.indexOf('\r\n', pos);
    if (lineEnd === -1 || raw.subarray(pos, lineEnd).toString('latin1').trim() !== '') throw bad();
    const headersStart = lineEnd + 2;
    const noHeaders = raw[headersStart] === 0x0d && raw[headersStart + 1] === 0x0a;
    const headersEnd = noHeaders ? headersStart : raw.indexOf('\r\n\r\n', headersStart);
    if (headersEnd === -1) throw bad();
    const bodyStart = noHeaders ? headersStart + 2 : headersEnd + 4;
    const bodyEnd = raw.indexOf(next, bodyStart);
    if (bodyEnd === -1) throw bad();
    const headers = parsePartHeaders(raw.toString('utf8', headersStart, headersEnd));
    const name = headers.disposition.get('name');
    const filename = headers.disposition.get('filename*') ?? headers.disposition.get('filename');
    const body = raw.subarray(bodyStart, bodyEnd);
    if (name !== undefined) {
      if (filename !== undefined) files.set(name, { filename, type: headers.contentType, bytes: body });
      else fields.set(name, body.toString('utf8'));
    }
    pos = bodyEnd + 2;
  }
  return new MultipartBody(fields, files);
}

/** A part's Content-Disposition parameters (lower-cased names; `filename*` decoded) and Content-Type. */
function parsePartHeaders(text: string): { disposition: Map<string, string>; contentType: string } {
  const disposition = new Map<string, string>();
  let contentType = '';
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const header = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (header === 'content-type') contentType = value.toLowerCase();
    if (header !== 'content-disposition') continue;
    const param = /\s*;\s*([^=\s;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/gy;
    param.lastIndex = value.indexOf(';') === -1 ? value.length : value.indexOf(';');
    for (let m = param.exec(value); m !== null; m = param.exec(value)) {
      const key = m[1]!.toLowerCase();
      let v = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!.trim();
      if (key === 'filename*') {
        // RFC 5987: charset'language'percent-encoded
        const ext = /^[^']*'[^']*'(.*)$/.exec(v);
        try {
          v = decodeURIComponent(ext?.[1] ?? v);
        } catch {
          continue;
        }
      }
      disposition.set(key, v);
    }
  }
  return { disposition, contentType };
}

/** `POST /{phone-number-id}/media`: validates like Meta and stores the file; answers `{id}`. */
export function uploadMedia(store: MediaStore, body: unknown): { id: string } {
  const field = (name: string): unknown =>
    body instanceof MultipartBody ? (body.fields.get(name) ?? body.files.get(name)) : isRecord(body) ? body[name] : undefined;
  const product = field('messaging_product');
  if (product === undefined) throw missingParameter('messaging_product');
  if (product !== 'whatsapp') {
    throw badParameter(`Param messaging_product must be one of {WHATSAPP} - got "${String(product)}".`);
  }
  const file = body instanceof MultipartBody ? body.files.get('file') : undefined;
  if (!file) {
    // A text field named file is not a file either.
    throw missingParameter('file');
  }
  if (field('type') === undefined) throw missingParameter('type');
  // Meta goes by the file part's own content type, not by the `type` field.
  const kind = mediaKindOf(file.type);
  if (kind === undefined) {
    throw badParameter(
      `Param file must be a file with one of the following types: ${SUPPORTED_TYPES.join(', ')}. ` +
        `Received file of type '${file.type || 'application/octet-stream'}'.`,
    );
  }
  if (file.bytes.length === 0) throw badParameter('Param file must not be empty.');
  const { maxBytes } = MEDIA_LIMITS[kind];
  if (file.bytes.length > maxBytes) {
    throw sendError(131053, {
      details:
        `Param file is too large: ${kind} files (${baseMimeType(file.type)}) can be at most ${maxBytes} bytes; ` +
        `got ${file.bytes.length} bytes.`,
    });
  }
  const stored = store.add(file.bytes, file.type, 'upload', file.filename || undefined);
  return { id: stored.id };
}

/** `GET /{media-id}`: Meta's media object with a fresh download URL. */
export function mediaInfo(store: MediaStore, id: string, origin: string): Record<string, unknown> {
  const media = store.get(id);
  if (!media) throw unsupportedRequest('GET', id);
  const failure = store.takeFault(id, 'info');
  if (failure !== undefined) throw unknownError(failure);
  return {
    messaging_product: 'whatsapp',
    url: store.issueUrl(id, origin),
    mime_type: media.mimeType,
    sha256: media.sha256,
    file_size: media.fileSize,
    id,
  };
}

export interface DownloadResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * `GET /_sandbox/media/<id>?expires=…&sig=…`: the bytes, for the bearer of the access token (401 without it, as
 * Meta's lookaside URLs); an expired, unknown or tampered URL, or deleted media, is a 404.
 */
export function downloadMedia(
  store: MediaStore,
  id: string,
  query: URLSearchParams,
  authorization: string | undefined,
  accessToken: string,
): DownloadResult {
  const presented = authorization === undefined ? null : (/^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] ?? null);
  if (presented === null || !sameString(presented, accessToken)) throw invalidAccessToken();
  const check = store.checkUrl(id, query.get('sig'));
  if (!check.ok) {
    throw new SandboxGraphError(404, {
      message:
        check.reason === 'expired'
          ? 'URL signature expired: media URLs are valid for 5 minutes. Get a new one with GET /{media-id}.'
          : 'Media not found: the URL is not one the sandbox issued, or the media was deleted.',
      type: 'OAuthException',
      code: 100,
      fbtrace_id: newFbtraceId(),
    });
  }
  const failure = store.takeFault(id, 'download');
  if (failure !== undefined) throw unknownError(failure);
  const { media } = check;
  const headers: Record<string, string> = {
    'content-type': media.mimeType,
    'content-length': String(media.fileSize),
    'cache-control': 'no-cache, no-store',
  };
  if (media.filename) {
    // Headers are latin1: an ASCII name, and the real one in RFC 5987 form when it differs.
    const ascii = media.filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
    headers['content-disposition'] =
      `attachment; filename="${ascii}"` + (ascii === media.filename ? '' : `; filename*=UTF-8''${encodeURIComponent(media.filename)}`);
  }
  return { status: 200, headers, body: media.bytes };
}

// ---------------------------------------------------------------------------------------------------------------
// Small deterministic files for inbound media

/** A 1×1 PNG (one blue-green pixel). */
const SAMPLE_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR42mNQvZwGAAJ/AV9pIfneAAAAAElFTkSuQmCC',
  'base64',
);
/** A 1×1 lossless WebP. */
const SAMPLE_WEBP = Buffer.from('UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==', 'base64');

/** An MP4 file's opening boxes (ftyp + an empty free box): typed right, not playable. */
function sampleMp4(): Buffer {
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom'), Buffer.from([0, 0, 2, 0]), Buffer.from('isommp41')]);
  return Buffer.concat([ftyp, Buffer.from([0, 0, 0, 8]), Buffer.from('free')]);
}

/** Bytes that open like an Ogg stream (a voice note's container): typed right, not playable. */
function sampleOgg(): Buffer {
  return Buffer.concat([Buffer.from('OggS'), Buffer.alloc(23), Buffer.from('OpusHead'), Buffer.from([1, 1, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, 0])]);
}

/** A one-page PDF with one line of text and a correct cross-reference table. */
export function samplePdf(text = 'Lumen sandbox document'): Buffer {
  const escaped = text.replace(/[^\x20-\x7e]/g, '?').replace(/([\\()])/g, '\\$1');
  const content = `BT /F1 12 Tf 20 50 Td (${escaped}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`).join('');
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** The default file for an inbound message of each media kind. */
export function sampleMedia(kind: MediaKind): { bytes: Buffer; mimeType: string; filename?: string } {
  switch (kind) {
    case 'image':
      return { bytes: SAMPLE_PNG, mimeType: 'image/png' };
    case 'video':
      return { bytes: sampleMp4(), mimeType: 'video/mp4' };
    case 'audio':
      return { bytes: sampleOgg(), mimeType: 'audio/ogg; codecs=opus' };
    case 'document':
      return { bytes: samplePdf(), mimeType: 'application/pdf', filename: 'sandbox.pdf' };
    case 'sticker':
      return { bytes: SAMPLE_WEBP, mimeType: 'image/webp' };
  }
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  'text/plain': 'txt',
  'application/pdf': 'pdf',
  'application/msword': 'doc',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/vnd.ms-powerpoint': 'ppt',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'pptx',
};

/** `sandbox.<ext>` for a document's MIME type. */
export function defaultFilename(mimeType: string): string {
  return `sandbox.${EXTENSIONS[baseMimeType(mimeType)] ?? 'bin'}`;
}
