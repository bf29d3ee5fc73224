import { describe, expect, it } from 'vitest';
import { nextAttemptDelayMs } from '../../src/relay/dispatch.js';
import { RateLimiter, TokenBucket } from '../../src/relay/limits.js';

describe('token buckets', () => {
  it('allows a burst, then refills at the rate', () => {
    const bucket = new TokenBucket(10, 20, 0);
    for (let i = 0; i < 20; i += 1) expect(bucket.take(0)).toBe(0);
    expect(bucket.take(0)).toBe(1); // empty: retry after a second
    expect(bucket.take(100)).toBe(0); // 100 ms at 10/s = one token
    expect(bucket.take(100)).toBe(1);
  });

  it('keys buckets separately and can be turned off', () => {
    const limiter = new RateLimiter(1);
    expect(limiter.take('a', 0)).toBe(0);
    expect(limiter.take('a', 0)).toBe(0);
    expect(limiter.take('a', 0)).toBeGreaterThan(0);
    expect(limiter.take('b', 0)).toBe(0);
    expect(limiter.wait('a', 0)).toBeGreaterThan(0);
    expect(limiter.wait('unknown', 0)).toBe(0);
    const off = new RateLimiter(0);
    for (let i = 0; i < 1000; i += 1) expect(off.take('a', 0)).toBe(0);
  });
});

describe('dispatch backoff', () => {
  it('doubles from about a second up to five minutes, with jitter', () => {
    expect(nextAttemptDelayMs(1, () => 1)).toBe(1000);
    expect(nextAttemptDelayMs(2, () => 1)).toBe(2000);
    expect(nextAttemptDelayMs(4, () => 0)).toBe(6000);
    expect(nextAttemptDelayMs(30, () => 1)).toBe(300_000);
  });
});
