/**
 * The sandbox's side of Meta's webhooks: signed POSTs of the exact bytes it sends, with Meta's headers, retried
 * with backoff while the receiver does not answer 2xx (Meta keeps trying for days; the sandbox for seconds).
 */
import { createHmac } from 'node:crypto';
import { serializeLikeMeta } from './payloads.js';

export interface WebhookDelivery {
  id: number;
  kind: string;
  url: string;
  body: string;
  attempts: number;
  /** HTTP status of each attempt (0 when the connection failed). */
  results: number[];
  delivered: boolean;
}

export interface WebhookSenderOptions {
  /** Where deliveries go now (Meta's most specific Callback URL), read at each send. */
  target: () => string | undefined;
  appSecret: string;
  maxAttempts?: number;
  /** First retry after this many ms, doubling each time. */
  retryBaseMs?: number;
  log?: ((line: string) => void) | undefined;
}

export function metaSignatureHeaders(body: string | Buffer, appSecret: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'facebookexternalua',
    'x-hub-signature': `sha1=${createHmac('sha1', appSecret).update(body).digest('hex')}`,
    'x-hub-signature-256': `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`,
  };
}

export class WebhookSender {
  appSecret: string;
  private readonly deliveries: WebhookDelivery[] = [];
  private readonly pending = new Set<Promise<void>>();
  /** Waits under way, each with what ends it early (close). */
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: WebhookSenderOptions) {
    this.appSecret = options.appSecret;
  }

  /** Where deliveries go now; undefined when no Callback URL is set. */
  get url(): string | undefined {
    return this.options.target();
  }

  /** Posts a payload now (or after `delayMs`), retrying until it gets a 2xx or runs out of attempts. */
  send(kind: string, payload: unknown, delayMs = 0): WebhookDelivery | undefined {
    const url = this.url;
    if (!url || this.closed) return undefined;
    const delivery: WebhookDelivery = {
      id: this.nextId++,
      kind,
      url,
      body: serializeLikeMeta(payload),
      attempts: 0,
      results: [],
      delivered: false,
    };
    this.deliveries.push(delivery);
    const run = this.later(delayMs).then(() => this.deliver(delivery));
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
    return delivery;
  }

  list(): WebhookDelivery[] {
    return this.deliveries.map((d) => ({ ...d, results: [...d.results] }));
  }

  /** Resolves when every delivery under way has finished (delivered or given up). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    this.closed = true;
    // A cleared timer never fires: end each wait now, so the deliveries waiting on one see `closed` and stop.
    for (const [timer, end] of this.timers) {
      clearTimeout(timer);
      end();
    }
    this.timers.clear();
    await Promise.allSettled([...this.pending]);
  }

  private later(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.set(timer, resolve);
    });
  }

  private async deliver(delivery: WebhookDelivery): Promise<void> {
    const maxAttempts = this.options.maxAttempts ?? 6;
    const base = this.options.retryBaseMs ?? 250;
    while (!this.closed && delivery.attempts < maxAttempts) {
      delivery.attempts += 1;
      let status = 0;
      try {
        const response = await fetch(delivery.url, {
          method: 'POST',
          headers: metaSignatureHeaders(delivery.body, this.appSecret),
          body: delivery.body,
          signal: AbortSignal.timeout(10_000),
        });
        status = response.status;
        await response.arrayBuffer();
      } catch {
        status = 0;
      }
      delivery.results.push(status);
      this.options.log?.(`webhook ${delivery.kind} #${delivery.id} → ${status || 'no answer'} (attempt ${delivery.attempts})`);
      if (status >= 200 && status < 300) {
        delivery.delivered = true;
        return;
      }
      await this.later(base * 2 ** (delivery.attempts - 1));
    }
  }
}
