/**
 * Hands the user's code what is not an inbound message, from the durable queues the webhook path filled in the
 * transaction that acknowledged each delivery: event documents (`--events statuses,templates,…`) and, with
 * `--forward-raw`, Meta's exact body bytes with Meta's own `X-Hub-Signature-256`, so a bot written for Meta's
 * webhooks (pywa, whatsapp-api-js…) runs unchanged behind lumen. Claimed with a lease, retried with backoff across
 * restarts, like the interaction dispatcher.
 */
import { forwardRef, type ForwardQueueRepo, type QueuedForward } from '../store/repos/forward-queue.js';
import { keepClaims, nextAttemptDelayMs, signForward, DISPATCH_LEASE_MS } from './dispatch.js';
import { printHandlerOutput, type RelayEventSink } from './events.js';
import { LoopedWorker } from './work-loop.js';

export interface ForwardDestination {
  /** The URL (`--forward-to`) or the command (`--exec`). */
  description: string;
  send(item: QueuedForward): Promise<{ ok: boolean; status: number | null; error?: string; output?: string; errorOutput?: string }>;
}

/** POSTs each item: a document signed with Lumen-Signature, or Meta's bytes with Meta's signature. */
export function urlDestination(url: string, signingSecret: string | null, clock: () => Date, timeoutMs = 10_000): ForwardDestination {
  return {
    description: url,
    async send(item) {
      const { request } = await import('undici');
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'lumen-relay' };
      if (item.signature !== null) {
        // Meta's own headers: the receiver checks them with the app secret, as it would behind Meta.
        headers['x-hub-signature-256'] = item.signature;
      } else {
        headers['lumen-event-id'] = forwardId(item);
        if (signingSecret) headers['lumen-signature'] = signForward(item.body.toString('utf8'), signingSecret, Math.floor(clock().getTime() / 1000));
      }
      try {
        const response = await request(url, { method: 'POST', headers, body: item.body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
        await response.body.text();
        const ok = response.statusCode >= 200 && response.statusCode < 300;
        return ok ? { ok, status: response.statusCode } : { ok, status: response.statusCode, error: `HTTP ${response.statusCode}` };
      } catch (error) {
        const code = (error as { code?: string }).code;
        return { ok: false, status: null, error: code ?? String((error as Error).message) };
      }
    },
  };
}

/** Runs the command with the item's bytes on stdin (and LUMEN_EVENT_OBJECT naming what it is). */
export function commandDestination(command: string, env: () => NodeJS.ProcessEnv, timeoutMs = 30_000): ForwardDestination {
  return {
    description: command,
    async send(item) {
      const { execa } = await import('execa');
      const result = await execa(command, {
        shell: true,
        input: item.body,
        timeout: timeoutMs,
        reject: false,
        env: { ...env(), LUMEN_EVENT_OBJECT: item.object, LUMEN_EVENT_ID: forwardId(item) },
        extendEnv: false,
        stripFinalNewline: true,
      });
      const printed = { output: String(result.stdout ?? ''), errorOutput: String(result.stderr ?? '') };
      if (result.exitCode === 0 && !result.timedOut) return { ok: true, status: 0, ...printed };
      const why = result.timedOut ? `timed out after ${timeoutMs} ms` : `exit code ${result.exitCode ?? result.signal}`;
      // As a message's delivery says it: the last line the command printed on stderr, with the exit.
      const last = printed.errorOutput.trim().split('\n').at(-1);
      return { ok: false, status: result.exitCode ?? null, error: last ? `${why}: ${last.slice(0, 200)}` : why, ...printed };
    },
  };
}

/** How an item is named to the user's code and in `lumen events`: `ev_N` (an event's document), `raw_N` (Meta's bytes). */
export function forwardId(item: Pick<QueuedForward, 'id' | 'object' | 'signature'>): string {
  return forwardRef(item.object === 'raw' ? 'raw' : 'events', item.id);
}

export interface ForwarderDeps {
  queue: ForwardQueueRepo;
  kind: 'event' | 'raw';
  destination: ForwardDestination;
  now: () => Date;
  onEvent?: RelayEventSink;
  pollIntervalMs?: number;
}

export class Forwarder extends LoopedWorker {
  constructor(private readonly deps: ForwarderDeps) {
    super('Forwarding', deps.onEvent, deps.now, deps.pollIntervalMs ?? 1000);
  }

  protected async work(): Promise<void> {
    const { queue, destination, now } = this.deps;
    for (;;) {
      if (this.loop.isStopped) return;
      const at = now();
      // One at a time, oldest first: a raw bot sees Meta's deliveries in the order lumen received them (retries aside).
      const [item] = await queue.claimDue(at.toISOString(), new Date(at.getTime() + DISPATCH_LEASE_MS).toISOString(), 1);
      if (!item) return;
      const inFlight = new Set([item.id]);
      const release = keepClaims(inFlight, (ids, until) => queue.renewClaims(ids, until), now, DISPATCH_LEASE_MS);
      const result = await destination.send(item).finally(release);
      const attempt = item.attempts + 1;
      const ref = forwardId(item);
      // A failing printer (a full disk under --log-file) loses its lines, never the item's record.
      const printed = () => {
        try {
          printHandlerOutput(this.deps.onEvent, { ref }, result.output, result.errorOutput);
        } catch {
          // (lines lost)
        }
      };
      const base = { event: 'forward' as const, queue: this.deps.kind, id: item.id, ref, object: item.object, target: destination.description, status: result.status, attempt };
      if (result.ok) {
        await queue.markDelivered(item.id, result.status, now().toISOString());
        this.deps.onEvent?.({ ...base, ok: true });
        printed();
      } else {
        const nextAttemptAt = new Date(now().getTime() + nextAttemptDelayMs(attempt)).toISOString();
        await queue.markFailed(item.id, result.status, result.error ?? 'failed', nextAttemptAt);
        this.deps.onEvent?.({ ...base, ok: false, error: result.error ?? 'failed', nextAttemptAt });
        printed();
      }
    }
  }
}
