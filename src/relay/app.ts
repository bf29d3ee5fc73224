import { createServer } from 'node:http';
import { Transform } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { WEBHOOK_PATH_PREFIX } from '../webhooks.js';
import { describeSystemFault, isSystemFault } from '../store/faults.js';
import type { IngestOutcome, NewChange, NewInteraction, NewStatus, NewWebhookError } from '../store/types.js';
import { changeDocument, changeGroup, describeChange, statusDocument, type EventGroup } from './documents.js';
import type { DeliveryKind, DeliveryLog, DeliveryNote } from './deliveries.js';
import type { IntegrationDirectory, RelayIntegration } from './directory.js';
import { eventText, type RelayEventSink } from './events.js';
import type { GroupCommitter } from './ingest.js';
import { DEFAULT_RATE_LIMITS, RateLimiter, type RateLimitSettings } from './limits.js';
import { FORWARDING_HEADERS, isLoopbackHost, registerLocalApi, type LocalApiDeps } from './local-api.js';
import type { RelayMetrics } from './metrics.js';
import { registerConsole, type ConsoleDeps } from './console/routes.js';
import { FollowerSlots } from './follower.js';
import { MAX_DELIVERY_ITEMS, parseDelivery, UNKNOWN_TIMESTAMP } from './parse.js';
import { parseSignatureHeader, verifySignature } from './signature.js';

/** Meta's deliveries are small; 3 MiB leaves room for big batches and refuses abuse. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;
/**
 * Bodies are read whole before a signature can be checked, from anyone who reaches the URL, so what they may hold at
 * once is bounded: a body up to SMALL_BODY_BYTES (nearly every delivery of Meta's) by the number of connections,
 * bigger ones by a budget they share. Worst case: 1,024 × 64 KiB + 16 MiB = 80 MiB.
 */
export const MAX_CONNECTIONS = 1024;
export const SMALL_BODY_BYTES = 64 * 1024;
export const LARGE_BODIES_BUDGET = 16 * 1024 * 1024;
const BUSY = 'LUMEN_BUSY';
/** How far ahead of this machine's clock Meta's timestamps may be before they are taken as impossible. */
const CLOCK_SKEW_MS = 5 * 60_000;
/** How long a request may take to arrive whole (headers and body): slow clients (slowloris) are cut off after it. */
export const REQUEST_TIMEOUT_MS = 15_000;
/** How long an idle kept-alive connection (a tunnel's, Meta's) stays open for its next request. */
export const KEEP_ALIVE_MS = 10_000;

export interface RelayAppDeps {
  directory: IntegrationDirectory;
  committer: GroupCommitter;
  /** Queue each new interaction for the user's code (a forward target or command is configured). */
  dispatchEnabled: boolean;
  /** What else is queued for the user's code (`--events`): statuses, templates, account… (messages: dispatchEnabled). */
  forwardGroups?: ReadonlySet<EventGroup>;
  /** --forward-raw: queue Meta's exact body and signature of every verified delivery for the user's code. */
  forwardRaw?: boolean;
  limits?: Partial<RateLimitSettings>;
  /** The local API for the user's code (`/v1/…`), when the relay offers it. */
  localApi?: LocalApiDeps;
  /** Addresses whose X-Forwarded-For is believed (the tunnel lumen started, or --trust-proxy); none by default. */
  trustProxy?: string[];
  /** Every webhook request and its answer, kept for the console's live feed. */
  deliveries?: DeliveryLog;
  /** The browser console (`/console`), when the relay offers it. */
  console?: ConsoleDeps;
  now?: () => Date;
  onEvent?: RelayEventSink;
  /** `GET /metrics` (Prometheus text) and what the webhook counts; absent: no /metrics. */
  metrics?: RelayMetrics;
  /**
   * Who may read `/metrics` besides this machine (loopback, not forwarded): client addresses, or `any`
   * (--metrics-host).
   */
  metricsClients?: string[];
  /** `GET /readyz`: the reasons the relay cannot do its work now (none: ready). */
  readiness?: () => Promise<string[]>;
  /** Named by `GET /healthz` (and in relay.json): which relay answers at this address (pids and ports are reused). */
  instance?: string;
  /** How many followers (`/v1/events`, the console's live feed) are fed at once (default MAX_FOLLOWERS). */
  maxFollowers?: number;
  /** Bytes that bodies over SMALL_BODY_BYTES may hold at once (default LARGE_BODIES_BUDGET). */
  largeBodiesBudget?: number;
  /** Called after a delivery's writes are committed and answered: wakes the dispatcher, sends auto-replies. */
  onStored?: (outcome: IngestOutcome, integration: RelayIntegration) => void;
}

/**
 * The relay's HTTP surface, as a Fastify instance that does not listen (server.ts does). Every response is JSON but
 * the handshake's challenge.
 */
export function buildApp(deps: RelayAppDeps): FastifyInstance {
  const now = deps.now ?? (() => new Date());
  const emit: RelayEventSink = deps.onEvent ?? (() => {});
  const wants = (name: Parameters<NonNullable<RelayEventSink['wants']>>[0]) =>
    deps.onEvent !== undefined && (deps.onEvent.wants?.(name) ?? true);

  const limits = { ...DEFAULT_RATE_LIMITS, ...deps.limits };
  const perIntegration = new RateLimiter(limits.perIntegration);
  const perWorkspace = new RateLimiter(limits.perWorkspace);
  const failedSignatures = new RateLimiter(limits.failedSignaturesPerClient);

  const app = Fastify({
    // Node checks request deadlines only every connectionsCheckingInterval (30 s by default), and Fastify sets
    // requestTimeout after the server exists, so headersTimeout stays at 60 s: set them where they take effect.
    // Fastify's own connectionTimeout and keepAliveTimeout are ignored with a serverFactory: the keep-alive is set here.
    // There is no idle timeout on a connection with a request under way: a local API send may wait on Meta's retries
    // for over a minute (a stalled client is cut off by requestTimeout, and at stop).
    serverFactory: (handler) => {
      const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: 10_000, connectionsCheckingInterval: 1_000 }, handler);
      server.keepAliveTimeout = KEEP_ALIVE_MS;
      // Past it, a new connection is closed at once (an idle one costs little, one sending a body up to 64 KiB).
      server.maxConnections = MAX_CONNECTIONS;
      return server;
    },
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // X-Forwarded-For is believed only from the proxies named: the tunnel lumen started (loopback) or --trust-proxy.
    // Anyone else could write any address into it.
    trustProxy: deps.trustProxy && deps.trustProxy.length > 0 ? deps.trustProxy : false,
    return503OnClosing: true,
    // One value per name, the first: `?token=a&token=b` is "a", never a list that a handler does not expect.
    routerOptions: { querystringParser: firstValues },
    // Errors raised before routing (an over-long URL, a malformed path) get the same JSON shape as the rest.
    frameworkErrors: (error, _request, reply) => {
      const status = (error as { statusCode?: number }).statusCode ?? 400;
      const message = status === 414 ? 'The URL is too long.' : error.message.slice(0, 200);
      void (reply as FastifyReply).code(status).send(errorBody('bad_request', message));
    },
  });

  // The signature covers the exact bytes: keep every body as a Buffer, whatever its content type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: { code?: string; statusCode?: number; message: string }, request, reply) => {
    if (error.code === BUSY) return reply.code(503).header('retry-after', '5').send(busy('a body of no declared length'));
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // (The route's own limit: uploads to the local API take up to Meta's largest media.)
      const limit = request.routeOptions.bodyLimit ?? MAX_BODY_BYTES;
      emit({ event: 'rejected', status: 413, reason: `body over ${limit} bytes` });
      return reply.code(413).send(errorBody('body_too_large', `The body is over ${limit} bytes.`));
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      emit({ event: 'rejected', status: error.statusCode, reason: error.message });
      return reply.code(error.statusCode).send(errorBody('bad_request', error.message));
    }
    if (isSystemFault(error)) {
      reply.header('retry-after', '5');
      emit({ event: 'error', message: faultText(error) });
      return reply.code(503).send(errorBody('unavailable', 'The relay cannot store deliveries right now; retry later.'));
    }
    emit({ event: 'error', message: error.message });
    return reply.code(500).send(errorBody('internal', 'The relay could not store this delivery; it will be retried.'));
  });
  // A big body takes its size from a shared budget before it is read, and gives it back when its answer is sent or
  // its connection closes; one that would go past the budget is answered 503 at once (Meta retries). A body of no
  // declared length (chunked, as a tunnel may pass it on) takes its bytes past the first 64 KiB as they arrive. The
  // local API's routes are exempt: their callers are checked before a byte of the body is read (an upload is 100 MB).
  const largeBudget = deps.largeBodiesBudget ?? LARGE_BODIES_BUDGET;
  let largeInFlight = 0;
  const unknownLength = new WeakSet<object>();
  const busy = (reason: string) => {
    emit({ event: 'rejected', status: 503, reason: `too many large bodies at once (${reason})` });
    return errorBody('busy', 'The relay is receiving too many large requests at once; retry later.');
  };
  app.addHook('onRequest', (request, reply, done) => {
    if (request.method === 'GET' || request.method === 'HEAD' || request.routeOptions.url?.startsWith('/v1/')) return done();
    const declared = Number(request.headers['content-length']);
    if (request.headers['transfer-encoding'] !== undefined || !Number.isFinite(declared)) {
      unknownLength.add(request);
      return done();
    }
    const size = Math.min(declared, MAX_BODY_BYTES);
    if (size <= SMALL_BODY_BYTES) return done();
    if (largeInFlight + size > largeBudget) {
      void reply.code(503).header('retry-after', '5').send(busy(`${largeInFlight} bytes under way`));
      return;
    }
    largeInFlight += size;
    reply.raw.once('close', () => {
      largeInFlight -= size;
    });
    done();
  });
  app.addHook('preParsing', (request, reply, payload, done) => {
    if (!unknownLength.has(request)) return done(null, payload);
    let seen = 0;
    let charged = 0;
    reply.raw.once('close', () => {
      largeInFlight -= charged;
    });
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, next) {
        seen += chunk.length;
        const owed = Math.max(0, Math.min(seen, MAX_BODY_BYTES) - SMALL_BODY_BYTES) - charged;
        if (owed > 0) {
          if (largeInFlight + owed > largeBudget) return next(Object.assign(new Error('busy'), { code: BUSY, statusCode: 503 }));
          largeInFlight += owed;
          charged += owed;
        }
        next(null, chunk);
      },
    });
    payload.on('error', (error) => counted.destroy(error));
    done(null, payload.pipe(counted));
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send(errorBody('not_found', 'No such route.')));

  app.get('/healthz', async () => ({ status: 'ok', ...(deps.instance ? { instance: deps.instance } : {}) }));
  // Ready = able to take deliveries now: the database takes a write and every number's secrets can be read.
  app.get('/readyz', async (_request, reply) => {
    let reasons: string[];
    try {
      reasons = deps.readiness ? await deps.readiness() : [];
    } catch (error) {
      reasons = [faultText(error)];
    }
    if (reasons.length === 0) return { status: 'ready' };
    return reply.code(503).send({ status: 'unavailable', reasons });
  });

  // What each webhook POST was answered with, for the metrics (set where the answer is decided).
  const results = new WeakMap<FastifyReply, string>();
  const metrics = deps.metrics;
  if (metrics) {
    const clients = new Set(deps.metricsClients ?? []);
    app.get('/metrics', async (request, reply) => {
      const address = request.socket.remoteAddress ?? '';
      const local =
        isLoopback(address) && isLoopbackHost(request.headers.host) && !FORWARDING_HEADERS.some((h) => request.headers[h] !== undefined);
      if (!local && !clients.has('any') && !clients.has(address) && !clients.has(address.replace(/^::ffff:/, ''))) {
        return reply.code(403).send(errorBody('local_only', '/metrics answers only on this machine (see --metrics-host).'));
      }
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    });
    app.addHook('onResponse', async (request, reply) => {
      if (request.method !== 'POST' || request.routeOptions.url !== `${WEBHOOK_PATH_PREFIX}:id`) return;
      metrics.webhook(results.get(reply) ?? ANSWERED_BY_STATUS[reply.statusCode] ?? String(reply.statusCode), reply.statusCode, reply.elapsedTime / 1000);
    });
  }
  // One limit for both kinds of follower: together they hold at most MAX_FOLLOWERS × 1 MiB.
  const followers = new FollowerSlots(deps.maxFollowers);
  if (deps.localApi) registerLocalApi(app, deps.localApi, followers);
  if (deps.console) registerConsole(app, deps.console, followers);

  // What each webhook request turned out to be, for the delivery log (written when the answer goes out).
  const notes = new WeakMap<object, DeliveryNote>();
  const note = (request: object): DeliveryNote | undefined => notes.get(request);
  const log = deps.deliveries;
  const webhookHooks = log
    ? {
        onRequest: (request: object, _reply: unknown, done: () => void) => {
          notes.set(request, { integrationId: null, signature: 'not_checked', kind: null, summary: '', numbers: [] });
          done();
        },
        onSend: (
          request: { method: string; url: string; headers: Record<string, unknown>; body?: unknown },
          reply: { statusCode: number },
          payload: unknown,
          done: (error: null, payload: unknown) => void,
        ) => {
          const n = notes.get(request);
          const status = reply.statusCode;
          log.add({
            atMs: now().getTime(),
            method: request.method,
            url: request.url,
            integrationId: n?.integrationId ?? null,
            kind: n?.kind ?? (status >= 500 ? 'error' : status >= 400 ? 'rejected' : 'ignored'),
            summary: n?.summary || (status >= 400 ? errorMessageOf(payload) : ''),
            signature: n?.signature ?? 'not_checked',
            headers: request.headers,
            body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
            numbers: n?.numbers ?? [],
            status,
            answer: typeof payload === 'string' ? payload.slice(0, 4096) : '',
          });
          done(null, payload);
        },
      }
    : {};

  const reject = (reply: FastifyReply, status: number, code: string, message: string, integrationId?: string) => {
    results.set(reply, code);
    emit({ event: 'rejected', status, reason: message, ...(integrationId ? { integrationId } : {}) });
    const n = note(reply.request);
    if (n) {
      n.kind = status >= 500 ? 'error' : 'rejected';
      n.summary = message;
    }
    return reply.code(status).send(errorBody(code, message));
  };

  /** 503 with Retry-After: Meta retries, and nothing was acknowledged that is not stored. */
  const unavailable = (reply: FastifyReply, message: string, integrationId?: string) => {
    reply.header('retry-after', '5');
    emit({ event: 'error', message });
    return reject(reply, 503, 'unavailable', message, integrationId);
  };

  /**
   * The integration a webhook path names, as of this very request (the directory follows the store's change marker),
   * or the reply already sent: 404 when no such number is connected, 503 when it is but cannot be served now.
   */
  async function integrationFor(id: string, reply: FastifyReply): Promise<RelayIntegration | FastifyReply> {
    try {
      await deps.directory.sync();
    } catch (error) {
      return unavailable(reply, `Cannot read the connected numbers: ${faultText(error)}`);
    }
    const integration = deps.directory.get(id);
    const n = note(reply.request);
    if (n) n.integrationId = id;
    if (integration) return integration;
    const why = deps.directory.unavailable(id);
    if (why) return unavailable(reply, `Cannot serve ${id}: ${why}`, id);
    return reject(reply, 404, 'unknown_integration', 'No integration with this id.');
  }

  // Meta's verification handshake (no signature on the GET).
  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    `${WEBHOOK_PATH_PREFIX}:id`,
    webhookHooks,
    async (request, reply) => {
      const integration = await integrationFor(request.params.id, reply);
      if (!isIntegration(integration)) return integration;
      const mode = request.query['hub.mode'];
      const token = request.query['hub.verify_token'];
      const challenge = request.query['hub.challenge'];
      if (mode !== 'subscribe' || typeof token !== 'string' || typeof challenge !== 'string') {
        return reject(
          reply,
          400,
          'not_a_handshake',
          "Not a verification handshake: Meta's has hub.mode=subscribe, hub.verify_token and hub.challenge.",
          integration.id,
        );
      }
      const ok = deps.directory.verifyTokenMatches(integration, token);
      emit({ event: 'handshake', integrationId: integration.id, ok });
      const n = note(request);
      if (n) Object.assign(n, { kind: 'handshake', summary: ok ? 'verified' : 'wrong verify token' });
      if (!ok) return reply.code(403).send(errorBody('verify_token_mismatch', 'The verify token does not match.'));
      return reply.type('text/plain; charset=utf-8').send(challenge);
    },
  );

  app.post<{ Params: { id: string } }>(`${WEBHOOK_PATH_PREFIX}:id`, webhookHooks, async (request, reply) => {
    const integration = await integrationFor(request.params.id, reply);
    if (!isIntegration(integration)) return integration;
    const nowMs = now().getTime();

    // The signature first: it is cheap, and only a verified delivery may use up a rate limit. An unsigned flood
    // then costs one HMAC per request and never takes a token from genuine deliveries.
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const header = request.headers['x-hub-signature-256'];
    const expected = parseSignatureHeader(header);
    const verified = expected !== null && verifySignature(body, expected, integration.appSecret);
    const n = note(request);
    if (n) n.signature = verified ? 'valid' : !header ? 'missing' : !expected ? 'malformed' : 'mismatch';
    if (!verified) {
      // A client that keeps failing is told to back off (429); it was checked all the same, so a genuine delivery
      // from the same address (every client behind a tunnel shares one) is never refused unchecked.
      const penalty = failedSignatures.take(request.ip, nowMs);
      if (penalty > 0) reply.header('retry-after', String(penalty));
      if (header === undefined) return reject(reply, penalty > 0 ? 429 : 401, 'signature_missing', 'Missing X-Hub-Signature-256.', integration.id);
      if (!expected) return reject(reply, penalty > 0 ? 429 : 401, 'signature_malformed', 'Malformed X-Hub-Signature-256.', integration.id);
      return reject(reply, penalty > 0 ? 429 : 401, 'signature_mismatch', 'X-Hub-Signature-256 does not match the body.', integration.id);
    }

    const numberWait = perIntegration.take(integration.id, nowMs);
    const wait = numberWait || perWorkspace.take(integration.workspaceId, nowMs);
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      const over = numberWait > 0 ? `${limits.perIntegration} deliveries/s for this number (--rate-limit)` : `${limits.perWorkspace} deliveries/s for its workspace (--workspace-rate-limit)`;
      return reject(reply, 429, 'rate_limited', `Too many deliveries: over ${over}; Meta retries.`, integration.id);
    }

    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return reject(reply, 400, 'invalid_json', 'The body is not JSON.', integration.id);
    }

    const via = integration;
    const parsed = parseDelivery(payload, {
      isConnected: (id) => deps.directory.route(id, via) !== undefined,
      isKnownWaba: (wabaId) => deps.directory.inAccount(wabaId, via).length > 0,
    });
    // A message repeated within one delivery is that one message (stored, counted and reported once).
    const distinct = new Map<string, (typeof parsed.messages)[number]>();
    for (const m of parsed.messages) {
      const key = `${m.phoneNumberId} ${m.wamid}`;
      if (!distinct.has(key)) distinct.set(key, m);
    }
    if (n) describeDelivery(n, { ...parsed, messages: [...distinct.values()] });
    if (parsed.overBudget) {
      // Stored whole or not at all: a 200 for part of a delivery would lose the rest for good.
      return reject(reply, 413, 'delivery_too_large', `The delivery has more than ${MAX_DELIVERY_ITEMS} items; lumen stores deliveries whole.`, via.id);
    }
    const routed = (phoneNumberId: string) => deps.directory.route(phoneNumberId, via)?.id ?? via.id;
    // A missing or impossible timestamp is taken as now: a message dated 1970 would sort first and close its sender's
    // window, one dated next year would hold it open (Meta's clock and this one may differ by a little: 5 minutes).
    const arrived = now();
    const receivedAt = arrived.toISOString();
    const latest = new Date(arrived.getTime() + CLOCK_SKEW_MS).toISOString();
    const when = (timestamp: string) => (timestamp === UNKNOWN_TIMESTAMP || timestamp > latest ? receivedAt : timestamp);
    const messages: NewInteraction[] = [...distinct.values()].map((m) => ({
      integrationId: routed(m.phoneNumberId),
      channel: 'whatsapp',
      wamid: m.wamid,
      phoneNumberId: m.phoneNumberId,
      from: m.from,
      fromKind: m.fromKind,
      contactName: m.contactName,
      userId: m.userId,
      parentUserId: m.parentUserId,
      media: m.media,
      type: m.type,
      text: m.text,
      mediaId: m.mediaId,
      replyTo: m.replyTo,
      timestamp: when(m.timestamp),
      raw: m.raw,
    }));
    const forwardGroups = deps.forwardGroups;
    const forwardStatuses = forwardGroups?.has('statuses') ?? false;
    const statuses: NewStatus[] = parsed.statuses.map((s) => {
      const integrationId = routed(s.phoneNumberId);
      return {
        integrationId,
        wamid: s.wamid,
        status: s.status,
        recipientId: s.recipientId,
        timestamp: when(s.timestamp),
        errorCode: s.errorCode,
        errorTitle: s.errorTitle,
        errorDetails: s.errorDetails,
        pricing: s.pricing,
        forwardDoc: forwardStatuses ? statusDocument(s, integrationId, receivedAt) : undefined,
        raw: s.raw,
      };
    });

    // Per-number changes go to their number; template and account changes to every number of that WABA (and, when
    // an account change names its number, to that one).
    const changes: NewChange[] = [];
    for (const change of parsed.changes) {
      let targets: string[];
      if (change.kind === 'template' || change.kind === 'account') {
        const inAccount = change.wabaId === null ? [via] : deps.directory.inAccount(change.wabaId, via);
        const digits = change.kind === 'account' ? change.phoneNumber?.replace(/\D/g, '') : undefined;
        const named = digits ? inAccount.filter((i) => (i.displayPhoneNumber ?? '').replace(/\D/g, '') === digits) : [];
        targets = (named.length > 0 ? named : inAccount).map((i) => i.id);
      } else {
        targets = [routed(change.phoneNumberId)];
      }
      // (When Meta says it happened orders changes to one thing: a time ahead of this clock would make the genuine
      // ones after it look stale, so it is taken as now, as a message's is.)
      if ((change.kind === 'template' || change.kind === 'account') && change.eventAt !== null) change.eventAt = when(change.eventAt);
      const forward = forwardGroups?.has(changeGroup(change)) ?? false;
      for (const integrationId of targets) {
        changes.push({ integrationId, change, doc: changeDocument(change, integrationId, receivedAt), forward });
      }
    }

    const errors: NewWebhookError[] = parsed.errors.map((e) => ({
      integrationId: e.phoneNumberId ? routed(e.phoneNumberId) : via.id,
      phoneNumberId: e.phoneNumberId,
      code: e.code,
      title: e.title,
      message: e.message,
      details: e.details,
      raw: e.raw,
    }));

    // --forward-raw hands on every verified delivery of a WhatsApp Business Account, stored first like the rest.
    const raw =
      deps.forwardRaw && parsed.ignored[0]?.reason !== 'not_whatsapp_business_account'
        ? { integrationId: via.id, body, signature: String(header) }
        : undefined;
    let outcome: IngestOutcome = {
      stored: [],
      duplicates: 0,
      statusesStored: 0,
      errorsStored: 0,
      changesStored: 0,
      eventsQueued: false,
      events: [],
    };
    if (messages.length > 0 || statuses.length > 0 || errors.length > 0 || changes.length > 0 || raw) {
      try {
        outcome = await deps.committer.submit({
          workspaceId: via.workspaceId,
          receivedAt,
          messages,
          statuses,
          errors,
          changes,
          raw,
          enqueueDispatch: deps.dispatchEnabled,
        });
      } catch (error) {
        if (!isSystemFault(error)) throw error;
        return unavailable(reply, `Delivery not stored (Meta will retry): ${faultText(error)}`, via.id);
      }
    }

    // Report after answering: the terminal or log must not slow the acknowledgement. Nothing is built for events
    // nobody shows (--quiet, and no `events tail` following).
    const reportMessages = wants('message');
    const reportStatuses = wants('status');
    const reportIgnored = wants('ignored');
    const report =
      errors.length > 0 ||
      changes.length > 0 ||
      (reportMessages && messages.length > 0) ||
      (reportStatuses && statuses.length > 0) ||
      (reportIgnored && parsed.ignored.length > 0);
    if (report || ((outcome.stored.length > 0 || outcome.eventsQueued) && deps.onStored)) {
      setImmediate(() => {
        if (reportMessages && messages.length > 0) {
          const storedByWamid = new Map(outcome.stored.map((i) => [i.wamid, i]));
          for (const m of messages) {
            const stored = storedByWamid.get(m.wamid);
            emit({
              event: 'message',
              integrationId: m.integrationId,
              interactionId: stored?.id ?? null,
              wamid: m.wamid,
              from: m.from,
              contactName: m.contactName,
              type: m.type,
              text: eventText(m.text),
              duplicate: stored === undefined,
            });
          }
        }
        if (reportStatuses) {
          for (const s of statuses) {
            emit({
              event: 'status',
              integrationId: s.integrationId,
              wamid: s.wamid,
              status: s.status,
              errorCode: s.errorCode,
              recipient: s.recipientId,
              ...(s.pricing ? { category: s.pricing.category, billable: s.pricing.billable } : {}),
            });
          }
        }
        for (const c of changes) {
          emit({ event: 'change', integrationId: c.integrationId, object: String(c.doc.object), field: c.change.field, text: describeChange(c.change) });
        }
        for (const e of errors) {
          emit({ event: 'webhook_error', integrationId: e.integrationId, code: e.code, title: e.title, message: e.message, details: e.details });
        }
        if (reportIgnored) {
          for (const item of parsed.ignored) {
            emit({
              event: 'ignored',
              integrationId: via.id,
              reason: item.reason,
              ...(item.field ? { field: item.field } : {}),
              ...(item.phoneNumberId ? { phoneNumberId: item.phoneNumberId } : {}),
            });
          }
        }
        if (outcome.stored.length > 0 || outcome.eventsQueued) deps.onStored?.(outcome, via);
      });
    }

    if (messages.length === 0) {
      results.set(reply, 'ignored');
      return { status: 'ignored' };
    }
    results.set(reply, 'received');
    return { status: 'received', messages: messages.length };
  });

  return app;
}

/** A query string as one string value per name (the first), in an object without a prototype (`?__proto__=`). */
function firstValues(query: string): Record<string, string> {
  const values: Record<string, string> = Object.create(null);
  if (query.length === 0) return values; // every webhook POST: nothing to parse
  for (const [name, value] of new URLSearchParams(query)) if (!Object.hasOwn(values, name)) values[name] = value;
  return values;
}

/** Answers decided outside the route (the error handler): named as their error codes. */
const ANSWERED_BY_STATUS: Record<number, string> = { 400: 'bad_request', 413: 'body_too_large', 415: 'bad_request', 500: 'internal', 503: 'unavailable' };

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** The kind and a one-line summary of a verified delivery, for the console's feed. */
function describeDelivery(n: DeliveryNote, parsed: ReturnType<typeof parseDelivery>): void {
  const kinds = new Set(parsed.changes.map((c) => c.kind));
  const kind: DeliveryKind =
    parsed.messages.length > 0
      ? 'message'
      : parsed.statuses.length > 0
        ? 'status'
        : kinds.has('template')
          ? 'template'
          : kinds.has('account')
            ? 'account'
            : 'ignored';
  const parts = [
    parsed.messages.length > 0 ? `${parsed.messages.length} message${parsed.messages.length > 1 ? 's' : ''}: ${parsed.messages[0]!.text.slice(0, 80)}` : '',
    ...parsed.statuses.slice(0, 3).map((s) => `${s.status}${s.errorCode ? ` (${s.errorCode})` : ''}`),
    parsed.statuses.length > 3 ? `+${parsed.statuses.length - 3} statuses` : '',
    ...parsed.changes.slice(0, 3).map((c) => c.field),
    ...parsed.ignored.slice(0, 3).map((i) => `${i.reason}${i.field ? ` ${i.field}` : ''}`),
    parsed.errors.length > 0 ? `${parsed.errors.length} error${parsed.errors.length > 1 ? 's' : ''} from Meta` : '',
  ];
  n.kind = kind;
  n.summary = parts.filter((p) => p !== '').join(' · ');
  n.numbers = [
    ...new Set([
      ...parsed.messages.flatMap((m) => [m.phoneNumberId, m.from]),
      ...parsed.statuses.flatMap((s) => [s.phoneNumberId, s.recipientId ?? '']),
      ...parsed.ignored.map((i) => i.phoneNumberId ?? ''),
    ]),
  ].filter((x) => x !== '');
}

function isIntegration(value: RelayIntegration | FastifyReply): value is RelayIntegration {
  return typeof (value as RelayIntegration).appSecret === 'string';
}

function faultText(error: unknown): string {
  return describeSystemFault(error)?.message ?? (error instanceof Error ? error.message : String(error));
}

function errorMessageOf(payload: unknown): string {
  try {
    return String((JSON.parse(String(payload)) as { error?: { message?: string } }).error?.message ?? '');
  } catch {
    return '';
  }
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}
