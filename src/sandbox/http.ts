/** Small node:http helpers: bounded body reading, body parsing and JSON responses. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bodyTooLarge, invalidJsonBody } from './errors.js';

export const BODY_LIMIT_BYTES = 1024 * 1024;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the whole body, or rejects with a 413 SandboxGraphError once it passes `limit` bytes. */
export function readBody(req: IncomingMessage, limit = BODY_LIMIT_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume(); // discard, so the socket can still carry the 413
      reject(bodyTooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    // With a declared length (node's parser holds the body to it), one buffer filled in place: no concat copy.
    const whole = Number.isFinite(declared) && declared > 64 * 1024 ? Buffer.allocUnsafe(declared) : undefined;
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      if (size + chunk.length > limit || (whole && size + chunk.length > whole.length)) {
        tooLarge = true;
        chunks.length = 0;
        reject(bodyTooLarge(limit));
        return;
      }
      if (whole) chunk.copy(whole, size);
      else chunks.push(chunk);
      size += chunk.length;
    });
    req.on('end', () => {
      if (!tooLarge) resolve(whole ? whole.subarray(0, size) : Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

/**
 * Graph accepts JSON and form-encoded parameters; an empty body is no parameters.
 * Anything that is neither form-encoded nor valid JSON is Meta's (#100).
 * `jsonFirst`: the sandbox's own control API takes JSON whatever the content type says (`curl -d '{…}'` sends it as
 * a form); the Graph routes read forms as forms, like Meta.
 */
export function parseRequestBody(raw: Buffer, contentType: string | undefined, jsonFirst = false): unknown {
  if (raw.length === 0) return {};
  const text = raw.toString('utf8');
  const looksJson = /^\s*[{[]/.test(text);
  if (contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded') && !(jsonFirst && looksJson)) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidJsonBody();
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}
