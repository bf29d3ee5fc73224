/**
 * When to try a Graph API call again. Pure: (what happened, attempt) → delay or stop.
 * Codes from Meta's error reference; decisions on the code, never on the message text.
 */

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 };

export type NetworkFailure = 'refused' | 'dns' | 'timeout' | 'reset' | 'tls' | 'other';

export interface FailedAttempt {
  /** 1 for the first attempt that failed. */
  attempt: number;
  status?: number | undefined;
  code?: number | undefined;
  network?: NetworkFailure | undefined;
  /** Seconds from a Retry-After header, when the server sent one. */
  retryAfterSeconds?: number | undefined;
}

/** Throttling and temporary failures worth another try with backoff. */
const RETRYABLE_CODES = new Set([1, 2, 4, 80007, 130429, 131000, 131016, 131057]);
/** Pair rate limit (one user, ~1 message per 6 s): back off in powers of four seconds. */
const PAIR_RATE_LIMIT = 131056;
/** Never retried: the same request would fail the same way. */
const PERMANENT_CODES = new Set([
  100, 190, 368, 130497, 131008, 131009, 131026, 131037, 131047, 131049, 131051, 131062, 131063, 137000,
]);

export function isPermanentCode(code: number | undefined): boolean {
  if (code === undefined) return false;
  if (code >= 132000 && code <= 132099) return true; // template errors
  return PERMANENT_CODES.has(code);
}

export function isRetryable(failure: Omit<FailedAttempt, 'attempt'>): boolean {
  if (failure.network !== undefined) return failure.network === 'timeout' || failure.network === 'reset';
  if (isPermanentCode(failure.code)) return false;
  if (failure.code !== undefined && (RETRYABLE_CODES.has(failure.code) || failure.code === PAIR_RATE_LIMIT)) return true;
  return failure.status !== undefined && failure.status >= 500;
}

/**
 * Milliseconds to wait before the next attempt, or `null` to stop.
 * `random` is injectable so tests can pin the jitter.
 */
export function retryDelay(
  failure: FailedAttempt,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random: () => number = Math.random,
): number | null {
  if (failure.attempt >= policy.maxAttempts || !isRetryable(failure)) return null;
  if (failure.retryAfterSeconds !== undefined && failure.retryAfterSeconds >= 0) {
    return Math.min(failure.retryAfterSeconds * 1000, policy.maxDelayMs);
  }
  if (failure.code === PAIR_RATE_LIMIT) {
    // 4^n seconds, with up to 25 % jitter so parallel senders do not retry in step.
    const base = 4 ** failure.attempt * 1000;
    return Math.round(base * (0.75 + random() * 0.25));
  }
  // Exponential backoff with "equal jitter": half fixed, half random.
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failure.attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * The longest a call can take with its retries, given the longest one attempt can take: every attempt used up, and
 * between them the longest wait this policy allows (a Retry-After at its cap, 131056's 4^n s, or the backoff's top).
 */
export function longestRetriedCallMs(attemptMs: number, policy: RetryPolicy = DEFAULT_RETRY_POLICY): number {
  let total = attemptMs * policy.maxAttempts;
  for (let attempt = 1; attempt < policy.maxAttempts; attempt += 1) {
    const highest = () => 1;
    total += Math.max(
      retryDelay({ attempt, status: 503, retryAfterSeconds: policy.maxDelayMs / 1000 }, policy, highest) ?? 0,
      retryDelay({ attempt, code: PAIR_RATE_LIMIT }, policy, highest) ?? 0,
      retryDelay({ attempt, status: 503 }, policy, highest) ?? 0,
    );
  }
  return total;
}
