/** A token bucket: `rate` tokens per second, holding at most `burst`. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt) / 1000;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.rate);
    this.updatedAt = now;
  }

  /** Seconds until a token is available (0 when one is there now). */
  wait(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - this.tokens) / this.rate));
  }

  /** Takes one token; returns 0 when allowed, else the seconds to wait (nothing taken). */
  take(now: number): number {
    const wait = this.wait(now);
    if (wait === 0) this.tokens -= 1;
    return wait;
  }
}

export interface RateLimitSettings {
  /** Requests per second per integration; 0 turns the limit off. */
  perIntegration: number;
  /** Requests per second per workspace (all its integrations together); 0 turns it off. */
  perWorkspace: number;
  /** Failed signature checks per second per client address before its requests are refused unchecked. */
  failedSignaturesPerClient: number;
}

/**
 * A number sending at Meta's highest throughput (1,000 messages/s) gets up to three statuses for each (sent,
 * delivered, read) besides what its customers write: 4,000 verified deliveries/s leaves it room. (A limit below that
 * made genuine statuses wait on 429s during a fast bulk send.)
 */
export const DEFAULT_RATE_LIMITS: RateLimitSettings = {
  perIntegration: 4000,
  perWorkspace: 8000,
  failedSignaturesPerClient: 20,
};

/** Keyed buckets with a burst of twice the rate. Keys are forgotten past a cap, so a flood of addresses cannot grow it. */
export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly rate: number,
    private readonly maxKeys = 10_000,
  ) {}

  private bucket(key: string, now: number): TokenBucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.buckets.clear();
      bucket = new TokenBucket(this.rate, this.rate * 2, now);
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  /** 0 when allowed (a token is taken), else the seconds to wait. */
  take(key: string, now: number): number {
    return this.rate > 0 ? this.bucket(key, now).take(now) : 0;
  }

  /** No key has a bucket (nothing was taken since the last reset). */
  get idle(): boolean {
    return this.buckets.size === 0;
  }

  /** Seconds to wait if the key's bucket is empty, without taking a token. */
  wait(key: string, now: number): number {
    return this.rate > 0 ? (this.buckets.get(key)?.wait(now) ?? 0) : 0;
  }
}
