import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, isRetryable, longestRetriedCallMs, retryDelay } from '../../src/graph/retry.js';
import { longestAttemptMs } from '../../src/graph/timeouts.js';

const fixedRandom = () => 0.5;

describe('retryDelay', () => {
  it.each([4, 80007, 130429, 131000, 131016, 131057, 1, 2])('retries throttling/transient code %i', (code) => {
    expect(retryDelay({ attempt: 1, status: 400, code }, DEFAULT_RETRY_POLICY, fixedRandom)).toBeGreaterThan(0);
  });

  it.each([190, 100, 131008, 131009, 131026, 131047, 131051, 132000, 132001, 132012, 368])(
    'never retries permanent code %i, even on a 5xx',
    (code) => {
      expect(retryDelay({ attempt: 1, status: 500, code })).toBeNull();
    },
  );

  it('retries HTTP 5xx without a Graph code', () => {
    expect(retryDelay({ attempt: 1, status: 503 }, DEFAULT_RETRY_POLICY, fixedRandom)).toBe(375);
  });

  it('does not retry a plain 4xx', () => {
    expect(retryDelay({ attempt: 1, status: 404 })).toBeNull();
  });

  it('backs off exponentially with jitter between half and the full ceiling', () => {
    const policy = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(retryDelay({ attempt: 1, status: 500 }, policy, () => 0)).toBe(50);
    expect(retryDelay({ attempt: 1, status: 500 }, policy, () => 1)).toBe(100);
    expect(retryDelay({ attempt: 3, status: 500 }, policy, () => 1)).toBe(400);
    expect(retryDelay({ attempt: 8, status: 500 }, policy, () => 1)).toBe(1_000); // capped
  });

  it('waits 4^n seconds for the pair rate limit 131056', () => {
    const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(retryDelay({ attempt: 1, code: 131056 }, policy, () => 1)).toBe(4_000);
    expect(retryDelay({ attempt: 2, code: 131056 }, policy, () => 1)).toBe(16_000);
    expect(retryDelay({ attempt: 2, code: 131056 }, policy, () => 0)).toBe(12_000);
  });

  it('stops after maxAttempts', () => {
    const policy = { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(retryDelay({ attempt: 2, status: 500 }, policy)).not.toBeNull();
    expect(retryDelay({ attempt: 3, status: 500 }, policy)).toBeNull();
  });

  it('honours Retry-After, capped by the policy', () => {
    expect(retryDelay({ attempt: 1, status: 503, retryAfterSeconds: 2 })).toBe(2_000);
    expect(retryDelay({ attempt: 1, status: 503, retryAfterSeconds: 3_600 })).toBe(DEFAULT_RETRY_POLICY.maxDelayMs);
  });

  it('retries timeouts and resets but not refused connections or DNS failures', () => {
    expect(isRetryable({ network: 'timeout' })).toBe(true);
    expect(isRetryable({ network: 'reset' })).toBe(true);
    expect(isRetryable({ network: 'refused' })).toBe(false);
    expect(isRetryable({ network: 'dns' })).toBe(false);
  });
});

describe('longestRetriedCallMs', () => {
  it('adds every attempt at its timeouts and the longest wait before each retry', () => {
    // 10 s to connect + 20 s for the headers + 20 s for the body, four times; then 30 s (Retry-After's cap), 30 s
    // (Retry-After again: 131056's 16 s is shorter) and 64 s (131056's 4^3 s) between them.
    expect(longestAttemptMs()).toBe(50_000);
    expect(longestRetriedCallMs(longestAttemptMs())).toBe(4 * 50_000 + 30_000 + 30_000 + 64_000);
    // Without retries a call is one attempt.
    expect(longestRetriedCallMs(1_000, { ...DEFAULT_RETRY_POLICY, maxAttempts: 1 })).toBe(1_000);
  });
});
