import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { UsageError } from '../errors.js';
import type { GraphClient } from '../graph/client.js';
import { readIntegrationSecrets } from '../secrets/integration.js';
import { webhookPath } from '../webhooks.js';
import type { SecretBackendKind, SecretStore } from '../secrets/types.js';
import type { IngestOutcome, Integration, Interaction, Store } from '../store/types.js';
import { buildApp } from './app.js';
import { AutoReplier } from './auto-reply.js';
import { IntegrationDirectory, type RelayIntegration } from './directory.js';
import { Dispatcher, execTarget, forwardTarget, type DeliveryResult, type DispatchTarget } from './dispatch.js';
import type { RelayEvent, RelayEventSink } from './events.js';
import { GroupCommitter } from './ingest.js';
import type { RateLimitSettings } from './limits.js';
import { removeRelayState, writeRelayState } from './state-file.js';
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
  /** This relay is the only one on its database (SQLite: one relay per LUMEN_HOME), so no other holds claims. */
  soleDispatcher?: boolean;
  /** Proxies whose X-Forwarded-For is believed besides the tunnel lumen starts (--trust-proxy). */
  trustProxy?: string[];
}

export interface RelayDeps {
  store: Store;
  secrets(kind?: SecretBackendKind): Promise<SecretStore>;
  graph(accessToken: string): Promise<GraphClient>;
  now(): Date;
  /** The environment `--exec` handlers get (less lumen's secrets). */
  env?: NodeJS.ProcessEnv;
  onEvent: RelayEventSink;
}

export interface RelayHandle {
  url: string;
  publicUrl: string | null;
  tunnel: Tunnel | null;
  /** Secret that signs forwarded deliveries (only with --forward-to). */
  signingSecret: string | null;
  integrations: RelayIntegration[];
  app: FastifyInstance;
  /** Stops accepting, answers what is in flight, finishes the commit queue and deliveries, closes everything. */
  close(): Promise<void>;
}

export const SIGNING_SECRET_KEY = 'relay/signing_secret';

/** The forward signing secret: created once, kept in the secret store, the same across restarts. */
export async function relaySigningSecret(secrets: SecretStore): Promise<string> {
  const existing = await secrets.get(SIGNING_SECRET_KEY);
  if (existing) return existing;
  const created = `whsec_${randomBytes(24).toString('base64url')}`;
  await secrets.set(SIGNING_SECRET_KEY, created);
  return created;
}

export async function startRelay(deps: RelayDeps, options: RelayOptions): Promise<RelayHandle> {
  if (options.forwardTo && options.exec) {
    throw new UsageError('Choose one consumer: --forward-to or --exec, not both.');
  }
  if (options.autoReply === true && !options.exec) {
    throw new UsageError('--auto-reply without text replies with what the --exec command prints; add --exec or give the text.');
  }
  const { store } = deps;

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

  let signingSecret: string | null = null;
  let target: DispatchTarget | undefined;
  if (options.target) {
    target = options.target;
  } else if (options.forwardTo) {
    signingSecret = await relaySigningSecret(await deps.secrets());
    target = forwardTarget(options.forwardTo, signingSecret, deps.now);
  } else if (options.exec) {
    target = execTarget(options.exec, deps.env);
  }

  // One client per generation of an integration's secrets: a re-connect (new token) gets a new one.
  const graphClients = new Map<string, Promise<GraphClient>>();
  const graphFor = (integration: Integration) => {
    const key = `${integration.id}\u0000${integration.secretRef}`;
    let client = graphClients.get(key);
    if (!client) {
      client = readIntegrationSecrets(deps, integration).then(({ accessToken }) => deps.graph(accessToken));
      client.catch(() => graphClients.delete(key));
      graphClients.set(key, client);
    }
    return client;
  };

  const autoReplier =
    options.autoReply === undefined
      ? undefined
      : new AutoReplier({ store, graphFor, now: deps.now, onEvent: deps.onEvent }, options.autoReply, (id) => integrations.get(id));
  const autoReply = (interaction: Interaction, result?: DeliveryResult) => autoReplier?.reply(interaction, result);

  const dispatcher = target
    ? new Dispatcher({
        dispatch: store.dispatch,
        inbox: store.inbox,
        target,
        now: deps.now,
        onEvent: deps.onEvent,
        onDelivered: (interaction, result) => autoReply(interaction, result),
      })
    : undefined;

  const committer = new GroupCommitter(store.inbox);
  const app = buildApp({
    directory,
    committer,
    dispatchEnabled: dispatcher !== undefined,
    ...(options.limits ? { limits: options.limits } : {}),
    // The tunnel lumen starts connects from loopback and names the real client; so may a proxy the user names.
    trustProxy: [...(options.tunnel ? ['127.0.0.1', '::1'] : []), ...(options.trustProxy ?? [])],
    now: deps.now,
    onEvent: deps.onEvent,
    // Nothing to do after a commit without a consumer or an auto-reply: no callback is scheduled per delivery.
    ...(dispatcher !== undefined || options.autoReply !== undefined
      ? {
          onStored: (outcome: IngestOutcome) => {
            if (dispatcher) dispatcher.wake();
            else for (const interaction of outcome.stored) autoReply(interaction);
          },
        }
      : {}),
  });

  // The only dispatcher on this database (one relay per LUMEN_HOME): claims a killed relay left are free at once.
  if (options.soleDispatcher && dispatcher) await store.dispatch.releaseClaims();
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  dispatcher?.start();

  let tunnel: Tunnel | null = null;
  try {
    if (options.tunnel) tunnel = await startTunnel(options.tunnel, address.port);
  } catch (error) {
    await app.close();
    await dispatcher?.stop();
    throw error;
  }
  const publicUrl = tunnel?.url ?? options.publicUrl?.replace(/\/+$/, '') ?? null;
  if (options.stateFile) {
    writeRelayState(options.stateFile, { pid: process.pid, url, publicUrl, startedAt: deps.now().toISOString() });
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    publicUrl,
    tunnel,
    signingSecret,
    integrations: directory.all(),
    app,
    close() {
      closing ??= (async () => {
        await app.close(); // stops accepting; in-flight requests finish (their commits included)
        await committer.drain();
        await new Promise((resolve) => setImmediate(resolve)); // their reports (scheduled after each answer) go out
        await dispatcher?.stop();
        await autoReplier?.settle();
        await tunnel?.stop();
        await Promise.allSettled([...graphClients.values()].map(async (c) => (await c).close()));
        if (options.stateFile) removeRelayState(options.stateFile);
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
