import { createServer } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { WEBHOOK_PATH_PREFIX } from '../services/whatsapp/integrations.js';
import type { IngestOutcome, NewInteraction, NewStatus } from '../store/types.js';
import type { IntegrationDirectory, RelayIntegration } from './directory.js';
import type { RelayEventSink } from './events.js';
import type { GroupCommitter } from './ingest.js';
import { DEFAULT_RATE_LIMITS, RateLimiter, type RateLimitSettings } from './limits.js';
import { parseDelivery } from './parse.js';
import { parseSignatureHeader, verifySignature } from './signature.js';

/** Meta's deliveries are small; 3 MiB leaves room for big batches and refuses abuse. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface RelayAppDeps {
  directory: IntegrationDirectory;
  committer: GroupCommitter;
  /** Queue each new interaction for the user's code (a forward target or command is configured). */
  dispatchEnabled: boolean;
  limits?: Partial<RateLimitSettings>;
  now?: () => Date;
  onEvent?: RelayEventSink;
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
  const reportMessages = wants('message');
  const reportStatuses = wants('status');
  const reportIgnored = wants('ignored');
  const limits = { ...DEFAULT_RATE_LIMITS, ...deps.limits };
  const perIntegration = new RateLimiter(limits.perIntegration);
  const perWorkspace = new RateLimiter(limits.perWorkspace);
  const failedSignatures = new RateLimiter(limits.failedSignaturesPerClient);

  const app = Fastify({
    // Node checks request deadlines only every connectionsCheckingInterval (30 s by default), and Fastify sets
    // requestTimeout after the server exists, so headersTimeout stays at 60 s: set them where they take effect.
    serverFactory: (handler) =>
      createServer({ requestTimeout: 15_000, headersTimeout: 10_000, connectionsCheckingInterval: 1_000 }, handler),
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    // Slow clients (slowloris) are cut off instead of holding sockets forever.
    requestTimeout: 15_000,
    connectionTimeout: 30_000,
    keepAliveTimeout: 10_000,
    // Behind a local tunnel every request comes from loopback; the tunnel says who the client was.
    trustProxy: ['127.0.0.1', '::1'],
    return503OnClosing: true,
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

  app.setErrorHandler((error: { code?: string; statusCode?: number; message: string }, _request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      emit({ event: 'rejected', status: 413, reason: 'body over 3 MiB' });
      return reply.code(413).send(errorBody('body_too_large', `The body is over ${MAX_BODY_BYTES} bytes.`));
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      emit({ event: 'rejected', status: error.statusCode, reason: error.message });
      return reply.code(error.statusCode).send(errorBody('bad_request', error.message));
    }
    emit({ event: 'error', message: error.message });
    return reply.code(500).send(errorBody('internal', 'The relay could not store this delivery; it will be retried.'));
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send(errorBody('not_found', 'No such route.')));

  app.get('/healthz', async () => ({ status: 'ok' }));

  async function findIntegration(id: string): Promise<RelayIntegration | undefined> {
    const known = deps.directory.get(id);
    if (known) return known;
    await deps.directory.refresh(); // connected after the relay started?
    return deps.directory.get(id);
  }

  const reject = (reply: FastifyReply, status: number, code: string, message: string, integrationId?: string) => {
    emit({ event: 'rejected', status, reason: message, ...(integrationId ? { integrationId } : {}) });
    return reply.code(status).send(errorBody(code, message));
  };

  // Meta's verification handshake (no signature on the GET).
  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    `${WEBHOOK_PATH_PREFIX}:id`,
    async (request, reply) => {
      const integration = await findIntegration(request.params.id);
      if (!integration) return reject(reply, 404, 'unknown_integration', 'No integration with this id.');
      const mode = request.query['hub.mode'];
      const token = request.query['hub.verify_token'];
      const challenge = request.query['hub.challenge'];
      let ok = mode === 'subscribe' && typeof token === 'string' && typeof challenge === 'string';
      if (ok && !deps.directory.verifyTokenMatches(integration, token as string)) {
        await deps.directory.refresh(); // rotated while the relay runs?
        const current = deps.directory.get(integration.id);
        ok = current !== undefined && deps.directory.verifyTokenMatches(current, token as string);
      }
      emit({ event: 'handshake', integrationId: integration.id, ok });
      if (!ok) return reply.code(403).send(errorBody('verify_token_mismatch', 'The verify token does not match.'));
      return reply.type('text/plain; charset=utf-8').send(challenge);
    },
  );

  app.post<{ Params: { id: string } }>(`${WEBHOOK_PATH_PREFIX}:id`, async (request, reply) => {
    let integration = await findIntegration(request.params.id);
    if (!integration) return reject(reply, 404, 'unknown_integration', 'No integration with this id.');
    const nowMs = Date.now();

    const wait = perIntegration.take(integration.id, nowMs) || perWorkspace.take(integration.workspaceId, nowMs);
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      return reject(reply, 429, 'rate_limited', 'Too many deliveries; retry later.', integration.id);
    }
    // A flood of bad signatures from one client is refused before any HMAC, parse or database work. (The client's
    // address, worked out through the trusted proxies, is only needed once some client has failed a check.)
    const penalty = failedSignatures.idle ? 0 : failedSignatures.wait(request.ip, nowMs);
    if (penalty > 0) {
      reply.header('retry-after', String(penalty));
      return reject(reply, 429, 'too_many_bad_signatures', 'Too many failed signature checks.', integration.id);
    }

    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const expected = parseSignatureHeader(request.headers['x-hub-signature-256']);
    if (!expected) {
      failedSignatures.take(request.ip, nowMs);
      const header = request.headers['x-hub-signature-256'];
      return reject(reply, 401, 'signature_missing', header ? 'Malformed X-Hub-Signature-256.' : 'Missing X-Hub-Signature-256.', integration.id);
    }
    if (!verifySignature(body, expected, integration.appSecret)) {
      // The app secret may have changed (number connected again) since the relay loaded it.
      await deps.directory.refresh();
      const current = deps.directory.get(integration.id);
      if (!current || current.appSecret === integration.appSecret || !verifySignature(body, expected, current.appSecret)) {
        failedSignatures.take(request.ip, nowMs);
        return reject(reply, 401, 'signature_mismatch', 'X-Hub-Signature-256 does not match the body.', integration.id);
      }
      integration = current;
    }

    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return reject(reply, 400, 'invalid_json', 'The body is not JSON.', integration.id);
    }

    const via = integration;
    const parsed = parseDelivery(payload, { isConnected: (id) => deps.directory.route(id, via) !== undefined });
    const routed = (phoneNumberId: string) => deps.directory.route(phoneNumberId, via)?.id ?? via.id;
    const messages: NewInteraction[] = parsed.messages.map((m) => ({
      integrationId: routed(m.phoneNumberId),
      channel: 'whatsapp',
      wamid: m.wamid,
      phoneNumberId: m.phoneNumberId,
      from: m.from,
      fromKind: m.fromKind,
      contactName: m.contactName,
      userId: m.userId,
      type: m.type,
      text: m.text,
      mediaId: m.mediaId,
      replyTo: m.replyTo,
      timestamp: m.timestamp,
      raw: m.raw,
    }));
    const statuses: NewStatus[] = parsed.statuses.map((s) => ({
      integrationId: routed(s.phoneNumberId),
      wamid: s.wamid,
      status: s.status,
      recipientId: s.recipientId,
      timestamp: s.timestamp,
      errorCode: s.errorCode,
      errorTitle: s.errorTitle,
      errorDetails: s.errorDetails,
      raw: s.raw,
    }));

    let outcome: IngestOutcome = { stored: [], duplicates: 0, statusesStored: 0, events: [] };
    if (messages.length > 0 || statuses.length > 0) {
      outcome = await deps.committer.submit({
        workspaceId: via.workspaceId,
        receivedAt: now().toISOString(),
        messages,
        statuses,
        enqueueDispatch: deps.dispatchEnabled,
      });
    }

    // Report after answering: the terminal or log must not slow the acknowledgement. Nothing is built for events
    // nobody shows (--quiet).
    const report =
      (reportMessages && messages.length > 0) ||
      (reportStatuses && statuses.length > 0) ||
      (reportIgnored && parsed.ignored.length > 0);
    if (report || (outcome.stored.length > 0 && deps.onStored)) {
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
              text: m.text,
              duplicate: stored === undefined,
            });
          }
        }
        if (reportStatuses) {
          for (const s of statuses) {
            emit({ event: 'status', integrationId: s.integrationId, wamid: s.wamid, status: s.status, errorCode: s.errorCode });
          }
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
        if (outcome.stored.length > 0) deps.onStored?.(outcome, via);
      });
    }

    if (messages.length === 0) return { status: 'ignored' };
    return { status: 'received', messages: messages.length };
  });

  return app;
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}
