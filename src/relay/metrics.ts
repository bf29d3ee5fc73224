/**
 * `GET /metrics`: the relay's counters in Prometheus text (prom-client, one registry per relay). What the webhook
 * answered and how fast, deliveries to the user's code, sends, media downloads, and gauges read from the database
 * at each scrape (the dispatch queue, sent messages by state), plus Node's process metrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StoreStats } from '../store/types.js';
import type { RelayEvent } from './events.js';

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface RelayMetrics {
  registry: Registry;
  /** A webhook POST answered: `result` is `received`, `ignored`, or the error code of the answer. */
  webhook(result: string, status: number, seconds: number): void;
  messagesStored(count: number): void;
  /** Counts what the relay reports (deliveries to the user's code, replies, media downloads). */
  event(event: RelayEvent): void;
}

export function createRelayMetrics(stats: () => Promise<StoreStats>, now: () => Date): RelayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const webhooks = new Counter({
    name: 'lumen_webhook_deliveries_total',
    help: 'Webhook POSTs answered, by result (received, ignored, or the error code) and HTTP status',
    labelNames: ['result', 'status'] as const,
    registers: [registry],
  });
  const webhookSeconds = new Histogram({
    name: 'lumen_webhook_duration_seconds',
    help: 'Time to answer a webhook POST (signature check, storage, commit), by result',
    labelNames: ['result'] as const,
    buckets: SECONDS,
    registers: [registry],
  });
  const webhookSeries = new Map<string, { count: { inc(): void }; time: { observe(value: number): void } }>();
  const stored = new Counter({ name: 'lumen_messages_stored_total', help: 'Inbound messages stored (redeliveries not counted)', registers: [registry] });
  const dispatches = new Counter({
    name: 'lumen_dispatch_attempts_total',
    help: "Attempts to hand a message to the user's code, by result (delivered, failed)",
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const dispatchSeconds = new Histogram({
    name: 'lumen_dispatch_duration_seconds',
    help: "Time the user's code took per attempt (--forward-to answer or --exec run)",
    labelNames: ['result'] as const,
    buckets: SECONDS,
    registers: [registry],
  });
  const sends = new Counter({
    name: 'lumen_sends_total',
    help: 'Messages the relay sent (replies from the local API or --exec, auto-replies), by source and outcome (sent, pending_approval, failed)',
    labelNames: ['source', 'outcome'] as const,
    registers: [registry],
  });
  const media = new Counter({
    name: 'lumen_media_downloads_total',
    help: 'Inbound media download attempts, by result (stored, failed)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const mediaSeconds = new Histogram({
    name: 'lumen_media_download_duration_seconds',
    help: 'Time per inbound media download attempt',
    labelNames: ['result'] as const,
    buckets: SECONDS,
    registers: [registry],
  });

  // Read from the database at scrape time: true for every process using this LUMEN_HOME, and after restarts.
  let snapshot: Promise<StoreStats> | undefined;
  const current = () => (snapshot ??= stats().finally(() => setImmediate(() => (snapshot = undefined))));
  new Gauge({
    name: 'lumen_dispatch_queue_depth',
    help: "Messages waiting to be handed to the user's code (pending or retrying)",
    registers: [registry],
    async collect() {
      this.set((await current()).dispatchQueueDepth);
    },
  });
  new Gauge({
    name: 'lumen_dispatch_oldest_age_seconds',
    help: "Age of the oldest message still waiting to be handed to the user's code (0 when none waits)",
    registers: [registry],
    async collect() {
      const oldest = (await current()).dispatchOldestCreatedAt;
      this.set(oldest ? Math.max(0, (now().getTime() - Date.parse(oldest)) / 1000) : 0);
    },
  });
  const outbound = new Gauge({
    name: 'lumen_outbound_messages',
    help: 'Sent messages (by every lumen process on this LUMEN_HOME) by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      outbound.reset();
      for (const [state, count] of Object.entries((await current()).outboundByState)) this.set({ state }, count);
    },
  });

  return {
    registry,
    webhook(result, status, seconds) {
      // Per request: the labelled children are looked up once per (result, status), not hashed every time.
      const key = `${result} ${status}`;
      let series = webhookSeries.get(key);
      if (!series) {
        series = { count: webhooks.labels({ result, status: String(status) }), time: webhookSeconds.labels({ result }) };
        webhookSeries.set(key, series);
      }
      series.count.inc();
      series.time.observe(seconds);
    },
    messagesStored(count) {
      stored.inc(count);
    },
    event(event) {
      switch (event.event) {
        case 'dispatch': {
          const result = event.ok ? 'delivered' : 'failed';
          dispatches.inc({ result });
          dispatchSeconds.observe({ result }, event.durationMs / 1000);
          return;
        }
        case 'reply':
        case 'auto_reply':
          sends.inc({ source: event.event, outcome: !event.ok ? 'failed' : event.pendingApproval ? 'pending_approval' : 'sent' });
          return;
        case 'media': {
          const result = event.ok ? 'stored' : 'failed';
          media.inc({ result });
          mediaSeconds.observe({ result }, event.durationMs / 1000);
          return;
        }
        default:
      }
    },
  };
}
