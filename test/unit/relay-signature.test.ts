import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { escapeNonAscii, parseSignatureHeader, signBody, verifySignature } from '../../src/relay/signature.js';

const secret = '5a4d0b1e9c3f7a2e8b6d4c0f1a3e5b7d';

describe('webhook signatures', () => {
  it('signs like Meta: sha256= and the hex HMAC of the exact bytes', () => {
    const body = '{"object":"whatsapp_business_account"}';
    expect(signBody(body, secret)).toBe(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  });

  it('accepts the right signature and refuses wrong, tampered, missing or malformed ones', () => {
    const body = Buffer.from('{"a":1}');
    const good = parseSignatureHeader(signBody(body, secret))!;
    expect(verifySignature(body, good, secret)).toBe(true);
    expect(verifySignature(Buffer.from('{"a":2}'), good, secret)).toBe(false);
    expect(verifySignature(body, good, 'another-secret')).toBe(false);
    expect(parseSignatureHeader(undefined)).toBeNull();
    expect(parseSignatureHeader('sha1=abcd')).toBeNull();
    expect(parseSignatureHeader('sha256=zz')).toBeNull();
    expect(parseSignatureHeader(`sha256=${'a'.repeat(63)}`)).toBeNull();
  });

  it('accepts a body a proxy re-encoded as UTF-8 when Meta signed the \\u-escaped form', () => {
    // Meta signs the escaped bytes…
    const signed = '{"text":{"body":"Ol\\u00e1 \\ud83d\\udc4d"}}';
    const header = parseSignatureHeader(signBody(signed, secret))!;
    // …and a proxy turned the escapes into UTF-8.
    const reencoded = Buffer.from(JSON.stringify(JSON.parse(signed)));
    expect(reencoded.toString()).toContain('Olá 👍');
    expect(verifySignature(reencoded, header, secret)).toBe(true);
    // A different message with the same escapes still fails.
    expect(verifySignature(Buffer.from('{"text":{"body":"Olá 👎"}}'), header, secret)).toBe(false);
  });

  it('escapes non-ASCII as JSON does, emoji as surrogate pairs', () => {
    expect(escapeNonAscii('é👍a')).toBe('\\u00e9\\ud83d\\udc4da');
    expect(escapeNonAscii('é', 'upper')).toBe('\\u00E9');
  });
});
