/** One-time console sign-in codes (relay/console/sign-in.ts): made from the token, taken once, for a minute. */
import { describe, expect, it } from 'vitest';
import { SIGN_IN_CODE_TTL_MS, signInCode, SignInCodes } from '../../src/relay/console/sign-in.js';

const TOKEN = 'ct_test-token';
const NOW = Date.parse('2026-12-04T10:00:00Z');

describe('console sign-in codes', () => {
  it('sign in once, within a minute, only when made with the console token', () => {
    const codes = new SignInCodes(TOKEN);
    const code = signInCode(TOKEN, NOW);
    expect(codes.take(code, NOW + 1000)).toBe(true);
    expect(codes.take(code, NOW + 2000)).toBe(false); // taken
    expect(codes.take(signInCode(TOKEN, NOW), NOW + SIGN_IN_CODE_TTL_MS + 1000)).toBe(false); // expired
    expect(codes.take(signInCode('ct_other', NOW), NOW)).toBe(false); // another token's
    const [expiry, nonce, mac] = signInCode(TOKEN, NOW).split('.');
    expect(codes.take(`${Number(expiry) + 3600}.${nonce}.${mac}`, NOW)).toBe(false); // its expiry moved
    expect(codes.take(`${expiry}.${nonce}.${mac!.startsWith('A') ? 'B' : 'A'}${mac!.slice(1)}`, NOW)).toBe(false); // its mac changed
    expect(codes.take('not a code', NOW)).toBe(false);
    expect(codes.take(`${expiry}.${nonce}.${mac}`, NOW)).toBe(true);
  });
});
