import { describe, expect, it } from 'vitest';
import { normalizeSender, parseSince } from '../../src/cli/flag-values.js';
import { UsageError } from '../../src/errors.js';
import { withoutSecrets } from '../../src/relay/dispatch.js';

const now = new Date('2026-12-02T12:00:00.000Z');

describe('--since', () => {
  it('takes a duration back from now, or an ISO date or time', () => {
    expect(parseSince('2d', now)).toBe('2026-11-30T12:00:00.000Z');
    expect(parseSince('30m', now)).toBe('2026-12-02T11:30:00.000Z');
    expect(parseSince('99999999d', now)).toBe('1970-01-01T00:00:00.000Z');
    expect(parseSince('200000000d', now)).toBe('1970-01-01T00:00:00.000Z');
    expect(parseSince(`${'9'.repeat(400)}w`, now)).toBe('1970-01-01T00:00:00.000Z');
    expect(parseSince('2026-12-01', now)).toBe('2026-12-01T00:00:00.000Z');
    expect(parseSince('2026-12-01T09:30Z', now)).toBe('2026-12-01T09:30:00.000Z');
    expect(parseSince('2026-12-01T09:30:15.250+01:00', now)).toBe('2026-12-01T08:30:15.250Z');
  });

  it('refuses what only looks like a date to new Date(): a bare number, prose, a day that does not exist', () => {
    for (const value of ['90', '0', 'hello 1', 'Dec 1', '2026-02-30', '2026-13-01', '2026-12-01T24:00Z', '']) {
      expect(() => parseSince(value, now), value).toThrow(UsageError);
    }
  });
});

describe('the environment an --exec handler gets', () => {
  it('leaves out every secret lumen reads from the environment, and keeps the rest', () => {
    const env = {
      PATH: '/usr/bin',
      WHATSAPP_ACCESS_TOKEN: 'EAA',
      WHATSAPP_APP_SECRET: 'app',
      LUMEN_MASTER_KEY: 'new passphrase',
      LUMEN_PREVIOUS_MASTER_KEY: 'old passphrase',
      LUMEN_DATABASE_URL: 'postgres://lumen:password@db/lumen',
    };
    expect(withoutSecrets(env)).toEqual({ PATH: '/usr/bin' });
  });
});

describe('--from and --to filters', () => {
  it('take a phone number as people write it, or a username user id; anything else is refused, naming the flag', () => {
    expect(normalizeSender('+1 (555) 010-4242')).toBe('15550104242');
    expect(normalizeSender('US.13491208655302741918')).toBe('US.13491208655302741918');
    expect(() => normalizeSender('abc')).toThrow(UsageError);
    expect(() => normalizeSender('abc')).toThrow(/^--from takes a phone number .* got "abc"\.$/);
    expect(() => normalizeSender('()', '--to')).toThrow(/^--to takes a phone number/);
  });
});
