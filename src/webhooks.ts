/**
 * The webhook's address and its verify token: where a connected number's deliveries arrive (the relay serves it,
 * `connect` and `status` print it) and how the handshake's token is kept (only as a hash) and checked.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_PATH_PREFIX = '/webhooks/whatsapp/';

export function webhookPath(integrationId: string): string {
  return `${WEBHOOK_PATH_PREFIX}${integrationId}`;
}

export function webhookUrl(publicUrl: string | null | undefined, integrationId: string): string | null {
  if (!publicUrl) return null;
  return `${publicUrl.replace(/\/+$/, '')}${webhookPath(integrationId)}`;
}

/** The token has 256 bits of entropy, so a plain SHA-256 is enough (no slow KDF needed). */
export function hashVerifyToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** Constant-time comparison of a presented token with a stored hash. */
export function verifyTokenMatches(candidate: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash.replace(/^sha256:/, ''), 'hex');
  const actual = createHash('sha256').update(candidate, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
