/** One-time console sign-in codes (relay/console/sign-in.ts): made from the token, taken once, for a minute. */
import { describe, expect, it } from 'vitest';
import { SESSION_TTL_MS, SIGN_IN_CODE_TTL_MS, sessionValid, sessionValue, signInCode, SignInCodes } from '../../src/relay/console/sign-in.js';

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

  it('a session cookie holds no token and lasts a day, for the token that made it only', () => {
    const value = sessionValue(TOKEN, NOW);
    expect(value).not.toContain(TOKEN);
    expect(sessionValid(TOKEN, value, NOW + 1000)).toBe(true);
    expect(sessionValid(TOKEN, value, NOW + SESSION_TTL_MS + 1000)).toBe(false);
    expect(sessionValid('ct_other', value, NOW)).toBe(false);
    const [expiry, mac] = value.split('.');
    expect(sessionValid(TOKEN, `${Number(expiry) - 3600}.${mac}`, NOW)).toBe(false); // its expiry moved: the mac is wrong
    expect(sessionValid(TOKEN, TOKEN, NOW)).toBe(false); // the token itself is no session
  });
});
