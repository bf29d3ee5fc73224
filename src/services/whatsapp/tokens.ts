import { randomBytes } from 'node:crypto';

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
