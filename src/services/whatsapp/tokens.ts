import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 128 random bits: the integration id is part of the webhook URL, so it must not be guessable. */
export function newIntegrationId(random: (size: number) => Buffer = randomBytes): string {
  return `wa_${random(16).toString('hex')}`;
}

/** 256 random bits, URL-safe. Shown to the user once; only its hash is stored. */
export function newVerifyToken(random: (size: number) => Buffer = randomBytes): string {
  return `lvt_${random(32).toString('base64url')}`;
}

/** Names the secret-store entries of one generation of an integration's secrets. */
export function newSecretRef(integrationId: string, random: (size: number) => Buffer = randomBytes): string {
  return `${integrationId}.${random(4).toString('hex')}`;
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
