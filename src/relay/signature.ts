import { createHmac, timingSafeEqual } from 'node:crypto';

const HEADER = /^sha256=([0-9a-fA-F]{64})$/;

/** `sha256=<hex>` for a body: what Meta sends in X-Hub-Signature-256 (and what the sandbox and tests send). */
export function signBody(body: Buffer | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

/** The 32 signature bytes of a well-formed header, or null for a missing or malformed one. */
export function parseSignatureHeader(header: string | string[] | undefined): Buffer | null {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value === undefined ? null : HEADER.exec(value.trim());
  return match ? Buffer.from(match[1]!, 'hex') : null;
}

function matches(body: Buffer, expected: Buffer, appSecret: string): boolean {
  const actual = createHmac('sha256', appSecret).update(body).digest();
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * Checks Meta's signature over the exact raw bytes. Meta escapes non-ASCII as `\uXXXX` before signing; a proxy that
 * decoded and re-encoded the JSON as UTF-8 breaks that, so only when the first check fails and the body has
 * non-ASCII bytes, the check is repeated over the escaped form.
 */
export function verifySignature(body: Buffer, expected: Buffer, appSecret: string): boolean {
  if (matches(body, expected, appSecret)) return true;
  if (!hasNonAscii(body)) return false;
  const text = body.toString('utf8');
  return (
    matches(Buffer.from(escapeNonAscii(text, 'lower')), expected, appSecret) ||
    matches(Buffer.from(escapeNonAscii(text, 'upper')), expected, appSecret)
  );
}

function hasNonAscii(body: Buffer): boolean {
  for (const byte of body) if (byte > 0x7f) return true;
  return false;
}

/** JSON-style `\uXXXX` escapes (UTF-16 code units, so emoji become surrogate pairs) for every non-ASCII char. */
export function escapeNonAscii(text: string, hexCase: 'lower' | 'upper' = 'lower'): string {
  return text.replace(/[\u0080-\uffff]/g, (char) => {
    const hex = char.charCodeAt(0).toString(16).padStart(4, '0');
    return `\\u${hexCase === 'upper' ? hex.toUpperCase() : hex}`;
  });
}
