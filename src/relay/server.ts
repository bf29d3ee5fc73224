import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { UsageError } from '../errors.js';
import { markRead as markMessageRead } from '../graph/media.js';
import { readIntegrationSecrets } from '../secrets/integration.js';
import { createServiceDeps, type ServiceDepsInit } from '../services/deps.js';
import { webhookPath } from '../webhooks.js';
import type { CallbackScope } from '../graph/webhooks.js';
import { registerWebhook, type Registration } from '../services/whatsapp/webhook.js';
import type { SecretStore } from '../secrets/types.js';
import type { IngestOutcome, Integration, Interaction } from '../store/types.js';
import { buildApp, REQUEST_TIMEOUT_MS } from './app.js';
import { DeliveryLog } from './deliveries.js';
import { MediaFetcher } from './media.js';
import { Replier, repliesIn } from './replies.js';
import { IntegrationDirectory, type RelayIntegration } from './directory.js';
import { Dispatcher, execTarget, forwardTarget, withoutSecrets, type DeliveryResult, type DispatchTarget } from './dispatch.js';
import type { EventGroup } from './documents.js';
import { commandDestination, Forwarder, urlDestination, type ForwardDestination } from './forwarder.js';
import { printHandlerOutput, type RelayEvent, type RelayEventSink } from './events.js';
import { GroupCommitter } from './ingest.js';
import type { RateLimitSettings } from './limits.js';
import { holdRelayLease, type HeldRelayLease } from './lease.js';
import { removeRelayState, writeRelayState } from './state-file.js';
import { describeSystemFault } from '../store/faults.js';
import { startTunnel, type Tunnel, type TunnelProvider } from './tunnel.js';

export interface RelayOptions {
  host: string;
  port: number;
  publicUrl?: string | undefined;
  tunnel?: TunnelProvider | undefined;
  forwardTo?: string | undefined;
  exec?: string | undefined;
  /** A consumer given in code (the demo's built-in handler) instead of --forward-to / --exec. */
  target?: DispatchTarget | undefined;
  /** Text to reply with, or `true` to reply with what the `--exec` command printed. */
  autoReply?: string | true | undefined;
  limits?: Partial<RateLimitSettings>;
  /** Where the running relay's address is recorded for `lumen relay status`. */
  stateFile?: string;
  /** Proxies whose X-Forwarded-For is believed besides the tunnel lumen starts (--trust-proxy). */
  trustProxy?: string[];
  /** Where inbound media files are stored (LUMEN_HOME/media). */
  mediaDir?: string;
  mediaMaxBytes?: number;
  /** Mark each inbound message read (blue ticks) once it is stored. */
  markRead?: boolean;
  /** Show the typing indicator (which also marks it read) while the user's code works on a message. */
  typing?: boolean;
  /** The local API for the user's code (`/v1/…`); on unless false. */
  localApi?: boolean;
  /** What is handed to the user's code (`--events`): inbound messages only by default. */
  events?: ReadonlySet<EventGroup>;
  /** Hand on Meta's exact body bytes with Meta's own signature instead of lumen's documents (`--forward-raw`). */
  forwardRaw?: boolean;
  /** `GET /metrics`; on unless false. */
  metrics?: boolean;
  /** Client addresses (or `any`) that may read /metrics besides loopback. */
  metricsClients?: string[];
  /** Purge what is older than this (ms) at start and then daily (the `retention` setting); absent: keep all. */
  retentionMs?: number | undefined;
  /** The browser console (`/console`); on unless false. */
  console?: boolean;
  /** Followers fed at once (`/v1/events`, console tabs); default MAX_FOLLOWERS. */
  maxFollowers?: number;
}

const DAY_MS = 86_400_000;

/** The services' deps (their `env` is what `--exec` handlers get, less lumen's secrets) and where events go. */
export type RelayDeps = ServiceDepsInit & { onEvent: RelayEventSink };

export interface RelayHandle {
  url: string;
  publicUrl: string | null;
  tunnel: Tunnel | null;
  /** Secret that signs forwarded deliveries (only with --forward-to). */
  signingSecret: string | null;
  /** The local API for the user's code (loopback only) and its bearer key; null when it is off. */
  localApi: { url: string; key: string } | null;
  /** The browser console's address, token included (loopback only); null when it is off. */
  console: { url: string } | null;
  /** Every webhook request this relay answered (the console's live feed). */
  deliveries: DeliveryLog;
  integrations: RelayIntegration[];
  app: FastifyInstance;
  /**
   * Registers this relay's Callback URL (public URL + each number's path) with Meta, with a fresh verify token per
   * number; Meta's handshake arrives here during the call. Reported as `registration` events, and returned.
   */
  register(scope: CallbackScope): Promise<Registration[]>;
  /** Stops accepting, answers what is in flight, finishes the commit queue and deliveries, closes everything. */
  close(): Promise<void>;
  /** Settles if another relay took this one's lease over (it stalled past RELAY_LEASE_MS): this relay must stop. */
  leaseLost: Promise<void>;
}

export const SIGNING_SECRET_KEY = 'relay/signing_secret';
export const LOCAL_API_KEY = 'relay/local_api_key';
export const CONSOLE_TOKEN_KEY = 'relay/console_token';

/** The browser console's token: created once, kept in the secret store, the same across restarts. */
export async function consoleToken(secrets: SecretStore): Promise<string> {
  const existing = await secrets.get(CONSOLE_TOKEN_KEY);
  if (existing) return existing;
  const created = `ct_${randomBytes(24).toString('base64url')}`;
  await secrets.set(CONSOLE_TOKEN_KEY, created);
  return created;
}

/** The console's address for a relay at `url` (always loopback: the console answers nowhere else). */
export function consoleUrl(url: string, token: string): string {
  const port = new URL(url).port;
  return `http://127.0.0.1:${port}/console?token=${encodeURIComponent(token)}`;
}

/** The local API's bearer key: created once, kept in the secret store, the same across restarts. */
export async function relayLocalApiKey(secrets: SecretStore): Promise<string> {
  const existing = await secrets.get(LOCAL_API_KEY);
  if (existing) return existing;
  const created = `lk_${randomBytes(24).toString('base64url')}`;
  await secrets.set(LOCAL_API_KEY, created);
  return created;
}

/**
 * What an `--exec` handler printed, shown in the relay's output with the message's id, whether it succeeded or not
 * (a failing handler's stack trace is what you need most). A reply it printed is sent, not shown.
 */
function reportHandlerOutput(onEvent: RelayEventSink, interaction: Interaction, result: DeliveryResult): void {
  if (!('errorOutput' in result)) return;
  const stdout = result.ok && repliesIn(result.output) ? undefined : result.output;
  printHandlerOutput(onEvent, { interactionId: interaction.id }, stdout, result.errorOutput);
}

/** The forward signing secret: created once, kept in the secret store, the same across restarts. */
export async function relaySigningSecret(secrets: SecretStore): Promise<string> {
  const existing = await secrets.get(SIGNING_SECRET_KEY);
  if (existing) return existing;
  const created = `whsec_${randomBytes(24).toString('base64url')}`;
  await secrets.set(SIGNING_SECRET_KEY, created);
  return created;
}

/**
 * Starts the relay. On SQLite it first takes the database's relay lease (refused with `relay_running` while another
 * relay holds it), so only the one relay of a LUMEN_HOME frees the claims a killed one left.
 */
export async function startRelay(relayDeps: RelayDeps, options: RelayOptions): Promise<RelayHandle> {
  const { relayLease } = relayDeps.store;
  const lease = relayLease ? await holdRelayLease(relayLease, relayDeps.now) : undefined;
  try {
    return await serve(relayDeps, options, lease);
  } catch (error) {
    await lease?.release();
    throw error;
  }
}

async function serve(relayDeps: RelayDeps, options: RelayOptions, lease?: HeldRelayLease): Promise<RelayHandle> {
  let deps = relayDeps;
  if (options.forwardTo && options.exec) {
    throw new UsageError('Choose one consumer: --forward-to or --exec, not both.');
  }
  if (options.autoReply === true && !options.exec) {
    throw new UsageError('--auto-reply without text replies with what the --exec command prints; add --exec or give the text.');
  }
  if (options.forwardRaw && !options.forwardTo && !options.exec) {
    throw new UsageError('--forward-raw hands Meta\'s deliveries to your code: add --forward-to URL (or --exec CMD).');
  }
  if (options.forwardRaw && options.events && [...options.events].some((g) => g !== 'messages')) {
    throw new UsageError('--forward-raw hands on every delivery as Meta sent it; --events does not apply to it.');
  }
  if (options.forwardRaw && options.autoReply !== undefined) {
    throw new UsageError('--auto-reply answers lumen\'s message documents; it does not go with --forward-raw.');
  }
  // `lumen events tail` follows the same events the relay prints (its terminal may be --quiet; the tail sees all).
  const tails = new Map<(event: RelayEvent) => void, () => void>();
  const printEvent = deps.onEvent;
  const onEvent: RelayEventSink = Object.assign(
    (event: RelayEvent) => {
      printEvent(event);
      for (const listener of tails.keys()) listener(event);
    },
    { wants: (name: RelayEvent['event']) => tails.size > 0 || (printEvent.wants?.(name) ?? true) },
  );
  deps = { ...deps, onEvent };
  const { store } = deps;
  const groups: ReadonlySet<EventGroup> = options.events ?? new Set<EventGroup>(['messages']);
  // Counted from what the relay reports, whatever the terminal shows (--quiet included).
  const { createRelayMetrics } = options.metrics === false ? { createRelayMetrics: undefined } : await import('./metrics.js');
  const metrics = createRelayMetrics?.(() => store.maintenance.stats(), deps.now);
  if (metrics) {
    const show = deps.onEvent;
    const counted: RelayEventSink = Object.assign((event: RelayEvent) => {
      metrics.event(event);
      show(event);
    }, show.wants ? { wants: show.wants } : {});
    deps = { ...deps, onEvent: counted };
  }

  // Full integrations (where their secrets live) by id, as of the last load; the directory holds what the hot path
  // needs and reloads both when the store's change marker moves.
  let integrations = new Map<string, Integration>();
  const reported = new Map<string, string>();
  const directory = new IntegrationDirectory(
    async () => {
      const all = await store.integrations.listAll();
      const ready: RelayIntegration[] = [];
      const unavailable: Array<{ id: string; reason: string }> = [];
      for (const integration of all) {
        let appSecret: string;
        try {
          ({ appSecret } = await readIntegrationSecrets(deps, integration));
        } catch (error) {
          // A locked keychain is not a wrong URL: this number answers 503 (Meta retries) until its secrets can be read.
          const reason = (error as Error).message;
          if (reported.get(integration.id) !== reason) {
            deps.onEvent({ event: 'error', message: `Cannot read the secrets of ${integration.id}: ${reason} Its deliveries get 503 until they can be read.` });
          }
          reported.set(integration.id, reason);
          unavailable.push({ id: integration.id, reason });
          continue;
        }
        reported.delete(integration.id);
        ready.push({
          id: integration.id,
          workspaceId: integration.workspaceId,
          workspaceName: integration.workspaceName,
          label: integration.label,
          phoneNumberId: integration.phoneNumberId,
          wabaId: integration.wabaId,
          displayPhoneNumber: integration.displayPhoneNumber,
          verifyTokenHash: integration.verifyTokenHash,
          appSecret,
        });
      }
      integrations = new Map(all.map((i) => [i.id, i]));
      return { ready, unavailable };
    },
    () => store.integrations.changeMarker(),
    () => deps.now().getTime(),
  );
  await directory.sync();

  let localApiUrl: string | null = null;
  let localApiKey: string | null = null;
  let signingSecret: string | null = null;
  let target: DispatchTarget | undefined;
  if (options.target) {
    target = options.target;
  } else if (options.forwardTo) {
    signingSecret = await relaySigningSecret(await deps.secrets());
    target = forwardTarget(options.forwardTo, signingSecret, deps.now);
  } else if (options.exec) {
    // Handlers reach the relay's local API with these (never Meta's token).
    target = execTarget(options.exec, deps.env, (): Record<string, string> =>
      localApiUrl && localApiKey ? { LUMEN_API_URL: localApiUrl, LUMEN_API_KEY: localApiKey } : {},
    );
  }

  const services = createServiceDeps({ store, secrets: deps.secrets, graph: deps.graph, now: deps.now, env: deps.env ?? {} });
  const graphFor = (integration: Integration) => services.graphFor(integration);
  const integrationOf = (id: string) => integrations.get(id);
  const replier = new Replier({ ...services, onEvent: deps.onEvent }, integrationOf, options.autoReply);

  // Best effort, after the 200: a read receipt (and the typing indicator while the user's code works).
  const receipts = new Set<Promise<void>>();
  const markRead = (interaction: Interaction, typing: boolean) => {
    const integration = integrationOf(interaction.integrationId);
    if (!integration) return;
    const work = graphFor(integration)
      .then((graph) => markMessageRead(graph, integration.phoneNumberId, interaction.wamid, typing))
      .then(
        () => undefined,
        (error: unknown) => deps.onEvent({ event: 'error', message: `Could not mark ${interaction.id} read: ${(error as Error).message}` }),
      );
    receipts.add(work);
    void work.finally(() => receipts.delete(work));
  };

  // Besides messages (the dispatcher), event documents and raw deliveries go to the same URL or command.
  let destination: ForwardDestination | undefined;
  if (options.forwardTo) destination = urlDestination(options.forwardTo, signingSecret, deps.now);
  else if (options.exec) {
    destination = commandDestination(options.exec, () => ({
      ...withoutSecrets(deps.env ?? {}),
      ...(localApiUrl && localApiKey ? { LUMEN_API_URL: localApiUrl, LUMEN_API_KEY: localApiKey } : {}),
    }));
  }
  const forwardEvents = !options.forwardRaw && [...groups].some((g) => g !== 'messages');
  const eventForwarder =
    destination && forwardEvents
      ? new Forwarder({ queue: store.forwards.events, kind: 'event', destination, now: deps.now, onEvent: deps.onEvent })
      : undefined;
  const rawForwarder =
    destination && options.forwardRaw
      ? new Forwarder({ queue: store.forwards.raw, kind: 'raw', destination, now: deps.now, onEvent: deps.onEvent })
      : undefined;
  const dispatchMessages = groups.has('messages') && !options.forwardRaw;

  const dispatcher = target && dispatchMessages
    ? new Dispatcher({
        dispatch: store.dispatch,
        inbox: store.inbox,
        target,
        now: deps.now,
        onEvent: deps.onEvent,
        media: store.media,
        mediaUrl: (mediaId) => (localApiUrl ? `${localApiUrl}/v1/media/${encodeURIComponent(mediaId)}` : null),
        ...(options.typing ? { beforeDeliver: (interaction: Interaction) => markRead(interaction, true) } : {}),
        onAttempt: (interaction, result) => reportHandlerOutput(deps.onEvent, interaction, result),
        replies: replier,
      })
    : undefined;

  const fetcher = new MediaFetcher({
    media: store.media,
    integrationOf,
    graphFor,
    dir: options.mediaDir ?? 'media',
    ...(options.mediaMaxBytes !== undefined ? { maxBytes: options.mediaMaxBytes } : {}),
    now: deps.now,
    onEvent: deps.onEvent,
    onSettled: (record) => {
      if (!record.interactionId || !dispatcher) return;
      // The message waited for this file: hand it on now.
      void store.dispatch.makeDue(record.interactionId, deps.now().toISOString()).then(
        () => dispatcher.wake(),
        () => dispatcher.wake(),
      );
    },
  });

  if (options.localApi !== false) localApiKey = await relayLocalApiKey(await deps.secrets());

  const token = options.console !== false ? await consoleToken(await deps.secrets()) : null;
  const deliveries = new DeliveryLog();
  const startedAt = deps.now();
  let url: string | null = null;
  let publicUrl: string | null = null;
  const committer = new GroupCommitter(store.inbox);
  let cutOff = false;
  const instance = randomBytes(8).toString('hex');
  const app = buildApp({
    instance,
    deliveries,
    ...(token
      ? {
          console: {
            token,
            services,
            deliveries,
            startedAt,
            info: () => ({ url, publicUrl }),
            target,
            wake: () => {
              dispatcher?.wake();
              eventForwarder?.wake();
              rawForwarder?.wake();
            },
            onAttempt: (interaction: Interaction, result: DeliveryResult) => reportHandlerOutput(deps.onEvent, interaction, result),
            replier,
            mediaDir: options.mediaDir ?? 'media',
          },
        }
      : {}),
    directory,
    committer,
    dispatchEnabled: dispatcher !== undefined,
    forwardGroups: eventForwarder ? new Set([...groups].filter((g) => g !== 'messages')) : new Set(),
    forwardRaw: rawForwarder !== undefined,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.maxFollowers !== undefined ? { maxFollowers: options.maxFollowers } : {}),
    // The tunnel lumen starts connects from loopback and names the real client; so may a proxy the user names.
    trustProxy: [...(options.tunnel ? ['127.0.0.1', '::1'] : []), ...(options.trustProxy ?? [])],
    now: deps.now,
    // Once a stop cut stalled clients off, their rejections are not news: the cut-off said it once. (`wants` passes
    // on: under --quiet the app builds no events nobody shows.)
    onEvent: Object.assign(
      (event: RelayEvent) => {
        if (!(cutOff && event.event === 'rejected')) deps.onEvent(event);
      },
      deps.onEvent.wants ? { wants: deps.onEvent.wants } : {},
    ),
    ...(localApiKey
      ? {
          localApi: {
            key: localApiKey,
            services,
            integrations: () => [...integrations.values()],
            mediaMaxBytes: options.mediaMaxBytes,
            mediaDir: options.mediaDir ?? 'media',
            follow: (listener: (event: RelayEvent) => void, end: () => void) => {
              tails.set(listener, end);
              return () => tails.delete(listener);
            },
          },
        }
      : {}),
    ...(metrics ? { metrics, metricsClients: options.metricsClients ?? [] } : {}),
    readiness: async () => {
      const reasons: string[] = [];
      try {
        await store.maintenance.checkWritable();
      } catch (error) {
        const fault = describeSystemFault(error);
        reasons.push(
          fault?.code === 'database_unavailable'
            ? `database unreachable: ${fault.message}`
            : `database not writable: ${fault?.message ?? (error as Error).message}`,
        );
      }
      // Read now, not as of the last load: a keychain locked since start shows here.
      const all = [...integrations.values()];
      const failures = await Promise.all(
        all.map((integration) => readIntegrationSecrets(deps, integration).then(() => undefined, (error: unknown) => ({ integration, error }))),
      );
      for (const failure of failures) {
        if (failure) reasons.push(`secrets of ${failure.integration.id} not readable: ${(failure.error as Error).message}`);
      }
      return reasons;
    },
    onStored: (outcome: IngestOutcome) => {
      metrics?.messagesStored(outcome.stored.length);
      if (outcome.stored.some((i) => i.mediaId !== null)) fetcher.wake();
      if (outcome.eventsQueued) {
        eventForwarder?.wake();
        rawForwarder?.wake();
      }
      if (dispatcher) dispatcher.wake();
      else if (!rawForwarder) for (const interaction of outcome.stored) replier.delivered(interaction);
      if (options.markRead && !options.typing) for (const interaction of outcome.stored) markRead(interaction, false);
    },
  });

  // The only dispatcher on this database (it holds the lease): claims a killed relay left are free at once.
  if (lease) {
    if (dispatcher) await store.dispatch.releaseClaims();
    if (eventForwarder) await store.forwards.events.releaseClaims();
    if (rawForwarder) await store.forwards.raw.releaseClaims();
    await store.media.releaseClaims();
  }
  // The connections, and the request each is answering: a stop cuts off, after the request deadline, every connection
  // that is not answering a request that arrived whole (one still sending its headers or body, or idle).
  const sockets = new Set<Socket>();
  const answering = new WeakMap<Socket, { request: IncomingMessage; response: ServerResponse }>();
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => answering.set(request.socket, { request, response }));
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const listeningUrl = `http://${host}:${address.port}`;
  url = listeningUrl;
  // The local API answers on loopback only: its URL for handlers names the loopback address of this port.
  localApiUrl = localApiKey ? `http://${address.family === 'IPv6' ? '[::1]' : '127.0.0.1'}:${address.port}` : null;
  fetcher.start();
  dispatcher?.start();
  eventForwarder?.start();
  rawForwarder?.start();

  let tunnel: Tunnel | null = null;
  try {
    if (options.tunnel) tunnel = await startTunnel(options.tunnel, address.port);
  } catch (error) {
    await app.close();
    await dispatcher?.stop();
    await eventForwarder?.stop();
    await rawForwarder?.stop();
    await fetcher.stop();
    throw error;
  }
  publicUrl = tunnel?.url ?? options.publicUrl?.replace(/\/+$/, '') ?? null;
  if (options.stateFile) {
    writeRelayState(options.stateFile, { pid: process.pid, instance, url: listeningUrl, publicUrl, tunnel: tunnel?.provider ?? null, localApiUrl, startedAt: deps.now().toISOString() });
  }

  // Retention: once at start, then daily; a purge runs in short transactions, beside ingest.
  let purging: Promise<void> = Promise.resolve();
  let retentionTimer: NodeJS.Timeout | undefined;
  if (options.retentionMs !== undefined && options.mediaDir) {
    const olderThanMs = options.retentionMs;
    const mediaDir = options.mediaDir;
    const { purgeMessages } = await import('../services/maintenance/retention.js');
    const runRetention = () => {
      if (closing) return; // stopping: the database is about to close
      purging = purging.then(async () => {
        try {
          const report = await purgeMessages(deps, { olderThanMs, dryRun: false, mediaDir });
          const { dryRun: _, ...counts } = report;
          deps.onEvent({ event: 'retention', ...counts });
        } catch (error) {
          deps.onEvent({ event: 'error', message: `Retention purge failed (tried again in a day): ${describeSystemFault(error)?.message ?? (error as Error).message}` });
        }
      });
    };
    setImmediate(runRetention);
    retentionTimer = setInterval(runRetention, DAY_MS);
    retentionTimer.unref();
  }

  let closing: Promise<void> | undefined;
  return {
    url: listeningUrl,
    publicUrl,
    tunnel,
    signingSecret,
    localApi: localApiUrl && localApiKey ? { url: localApiUrl, key: localApiKey } : null,
    console: token ? { url: consoleUrl(listeningUrl, token) } : null,
    deliveries,
    integrations: directory.all(),
    app,
    leaseLost: lease?.lost ?? new Promise<void>(() => {}),
    async register(scope) {
      if (!publicUrl) return [];
      const outcomes: Registration[] = [];
      for (const integration of await store.integrations.listAll()) {
        const outcome = await registerWebhook(services, integration, { publicUrl, scope });
        deps.onEvent({ event: 'registration', ...outcome });
        outcomes.push(outcome);
      }
      return outcomes;
    },
    close() {
      closing ??= (async () => {
        // Followers are told the relay stops (their stream ends), so closing never waits on them.
        const ending = [...tails.values()];
        tails.clear();
        for (const end of ending) end();
        if (retentionTimer) clearInterval(retentionTimer);
        // Stops accepting; in-flight requests finish (their commits included). A closed server no longer checks
        // request deadlines, so a client stalled mid-body would hold it open forever: one still arriving after the
        // deadline is cut off (it got no 200; Meta sends it again). A request being answered (a send through the
        // local API waiting on Meta) is let finish.
        const deadline = setTimeout(() => {
          const arriving = [...sockets].filter((socket) => {
            const current = answering.get(socket);
            return !current || !current.request.complete || current.response.writableEnded;
          });
          if (arriving.length === 0) return;
          cutOff = true;
          deps.onEvent({
            event: 'error',
            message:
              `${arriving.length === 1 ? '1 request' : `${arriving.length} requests`} still arriving ${REQUEST_TIMEOUT_MS / 1000} s after ` +
              `the stop ${arriving.length === 1 ? 'was' : 'were'} cut off: a delivery among them got no 200, so Meta sends it again.`,
          });
          for (const socket of arriving) socket.destroy();
        }, REQUEST_TIMEOUT_MS);
        try {
          await app.close();
        } finally {
          clearTimeout(deadline);
        }
        await committer.drain();
        await new Promise((resolve) => setImmediate(resolve)); // their reports (scheduled after each answer) go out
        await dispatcher?.stop();
        await eventForwarder?.stop();
        await rawForwarder?.stop();
        await fetcher.stop();
        await replier.settle();
        await Promise.allSettled([...receipts]);
        await purging;
        await tunnel?.stop();
        if (options.stateFile) removeRelayState(options.stateFile);
        await lease?.release();
      })();
      return closing;
    },
  };
}

export function callbackUrls(handle: RelayHandle): Array<Extract<RelayEvent, { event: 'callback_url' }>> {
  if (!handle.publicUrl) return [];
  return handle.integrations.map((i) => ({
    event: 'callback_url' as const,
    integrationId: i.id,
    label: i.label,
    url: `${handle.publicUrl}${webhookPath(i.id)}`,
  }));
}
