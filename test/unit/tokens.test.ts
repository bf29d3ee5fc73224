import { describe, expect, it } from 'vitest';
import { newIntegrationId, newSecretRef, newVerifyToken } from '../../src/services/whatsapp/tokens.js';
import { hashVerifyToken, verifyTokenMatches } from '../../src/webhooks.js';

describe('integration ids and verify tokens', () => {
  it('makes unguessable, URL-safe integration ids (128 bits)', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newIntegrationId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^wa_[0-9a-f]{32}$/);
  });

  it('makes verify tokens with at least 32 bytes of entropy', () => {
    const token = newVerifyToken();
    expect(token).toMatch(/^lvt_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token.slice(4), 'base64url')).toHaveLength(32);
    expect(newVerifyToken()).not.toBe(token);
  });

  it('stores only a hash that matches the token and nothing else', () => {
    const token = newVerifyToken();
    const hash = hashVerifyToken(token);
    expect(hash).not.toContain(token);
    expect(hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(verifyTokenMatches(token, hash)).toBe(true);
    expect(verifyTokenMatches(`${token}x`, hash)).toBe(false);
    expect(verifyTokenMatches('', hash)).toBe(false);
    expect(verifyTokenMatches(token, 'sha256:abcd')).toBe(false);
  });

  it('derives secret refs from the integration id with a fresh suffix', () => {
    const a = newSecretRef('wa_1');
    expect(a).toMatch(/^wa_1\.[0-9a-f]{8}$/);
    expect(newSecretRef('wa_1')).not.toBe(a);
  });
});
