import { describe, expect, it } from 'vitest';
import { relativeTime, timeFormat } from '../../src/cli/time.js';

const now = new Date('2026-12-02T12:00:00.000Z');

describe('the one time format of human output', () => {
  it('shows local time with its zone, from TZ', () => {
    expect(timeFormat({ now: () => now, env: { TZ: 'America/New_York' } }).at('2026-12-02T15:04:05.123Z')).toBe('2026-12-02 10:04:05 EST');
    expect(timeFormat({ now: () => now, env: { TZ: 'Asia/Kolkata' } }).at('2026-12-02T15:04:05Z')).toBe('2026-12-02 20:34:05 GMT+5:30');
    expect(timeFormat({ now: () => now, env: { TZ: 'UTC' } }).at('2026-12-02T15:04:05Z')).toBe('2026-12-02 15:04:05 UTC');
  });

  it('adds how far it is from now', () => {
    const time = timeFormat({ now: () => now, env: { TZ: 'UTC' } });
    expect(time.atRelative('2026-12-02T15:00:00Z')).toBe('2026-12-02 15:00:00 UTC (in 3 h)');
    expect(time.relative('2026-12-02T11:58:00Z')).toBe('2 min ago');
    expect(relativeTime(-2_000)).toBe('just now');
    expect(relativeTime(300)).toBe('just now');
    expect(relativeTime(2_000)).toBe('in 2 s'); // a retry a moment ahead is not "just now"
    expect(relativeTime(-45_000)).toBe('45 s ago');
    expect(relativeTime(3 * 86_400_000)).toBe('in 3 d');
  });

  it('falls back to the system zone for a TZ Intl does not know, and leaves what is not a time alone', () => {
    const time = timeFormat({ now: () => now, env: { TZ: 'Not/AZone' } });
    expect(time.at('2026-12-02T15:04:05Z')).toMatch(/^2026-12-0\d \d\d:\d\d:05 \S+$/);
    expect(time.at('soon')).toBe('soon');
  });
});
