import { createHmac } from 'node:crypto';
import type { DispatchRepo, InboxRepo, Interaction, MediaRecord, MediaRepo } from '../store/types.js';
import type { RelayEventSink } from './events.js';
import type { KeptReplies, ReplyPlan } from './replies.js';
import { LoopedWorker } from './work-loop.js';

/** What the user's code is told of a message's media: the file on disk, and the relay's URL that serves it. */
export interface MediaView {
  id: string;
  state: MediaRecord['state'];
  mimeType: string | null;
  size: number | null;
  sha256: string | null;
  caption: string | null;
  filename: string | null;
  /** The stored file (null until it is downloaded). */
  path: string | null;
  /** `GET` it from the relay's local API (with the local API key); null when the relay has no API URL. */
  url: string | null;
  error: string | null;
}

export function mediaView(record: MediaRecord, url: string | null): MediaView {
  return {
    id: record.mediaId,
    state: record.state,
    mimeType: record.mimeType,
    size: record.size,
    sha256: record.sha256,
    caption: record.caption,
    filename: record.filename,
    path: record.path,
    url,
    error: record.state === 'stored' ? null : record.lastError,
  };
}

/** The JSON document the user's code receives for each inbound message. */
export function interactionPayload(interaction: Interaction, media?: MediaView | null) {
  return {
    object: 'interaction',
    id: interaction.id,
    channel: interaction.channel,
    integrationId: interaction.integrationId,
    wamid: interaction.wamid,
    from: interaction.from,
    fromKind: interaction.fromKind,
    contactName: interaction.contactName,
    type: interaction.type,
    text: interaction.text,
    userId: interaction.userId,
    mediaId: interaction.mediaId,
    ...(media ? { media } : {}),
    replyTo: interaction.replyTo,
    timestamp: interaction.timestamp,
    receivedAt: interaction.receivedAt,
    raw: interaction.raw,
  };
}

export interface DeliveryResult {
  ok: boolean;
  status: number | null;
  error?: string;
  /** What the target answered: the forward target's body, or what the command printed on stdout. */
  output?: string;
  /** What the command printed on stderr. */
  errorOutput?: string;
}

/** What a delivery carries besides the message. */
export interface DeliveryContext {
  media?: MediaView | null;
  /** The exact JSON to deliver instead of the message's own (a replay after editing it in the console). */
  body?: string | undefined;
}

/** Where interactions go: an HTTP endpoint or a command. */
export interface DispatchTarget {
  readonly description: string;
  deliver(interaction: Interaction, context?: DeliveryContext): Promise<DeliveryResult>;
}

/**
 * `Lumen-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the receiver recomputes it over
 * the raw body and the timestamp (which also lets it refuse replays of old deliveries).
 */
export function signForward(body: string, secret: string, timestampSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

export function forwardTarget(url: string, signingSecret: string, clock: () => Date = () => new Date(), timeoutMs = 10_000): DispatchTarget {
  return {
    description: url,
    async deliver(interaction, context) {
      const { request } = await import('undici');
      const body = context?.body ?? JSON.stringify(interactionPayload(interaction, context?.media));
      try {
        const response = await request(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'lumen-relay',
            'lumen-event-id': interaction.id,
            'lumen-signature': signForward(body, signingSecret, Math.floor(clock().getTime() / 1000)),
          },
          body,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        const text = await response.body.text();
        const ok = response.statusCode >= 200 && response.statusCode < 300;
        return ok
          ? { ok, status: response.statusCode, output: text }
          : { ok, status: response.statusCode, error: `HTTP ${response.statusCode}` };
      } catch (error) {
        const code = (error as { code?: string }).code;
        return { ok: false, status: null, error: code ? `${code}` : String((error as Error).message) };
      }
    },
  };
}

export function execTarget(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
  extraEnv: () => Record<string, string> = () => ({}),
  timeoutMs = 30_000,
): DispatchTarget {
  return {
    description: command,
    async deliver(interaction, context) {
      const { execa } = await import('execa');
      const result = await execa(command, {
        shell: true,
        input: context?.body ?? JSON.stringify(interactionPayload(interaction, context?.media)),
        timeout: timeoutMs,
        reject: false,
        stripFinalNewline: true,
        // The handler gets the user's environment, minus lumen's own secrets.
        env: { ...withoutSecrets(env), ...extraEnv(), LUMEN_INTERACTION_ID: interaction.id },
        extendEnv: false,
      });
      const output = String(result.stdout ?? '');
      const errorOutput = String(result.stderr ?? '');
      if (result.exitCode === 0 && !result.timedOut) return { ok: true, status: 0, output, errorOutput };
      const why = result.timedOut ? `timed out after ${timeoutMs} ms` : `exit code ${result.exitCode ?? result.signal}`;
      const stderr = errorOutput.trim().split('\n').at(-1);
      return { ok: false, status: result.exitCode ?? null, error: stderr ? `${why}: ${stderr.slice(0, 200)}` : why, output, errorOutput };
    },
  };
}

// The database URL carries the PostgreSQL password; the previous master key is a passphrase during a key change.
const SECRET_ENV = [
  'WHATSAPP_ACCESS_TOKEN',
  'WHATSAPP_APP_SECRET',
  'LUMEN_MASTER_KEY',
  'LUMEN_PREVIOUS_MASTER_KEY',
  'LUMEN_DATABASE_URL',
];

export function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of SECRET_ENV) delete copy[name];
  return copy;
}

/** Backoff between attempts: 1 s, 2 s, 4 s … capped at 5 minutes, with jitter. Deliveries are never dropped. */
export function nextAttemptDelayMs(attempts: number, random: () => number = Math.random): number {
  const ceiling = Math.min(5 * 60_000, 1000 * 2 ** Math.max(0, attempts - 1));
  return Math.round(ceiling * (0.75 + random() * 0.25));
}

export interface DispatcherDeps {
  dispatch: DispatchRepo;
  inbox: InboxRepo;
  target: DispatchTarget;
  now?: () => Date;
  onEvent?: RelayEventSink;
  /** After a successful delivery (the handler's output is shown here). */
  /** After each attempt, delivered or not, once it is recorded (what an `--exec` command printed is shown). */
  onAttempt?: (interaction: Interaction, result: DeliveryResult) => void;
  /**
   * The replies to a delivery (the user's code's answer, the auto-reply): planned before it is recorded and kept
   * with the record (in the same statement), sent after it, and taken up again when a relay left some unsent.
   */
  replies?: {
    plan(interaction: Interaction, result: DeliveryResult): ReplyPlan;
    send(interaction: Interaction, plan: ReplyPlan, kept?: KeptReplies): void;
    resume(kept: KeptReplies & { interactionId: string }): Promise<void>;
  };
  pollIntervalMs?: number;
  concurrency?: number;
  /** How long a claim on an event holds unless renewed (it is, every third of it, while the event is delivered). */
  leaseMs?: number;
  /** Inbound media: a message waits for its file (at most `mediaWaitMs` after it arrived), then goes with its state. */
  media?: MediaRepo;
  mediaWaitMs?: number;
  /** The local API URL of a media file, for the payload's `media.url`. */
  mediaUrl?: (mediaId: string) => string | null;
  /** Called just before the user's code gets a message (the typing indicator hooks in here). */
  beforeDeliver?: (interaction: Interaction) => void;
}

/** The replies of a plan as markDelivered keeps them with the record; undefined when there are none. */
export function keptJson(plan: ReplyPlan | undefined): string | undefined {
  return plan && plan.replies.length > 0 ? JSON.stringify(plan.replies) : undefined;
}

/** How long a message waits for its media file before it is handed on without it (with `media.state`). */
export const MEDIA_WAIT_MS = 30_000;

/**
 * How long a claim holds without news from its relay. Short, so a relay that dies (kill -9, a lost host) has its
 * claims taken over by another relay on the database within seconds; a live relay renews its claims every
 * `DISPATCH_LEASE_MS / 3` while it delivers, so a slow delivery (a command's 30 s timeout) keeps its claim.
 */
export const DISPATCH_LEASE_MS = 15_000;

/**
 * Renews the claims in `inFlight` every `leaseMs / 3` until the returned function is called: the lease then always
 * ends at least two thirds of a lease after the relay last showed it is alive. A renewal that fails (the database is
 * away) is skipped: the claims may then expire and another relay deliver them again (delivery is at least once).
 */
export function keepClaims<T>(
  inFlight: ReadonlySet<T>,
  renew: (ids: T[], leaseUntil: string) => Promise<void>,
  now: () => Date,
  leaseMs: number,
): () => void {
  const timer = setInterval(() => {
    if (inFlight.size === 0) return;
    renew([...inFlight], new Date(now().getTime() + leaseMs).toISOString()).catch(() => {});
  }, Math.max(10, Math.floor(leaseMs / 3)));
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Works the durable queue after the 200: due events are claimed in the database (with a lease, so several relays on
 * one database never deliver the same event at once, and a relay that dies leaves claims that expire), delivered
 * to the target, and marked; failures are retried with backoff, from the database, so they survive a restart. A
 * failing consumer never blocks ingress, and a failing database (a full disk) never stops the dispatcher: it backs
 * off and tries again.
 */
export class Dispatcher extends LoopedWorker {
  /**
   * Results this relay got but could not record (the database failed): recorded first when it works again. Only
   * what this process was doing; if it dies, the claims expire and the events are delivered again (at least once).
   */
  private readonly unrecorded: Array<() => Promise<void>> = [];
  /** When this relay last looked for replies another relay left unsent (at its first round, then every third of a lease). */
  private lastReplySweep = -Infinity;

  constructor(private readonly deps: DispatcherDeps) {
    super('Dispatch', deps.onEvent, deps.now ?? (() => new Date()), deps.pollIntervalMs ?? 1000);
  }

  protected async work(): Promise<void> {
    const now = this.deps.now ?? (() => new Date());
    const concurrency = this.deps.concurrency ?? 8;
    const leaseMs = this.deps.leaseMs ?? DISPATCH_LEASE_MS;
    while (this.unrecorded.length > 0) {
      await this.unrecorded[0]!();
      this.unrecorded.shift();
    }
    if (this.deps.replies && now().getTime() - this.lastReplySweep >= leaseMs / 3) await this.takeUpReplies(now(), leaseMs);
    for (;;) {
      if (this.loop.isStopped) return;
      const at = now();
      const claimed = await this.deps.dispatch.claimDue(at.toISOString(), new Date(at.getTime() + leaseMs).toISOString(), concurrency);
      if (claimed.length === 0) return;
      const inFlight = new Set(claimed.map((event) => event.id));
      const release = keepClaims(inFlight, (ids, until) => this.deps.dispatch.renewClaims(ids, until), now, leaseMs);
      const results = await Promise.allSettled(
        claimed.map((event) => this.deliverOne(event.id, event.interactionId, event.attempts).finally(() => inFlight.delete(event.id))),
      );
      release();
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  /** Sends the replies a killed relay (or one whose record of them failed) left unsent: claimed, then resumed. */
  private async takeUpReplies(at: Date, leaseMs: number): Promise<void> {
    const replies = this.deps.replies!;
    for (;;) {
      const left = await this.deps.dispatch.claimReplies(at.toISOString(), new Date(at.getTime() + leaseMs).toISOString(), 100);
      for (const kept of left) {
        replies.resume({ eventId: kept.id, interactionId: kept.interactionId, json: kept.replies }).catch((error: unknown) => {
          // (the claim runs out; taken up again later)
          this.deps.onEvent?.({ event: 'error', message: `Could not send the replies left for ${kept.interactionId}: ${(error as Error).message}` });
        });
      }
      if (left.length < 100) break;
    }
    this.lastReplySweep = at.getTime();
  }

  /** Writes a delivery's result; when the database refuses, keeps the write to try again before any new work. */
  private async record(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.unrecorded.push(write);
      throw error;
    }
  }

  private async deliverOne(eventId: number, interactionId: string, attempts: number): Promise<void> {
    const now = this.deps.now ?? (() => new Date());
    const interaction = await this.deps.inbox.findInteraction(interactionId);
    if (!interaction) {
      // Purged while queued: nothing left to deliver.
      const at = now().toISOString();
      await this.record(() => this.deps.dispatch.markDelivered(eventId, { target: 'purged', status: null, durationMs: 0, at }));
      return;
    }
    let media: MediaView | null = null;
    if (this.deps.media && interaction.mediaId) {
      const record = await this.deps.media.forInteraction(interaction.id);
      if (record) {
        const waitUntil = new Date(interaction.receivedAt).getTime() + (this.deps.mediaWaitMs ?? MEDIA_WAIT_MS);
        if (record.state === 'pending' && now().getTime() < waitUntil) {
          // Back in the queue until the download settles (the fetcher makes it due) or the wait runs out.
          await this.record(() => this.deps.dispatch.postpone(eventId, new Date(waitUntil).toISOString()));
          const again = await this.deps.media.forInteraction(interaction.id);
          if (again && again.state !== 'pending') await this.deps.dispatch.makeDue(interaction.id, now().toISOString());
          return;
        }
        media = mediaView(record, this.deps.mediaUrl?.(record.mediaId) ?? null);
      }
    }
    this.deps.beforeDeliver?.(interaction);
    const started = now().getTime();
    const result = await this.deps.target.deliver(interaction, { media });
    const durationMs = now().getTime() - started;
    const attempt = attempts + 1;
    if (result.ok) {
      // The replies go into the record, in the same statement: a relay killed after it leaves them to the next.
      const plan = this.deps.replies?.plan(interaction, result);
      const json = keptJson(plan);
      const leaseMs = this.deps.leaseMs ?? DISPATCH_LEASE_MS;
      const delivered = { target: this.deps.target.description, status: result.status, durationMs, at: now().toISOString() };
      // What follows a recorded delivery (its replies) waits with the record when the database refuses it.
      await this.record(async () => {
        const leaseUntil = new Date(now().getTime() + leaseMs).toISOString();
        await this.deps.dispatch.markDelivered(eventId, { ...delivered, ...(json ? { replies: { json, leaseUntil } } : {}) });
        // Once, after the write: a failing printer (a full disk under --log-file) never makes the write run again.
        try {
          this.deps.onEvent?.({ event: 'dispatch', eventId, interactionId, target: this.deps.target.description, ok: true, status: result.status, durationMs, attempt });
        } catch {
          // the line is lost, the delivery is not
        }
        try {
          this.deps.onAttempt?.(interaction, result);
        } catch {
          // (a line lost)
        }
        if (plan) this.deps.replies!.send(interaction, plan, json ? { eventId, json } : undefined);
      });
    } else {
      const nextAttemptAt = new Date(now().getTime() + nextAttemptDelayMs(attempt)).toISOString();
      const error = result.error ?? 'failed';
      const failed = { target: this.deps.target.description, status: result.status, error, durationMs, nextAttemptAt };
      await this.record(() => this.deps.dispatch.markFailed(eventId, failed));
      try {
        this.deps.onEvent?.({ event: 'dispatch', eventId, interactionId, target: this.deps.target.description, ok: false, status: result.status, durationMs, attempt, error, nextAttemptAt });
        this.deps.onAttempt?.(interaction, result);
      } catch {
        // (a line lost: the attempt is recorded)
      }
    }
  }
}
