/**
 * One-time sign-in codes for the console, so that the URL `lumen console` hands to a browser does not carry the
 * console's token: a browser keeps its URL in its command line, which any user of the machine can read (`ps`).
 * A code is made from the token by whoever can read it (the CLI, from the secret store): `<expiry>.<nonce>.<mac>`,
 * the mac an HMAC of the rest with the token. The relay takes each code once, until it expires (a minute).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGN_IN_CODE_TTL_MS = 60_000;

function macOf(token: string, payload: string): Buffer {
  return createHmac('sha256', token).update(`lumen-console-sign-in:${payload}`).digest();
}

export function signInCode(token: string, nowMs: number): string {
  const payload = `${Math.ceil((nowMs + SIGN_IN_CODE_TTL_MS) / 1000)}.${randomBytes(12).toString('base64url')}`;
  return `${payload}.${macOf(token, payload).toString('base64url')}`;
}

/** The codes a relay took, until they expire: each signs in once. */
export class SignInCodes {
  private readonly used = new Map<string, number>();

  constructor(private readonly token: string) {}

  /** Whether `code` is good now (made with this token, not expired, not taken before); takes it. */
  take(code: string, nowMs: number): boolean {
    const match = /^(\d{1,12})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/.exec(code);
    if (!match) return false;
    const expiresMs = Number(match[1]) * 1000;
    if (expiresMs <= nowMs || expiresMs > nowMs + SIGN_IN_CODE_TTL_MS + 1000) return false;
    const given = Buffer.from(match[3]!, 'base64url');
    const expected = macOf(this.token, `${match[1]}.${match[2]}`);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    for (const [nonce, expiry] of this.used) if (expiry <= nowMs) this.used.delete(nonce);
    if (this.used.has(match[2]!)) return false;
    this.used.set(match[2]!, expiresMs);
    return true;
  }
}

/** How long a browser stays signed in: then `lumen console` signs it in again. */
export const SESSION_TTL_MS = 24 * 3600_000;

/**
 * The console's cookie: `<expiry>.<mac>`, an HMAC with the token, never the token itself. Browsers send a cookie of
 * 127.0.0.1 to every port of it, so another local service a browser visits can read it: it then works until it
 * expires, and the token (which the local API's scripts use too) stays in the secret store.
 */
export function sessionValue(token: string, nowMs: number): string {
  const expiry = String(Math.ceil((nowMs + SESSION_TTL_MS) / 1000));
  return `${expiry}.${macOf(token, `session:${expiry}`).toString('base64url')}`;
}

export function sessionValid(token: string, value: string, nowMs: number): boolean {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return false;
  const expiresMs = Number(match[1]) * 1000;
  if (expiresMs <= nowMs || expiresMs > nowMs + SESSION_TTL_MS + 1000) return false;
  const given = Buffer.from(match[2]!, 'base64url');
  const expected = macOf(token, `session:${match[1]}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
