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
