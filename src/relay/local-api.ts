/**
 * The relay's local API for the user's code, so a bot never holds Meta's token: send any message type through the
 * outbox (approvals, the 24-hour window, idempotency, rate limits, delivery tracking), read a sent message, mark a
 * message read, upload media and fetch stored media. Loopback only, and never through a tunnel or proxy (a request
 * that carries forwarding headers is refused), with `Authorization: Bearer <local API key>`.
 */
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UserError, type ErrorKind } from '../errors.js';
import { GraphError } from '../graph/errors.js';
import { getMediaInfo, markRead, uploadMedia } from '../graph/media.js';
import type { ServiceDeps } from '../services/deps.js';
import { contentMatches } from '../services/messages/media.js';
import { localMediaPath } from '../services/messages/media-path.js';
import { MEDIA_LIMITS, MEDIA_TYPES, type MediaType } from '../services/messages/message-types.js';
import { DEFAULT_SEND_RATE, DEFAULT_WORKSPACE_SEND_RATE } from '../services/messages/outbox.js';
import { sendOne } from '../services/messages/send.js';
import { outboundSummary } from '../services/messages/summary.js';
import { messageFromObject } from '../services/messages/short-form.js';
import { describeSystemFault } from '../store/faults.js';
import type { Integration } from '../store/types.js';
import { DEFAULT_MEDIA_MAX_BYTES } from './media.js';
import { FollowerSlots, followerWriter, TOO_MANY_FOLLOWERS } from './follower.js';
import type { RelayEvent } from './events.js';

export interface LocalApiDeps {
  key: string;
  services: ServiceDeps;
  integrations(): Integration[];
  mediaMaxBytes?: number | undefined;
  /** LUMEN_HOME/media: where received files are kept. */
  mediaDir: string;
  /** `GET /v1/events`: follow the relay's events (what `lumen events tail` reads); returns how to stop following. */
  follow?: (listener: (event: RelayEvent) => void, end: () => void) => () => void;
}

export const FORWARDING_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip', 'cf-connecting-ip', 'true-client-ip', 'x-forwarded-host'];

/** Whether a Host header names this machine's loopback: a web page whose name was rebound to 127.0.0.1 sends its own. */
export function isLoopbackHost(host: string | undefined): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes((host ?? '').replace(/:\d+$/, ''));
}

const STATUS_BY_KIND: Record<ErrorKind, number> = {
  usage: 400,
  auth: 502,
  cancelled: 409,
  pending_approval: 202,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  failed: 422,
};

export function registerLocalApi(app: FastifyInstance, deps: LocalApiDeps, followers = new FollowerSlots()): void {
  const expected = Buffer.from(deps.key);
  const { services } = deps;

  const refuse = (reply: FastifyReply, status: number, code: string, message: string) =>
    reply.code(status).send({ error: { code, message } });

  /** Loopback, not forwarded, and the right key; else the reply is sent and false returned. */
  const allowed = (request: FastifyRequest, reply: FastifyReply): boolean => {
    const address = request.socket.remoteAddress ?? '';
    const loopback = address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
    if (!loopback || FORWARDING_HEADERS.some((h) => request.headers[h] !== undefined)) {
      void refuse(reply, 403, 'local_only', 'The local API answers only on this machine, never through a tunnel or proxy.');
      return false;
    }
    const header = request.headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      void refuse(reply, 401, 'unauthorized', 'Authorization: Bearer <local API key> is missing or wrong (the relay prints the key at start).');
      return false;
    }
    return true;
  };

  // Before the body is read: a caller that may not use the local API never gets to send it 100 MB.
  app.addHook('onRequest', async (request, reply) => {
    // (By the route matched, not the raw target: `/%761/media` and `http://host/v1/…` reach the same routes.)
    if (request.routeOptions.url?.startsWith('/v1/') && !allowed(request, reply)) return reply;
  });

  const failed = (reply: FastifyReply, error: unknown) => {
    if (error instanceof UserError) {
      return reply.code(STATUS_BY_KIND[error.kind]).send({ error: { code: error.code, message: error.message, hint: error.hint ?? null } });
    }
    if (error instanceof GraphError) {
      return reply.code(502).send({ error: { code: 'graph_error', message: error.message, graph: error.toJSON() } });
    }
    const fault = describeSystemFault(error);
    if (fault) return reply.code(503).send({ error: { code: fault.code, message: fault.message } });
    return reply.code(500).send({ error: { code: 'internal', message: (error as Error).message } });
  };

  const integrationFor = (selector: unknown): Integration => {
    const all = deps.integrations();
    if (selector !== undefined) {
      if (typeof selector !== 'string') {
        throw new UserError('"integration" must be a string: the number\'s integration id (wa_…) or phone number ID.', { code: 'invalid_body', kind: 'usage' });
      }
      const match = all.find((i) => i.id === selector || i.phoneNumberId === selector);
      if (!match) throw new UserError(`No connected number "${String(selector)}".`, { code: 'integration_not_found', kind: 'not_found' });
      return match;
    }
    if (all.length === 1) return all[0]!;
    throw new UserError('Several numbers are connected: say which with "integration" (its id or phone number id).', {
      code: 'usage',
      kind: 'usage',
    });
  };

  const json = (request: FastifyRequest): Record<string, unknown> => {
    const body = request.body;
    const text = Buffer.isBuffer(body) ? body.toString('utf8') : '';
    let parsed: unknown;
    try {
      parsed = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      throw new UserError('The body is not JSON.', { code: 'invalid_json', kind: 'usage' });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new UserError('The body must be a JSON object.', { code: 'invalid_body', kind: 'usage' });
    }
    return parsed as Record<string, unknown>;
  };

  // The relay's events as NDJSON, one line each as they happen, until the client or the relay goes away.
  app.get('/v1/events', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    if (!deps.follow) return refuse(reply, 404, 'not_found', 'This relay does not offer its events.');
    const release = followers.take();
    if (!release) return refuse(reply.header('retry-after', '5'), 503, 'too_many_followers', TOO_MANY_FOLLOWERS(followers.max));
    reply.hijack();
    const out = reply.raw;
    out.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    out.write(`${JSON.stringify({ event: 'following' })}\n`);
    // A follower that stops reading is not held every event: past 1 MiB behind it gets {"event":"skipped","count":N}.
    const write = followerWriter(out, (count) => `${JSON.stringify({ event: 'skipped', count })}\n`);
    const stop = deps.follow(
      (event) => write(`${JSON.stringify(event)}\n`),
      () => out.end(),
    );
    request.raw.on('close', () => {
      stop();
      release();
    });
    return reply;
  });

  app.post('/v1/messages', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    try {
      const { to, integration: selector, ...message } = json(request);
      if (to === undefined || to === null || (typeof to === 'string' && to.trim() === '')) {
        throw new UserError('"to" is required: a phone number or a user id.', { code: 'invalid_body', kind: 'usage' });
      }
      if (typeof to !== 'string') {
        throw new UserError(`"to" must be text (a JSON string: "+15551234567"); got ${typeof to === 'number' ? 'a number' : Array.isArray(to) ? 'a list' : `a ${typeof to}`}.`, { code: 'invalid_body', kind: 'usage' });
      }
      const integration = integrationFor(selector);
      const workspace = await services.store.workspaces.findById(integration.workspaceId);
      if (!workspace) throw new UserError('The number\'s workspace is gone.', { code: 'integration_not_found', kind: 'not_found' });
      const key = request.headers['idempotency-key'];
      if (typeof key === 'string' && key.trim() === '') {
        // As `send --idempotency-key ""`: a key meant and lost would send again on every retry.
        throw new UserError('The Idempotency-Key header is empty: give the key, or leave the header out.', { code: 'invalid_idempotency_key', kind: 'usage' });
      }
      const result = await sendOne(services, {
        workspace,
        integration,
        to,
        message: messageFromObject(message, 'The message'),
        idempotencyKey: typeof key === 'string' ? key : undefined,
        rates: { perIntegration: DEFAULT_SEND_RATE, perWorkspace: DEFAULT_WORKSPACE_SEND_RATE },
        source: 'api',
      });
      const summary = outboundSummary(result.message);
      if (result.outcome === 'pending_approval') return reply.code(202).send({ ...summary, approvalId: result.message.id });
      return reply.code(result.outcome === 'already_sent' ? 200 : 201).send(summary);
    } catch (error) {
      return failed(reply, error);
    }
  });

  app.get<{ Params: { id: string } }>('/v1/messages/:id', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const { store } = services;
    const message = (await store.outbound.findById(request.params.id)) ?? (await store.outbound.findByWamid(request.params.id));
    if (!message) {
      // A received one (in_… or its wamid), as `lumen messages show --json` shows it: what a bot may look up again.
      const id = request.params.id;
      let received = id.startsWith('in_') ? await store.inbox.findInteraction(id) : undefined;
      for (const integration of id.startsWith('wamid.') ? deps.integrations() : []) received ??= await store.inbox.findByWamid(integration.id, id);
      if (!received) return refuse(reply, 404, 'message_not_found', `No message ${id} (sent: msg_… or its wamid; received: in_… or its wamid).`);
      const media = await store.media.forInteraction(received.id);
      const { raw: _, ...shown } = received;
      return { direction: 'in', ...shown, media: media ? { id: media.mediaId, state: media.state, path: media.path, mimeType: media.mimeType, size: media.size } : null };
    }
    return { ...outboundSummary(message), timeline: message.wamid ? await store.outbound.timeline(message.integrationId, message.wamid) : [] };
  });

  app.post<{ Params: { wamid: string } }>('/v1/messages/:wamid/read', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    try {
      const body = json(request);
      if (body.typing !== undefined && typeof body.typing !== 'boolean') {
        throw new UserError('"typing" must be true or false.', { code: 'invalid_body', kind: 'usage' });
      }
      let interaction;
      for (const candidate of deps.integrations()) {
        interaction ??= await services.store.inbox.findByWamid(candidate.id, request.params.wamid);
      }
      if (!interaction) return refuse(reply, 404, 'message_not_found', `No received message ${request.params.wamid}.`);
      const integration = integrationFor(interaction.integrationId);
      await markRead(await services.graphFor(integration), integration.phoneNumberId, interaction.wamid, body.typing === true);
      return { success: true };
    } catch (error) {
      return failed(reply, error);
    }
  });

  // Uploads: the raw bytes as the body, their type as Content-Type (`?filename=` for documents).
  app.post<{ Querystring: { integration?: string; filename?: string } }>(
    '/v1/media',
    { bodyLimit: MEDIA_LIMITS.document.maxBytes },
    async (request, reply) => {
      if (!allowed(request, reply)) return reply;
      try {
        const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const mimeType = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const type = MEDIA_TYPES.find((t) => MEDIA_LIMITS[t].mimeTypes.includes(mimeType)) as MediaType | undefined;
        if (!type) {
          throw new UserError(`Content-Type ${mimeType || '(none)'} is not a media type WhatsApp takes.`, { code: 'invalid_media', kind: 'usage' });
        }
        if (bytes.length === 0) throw new UserError('The body is empty: send the file\'s bytes.', { code: 'invalid_media', kind: 'usage' });
        if (bytes.length > MEDIA_LIMITS[type].maxBytes) {
          throw new UserError(`The file is ${bytes.length} bytes; WhatsApp takes ${type}s of at most ${MEDIA_LIMITS[type].maxBytes}.`, {
            code: 'media_too_large',
            kind: 'usage',
          });
        }
        if (!contentMatches(mimeType, bytes.subarray(0, 12))) {
          throw new UserError(`The body is not ${mimeType.slice(6).toUpperCase()}, as its Content-Type ${mimeType} says: WhatsApp would show a broken image.`, {
            code: 'invalid_media',
            kind: 'usage',
          });
        }
        // Checked before anything reaches Meta (given twice, it is the first).
        const given = request.query.filename;
        if (given !== undefined && (given.trim() === '' || given.length > 240)) {
          throw new UserError('"filename" must be one file name of 1 to 240 characters (?filename=invoice.pdf).', { code: 'invalid_media', kind: 'usage' });
        }
        const integration = integrationFor(request.query.integration);
        const filename = given ?? `upload.${mimeType.split('/')[1] ?? 'bin'}`;
        const id = await uploadMedia(await services.graphFor(integration), integration.phoneNumberId, { bytes, mimeType, filename });
        const { createHash } = await import('node:crypto');
        await services.store.media.recordUpload(
          {
            integrationId: integration.id,
            mediaId: id,
            workspaceId: integration.workspaceId,
            mimeType,
            sha256: createHash('sha256').update(bytes).digest('hex'),
            size: bytes.length,
            filename: given ?? null,
            caption: null,
            path: null,
          },
          services.now().toISOString(),
        );
        return reply.code(201).send({ id, type, mimeType, size: bytes.length });
      } catch (error) {
        return failed(reply, error);
      }
    },
  );

  // A stored file, or (not stored yet, or uploaded by lumen) fetched through lumen with the token it keeps.
  app.get<{ Params: { id: string } }>('/v1/media/:id', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    try {
      const record = await findMedia(request.params.id);
      const stored = record?.state === 'stored' && record.path ? localMediaPath(deps.mediaDir, record.path) : undefined;
      if (record && stored && (await stat(stored).then((info) => info.isFile(), () => false))) {
        reply.header('content-type', record.mimeType ?? 'application/octet-stream');
        if (record.size !== null) reply.header('content-length', String(record.size));
        return reply.send(createReadStream(stored));
      }
      if (!record && !/^\d{1,30}$/.test(request.params.id)) {
        // Meta's media ids are digits: anything else is no media of Meta's, nor of lumen's.
        return refuse(reply, 404, 'media_not_found', `No media "${request.params.id.slice(0, 80)}": a media id is digits (from a message's "media.id", or POST /v1/media).`);
      }
      const integration = integrationFor(record?.integrationId);
      const graph = await services.graphFor(integration);
      const info = await getMediaInfo(graph, request.params.id);
      const tmp = join(tmpdir(), `lumen-media-${randomBytes(8).toString('hex')}`);
      // (A download cut off — over the size cap, a broken connection — leaves no part of it behind.)
      const file = await graph.download(info.url, tmp, deps.mediaMaxBytes ?? DEFAULT_MEDIA_MAX_BYTES).catch(async (error: unknown) => {
        await rm(tmp, { force: true });
        throw error;
      });
      reply.header('content-type', info.mime_type ?? file.contentType ?? 'application/octet-stream');
      reply.header('content-length', String(file.size));
      const stream = createReadStream(tmp);
      stream.on('close', () => void rm(tmp, { force: true }));
      return reply.send(stream);
    } catch (error) {
      return failed(reply, error);
    }
  });

  async function findMedia(mediaId: string) {
    for (const integration of deps.integrations()) {
      const record = await services.store.media.find(integration.id, mediaId);
      if (record) return record;
    }
    return undefined;
  }
}
