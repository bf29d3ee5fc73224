/**
 * The browser console under /console: live deliveries, conversations, approvals, deliveries to the user's code,
 * templates and the relay's own state. Loopback only (and only for a Host naming loopback, against DNS rebinding),
 * with the console token (from `?token=`, exchanged once for an HttpOnly SameSite=Strict cookie, or a Bearer header),
 * compared in constant time; every write is a POST carrying the CSRF token from the same origin. Pages are rendered
 * on the server with every value escaped; a little script adds the live feed.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UserError } from '../../errors.js';
import { GraphError } from '../../graph/errors.js';
import type { ServiceDeps } from '../../services/deps.js';
import { localMediaPath } from '../../services/messages/media-path.js';
import type { DispatchState, Integration, Interaction, Workspace } from '../../store/types.js';
import type { DeliveryLog } from '../deliveries.js';
import type { DeliveryResult, DispatchTarget } from '../dispatch.js';
import type { Replier } from '../replies.js';
import { FORWARDING_HEADERS, isLoopbackHost } from '../local-api.js';
import { FollowerSlots, followerWriter, TOO_MANY_FOLLOWERS } from '../follower.js';
import { SESSION_TTL_MS, sessionValid, sessionValue, SignInCodes } from './sign-in.js';
import * as data from './data.js';
import { page, type PageFrame } from './html.js';
import * as views from './views.js';

export interface ConsoleDeps {
  token: string;
  services: ServiceDeps;
  deliveries: DeliveryLog;
  startedAt: Date;
  /** Where the relay listens and its public URL, once known. */
  info(): { url: string | null; publicUrl: string | null };
  /** The relay's consumer (--forward-to / --exec), for a replay with edited JSON. */
  target?: DispatchTarget | undefined;
  /** Wakes the dispatcher after "retry now". */
  wake?: (() => void) | undefined;
  /** Sends what your code answers to a replay from the console, as the relay sends its replies. */
  replier?: Replier | undefined;
  /** After a replay from the console: the relay shows what an `--exec` command printed, as for its own deliveries. */
  onAttempt?: ((interaction: Interaction, result: DeliveryResult) => void) | undefined;
  /** LUMEN_HOME/media: the only folder media previews are served from. */
  mediaDir: string;
}

export const CONSOLE_COOKIE = 'lumen_console';

/** One cookie per port: two relays on one machine (two LUMEN_HOMEs) each keep their own sign-in. */
function cookieName(request: FastifyRequest): string {
  const port = /:(\d+)$/.exec(request.headers.host ?? '')?.[1];
  return port ? `${CONSOLE_COOKIE}_${port}` : CONSOLE_COOKIE;
}
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "media-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ASSETS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'assets');
const ASSETS: Record<keyof PageFrame['assets'], string> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** The CSRF token forms carry: derived from the console token, so it needs no storage and changes with it. */
export function csrfToken(token: string): string {
  return createHmac('sha256', token).update('lumen-console-csrf').digest('base64url');
}

function sameSecret(given: string, expected: Buffer): boolean {
  // Hashes have one length, so the comparison takes the same time whatever was given.
  return timingSafeEqual(createHash('sha256').update(given).digest(), expected);
}

function isLoopback(address: string | undefined): boolean {
  const a = address ?? '';
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined; // a malformed escape (`%E0%A4%A`) is no token: signed out, not a 500
      }
    }
  }
  return undefined;
}

export function registerConsole(app: FastifyInstance, deps: ConsoleDeps, followers = new FollowerSlots()): void {
  const expected = createHash('sha256').update(deps.token).digest();
  const codes = new SignInCodes(deps.token);
  const csrf = csrfToken(deps.token);
  const csrfDigest = createHash('sha256').update(csrf).digest();
  const { services } = deps;
  const assets = new Map(Object.keys(ASSETS).map((name) => [name, readFileSync(join(ASSETS_DIR, name))]));
  // Each page names its stylesheet and script with a digest of their bytes, so the browser keeps them for good and
  // asks again only when they change: a navigation then waits on no request but the page's own (the stylesheet blocks
  // the first paint, and `no-cache` without a validator fetched it whole on every page).
  const versions = new Map([...assets].map(([name, body]) => [name, createHash('sha256').update(body).digest('hex').slice(0, 12)]));
  const assetHrefs = Object.fromEntries([...versions].map(([name, v]) => [name, `/console/assets/${name}?v=${v}`])) as PageFrame['assets'];
  const streams = new Set<FastifyReply>();

  const secure = (reply: FastifyReply) =>
    reply
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      // Not no-referrer: browsers then send `Origin: null` with form posts, which the CSRF check refuses.
      .header('referrer-policy', 'same-origin')
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'no-store');

  const plain = (reply: FastifyReply, status: number, text: string) =>
    secure(reply).code(status).type('text/plain; charset=utf-8').send(text);

  /** Loopback, no forwarding header and a loopback Host; else the answer is sent and false returned. */
  const fromThisMachine = (request: FastifyRequest, reply: FastifyReply): boolean => {
    if (!isLoopback(request.socket.remoteAddress) || FORWARDING_HEADERS.some((h) => request.headers[h] !== undefined)) {
      void plain(reply, 403, 'The console answers only on this machine, never through a tunnel or proxy.');
      return false;
    }
    if (!isLoopbackHost(request.headers.host)) {
      void plain(reply, 403, 'Open the console at 127.0.0.1 (the address `lumen console` prints).');
      return false;
    }
    return true;
  };

  /** From this machine (above) with the token; else the answer is sent and false returned. */
  const allowed = (request: FastifyRequest, reply: FastifyReply): boolean => {
    if (!fromThisMachine(request, reply)) return false;
    const header = request.headers.authorization ?? '';
    const ok = header.startsWith('Bearer ')
      ? sameSecret(header.slice(7), expected)
      : sessionValid(deps.token, cookieValue(request.headers.cookie, cookieName(request)) ?? '', services.now().getTime());
    if (!ok) {
      void plain(reply, 401, 'The console needs its token: open the URL `lumen console` prints.');
      return false;
    }
    return true;
  };

  /** A write: from this console's own pages (same origin, the CSRF token); else 403 and false. */
  const writeAllowed = (request: FastifyRequest, reply: FastifyReply, form: URLSearchParams): boolean => {
    const origin = request.headers.origin;
    const site = request.headers['sec-fetch-site'];
    const token = String(request.headers['x-lumen-csrf'] ?? form.get('_csrf') ?? '');
    const sameOrigin = origin === undefined || origin === `http://${request.headers.host ?? ''}`;
    const sameSite = site === undefined || site === 'same-origin' || site === 'none';
    if (!sameOrigin || !sameSite || !sameSecret(token, csrfDigest)) {
      void plain(reply, 403, 'Refused: console actions come only from the console itself (CSRF token or origin missing or wrong).');
      return false;
    }
    return true;
  };

  const formOf = (request: FastifyRequest) => new URLSearchParams(Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '');

  const frame = async (request: FastifyRequest, view: PageFrame['view'], title: string): Promise<{ frame: PageFrame; workspace: Workspace }> => {
    const q = request.query as Record<string, string | undefined>;
    const { workspace, names } = await data.chooseWorkspace(services, q.ws);
    const counts = await data.queueDepth(services, workspace);
    // A workspace that is not there (a stale link, a typo) is said, not shown as another one without a word.
    const unknown = q.ws !== undefined && q.ws !== workspace.name ? `No workspace "${q.ws}": this is ${workspace.name}.` : undefined;
    return {
      workspace,
      frame: { title, view, csrf, notice: q.notice, error: q.error ?? unknown, workspace: workspace.name, workspaces: names, counts, assets: assetHrefs },
    };
  };

  const send = (reply: FastifyReply, body: { value: string }) => secure(reply).type('text/html; charset=utf-8').send(body.value);

  /** After a POST: back to the page, with what happened (escaped when shown). */
  const back = (reply: FastifyReply, to: string, outcome: { notice?: string; error?: string }) => {
    const url = new URL(to, 'http://console.invalid');
    if (outcome.notice) url.searchParams.set('notice', outcome.notice);
    if (outcome.error) url.searchParams.set('error', outcome.error);
    return secure(reply).code(303).header('location', `${url.pathname}${url.search}`).send();
  };

  const explain = (error: unknown): string => {
    if (error instanceof UserError) return error.hint ? `${error.message} ${error.hint}` : error.message;
    if (error instanceof GraphError) return error.message;
    throw error;
  };

  // Static assets: public (no token), still loopback only.
  app.get<{ Params: { name: string }; Querystring: { v?: string } }>('/console/assets/:name', async (request, reply) => {
    if (!isLoopback(request.socket.remoteAddress)) return plain(reply, 403, 'Loopback only.');
    const name = request.params.name as keyof PageFrame['assets'];
    const body = assets.get(name);
    if (!body) return plain(reply, 404, 'No such file.');
    const current = request.query.v === versions.get(name);
    return reply
      .header('content-type', ASSETS[name])
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', current ? 'private, max-age=31536000, immutable' : 'no-cache')
      .send(body);
  });

  app.get('/console/', async (_request, reply) => reply.code(308).header('location', '/console').send());

  // The first visit carries ?token= (or a one-time ?code= that `lumen console` made from it): it becomes a cookie
  // and leaves the address bar.
  app.get<{ Querystring: Record<string, string | undefined> }>('/console', async (request, reply) => {
    const { token, code, ...rest } = request.query;
    if (token !== undefined || code !== undefined) {
      if (!fromThisMachine(request, reply)) return reply;
      if (token !== undefined && !sameSecret(token, expected)) return plain(reply, 401, 'Wrong console token: open the URL `lumen console` prints.');
      if (token === undefined && !codes.take(code!, services.now().getTime())) {
        return plain(reply, 401, 'This sign-in link was used already or has expired (it lasts a minute): run `lumen console` again.');
      }
      const search = new URLSearchParams(rest as Record<string, string>).toString();
      return secure(reply)
        .code(303)
        .header(
          'set-cookie',
          `${cookieName(request)}=${sessionValue(deps.token, services.now().getTime())}; Path=/console; Max-Age=${SESSION_TTL_MS / 1000}; HttpOnly; SameSite=Strict`,
        )
        .header('location', `/console${search ? `?${search}` : ''}`)
        .send();
    }
    if (!allowed(request, reply)) return reply;
    const { frame: f } = await frame(request, 'live', 'Live deliveries');
    const filter = { kind: rest.kind, number: rest.number, text: rest.text };
    const before = rest.before ? Number(rest.before) : undefined;
    const records = deps.deliveries.list({ ...filter, before, limit: data.PAGE_SIZE });
    return send(reply, page(f, views.live(records, filter, data.PAGE_SIZE)));
  });

  // Server-sent events: each delivery as it is answered.
  app.get('/console/stream', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const release = followers.take();
    if (!release) return reply.code(503).header('retry-after', '5').type('text/plain; charset=utf-8').send(TOO_MANY_FOLLOWERS(followers.max));
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    });
    raw.write('retry: 2000\n\n');
    // A tab that stops reading is not held every delivery (up to 20 KB each, unsigned ones too): past 1 MiB behind,
    // rows are skipped until it catches up, and it is told (`event: skipped`, the page then offers a reload).
    const write = followerWriter(raw, (count) => `event: skipped\ndata: ${count}\n\n`);
    const unsubscribe = deps.deliveries.subscribe((record) => {
      write(`event: delivery\ndata: ${JSON.stringify(views.deliveryRow(record))}\n\n`);
    });
    // Idle sockets are closed after 30 s: a comment now and then keeps the stream open.
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
    heartbeat.unref();
    streams.add(reply);
    const end = () => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(reply);
      release();
    };
    raw.on('close', end);
  });
  // Open streams would keep the relay from closing: end them first.
  app.addHook('preClose', (done) => {
    for (const stream of streams) stream.raw.end();
    done();
  });

  app.get<{ Params: { id: string } }>('/console/deliveries/:id', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const { frame: f } = await frame(request, 'live', `Delivery ${request.params.id}`);
    const record = deps.deliveries.get(Number(request.params.id));
    if (!record) return send(reply.code(404), page(f, views.missing('That delivery is no longer kept (the feed keeps the latest ones).')));
    return send(reply, page(f, views.delivery(record)));
  });

  app.get<{ Params: { id: string } }>('/console/deliveries/:id/file', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const record = deps.deliveries.get(Number(request.params.id));
    if (!record) return plain(reply, 404, 'That delivery is no longer kept.');
    return download(reply, `delivery-${record.id}.json`, record.body);
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/console/conversations', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const { frame: f, workspace } = await frame(request, 'conversations', 'Conversations');
    const q = request.query;
    const before = q.at && q.integration && q.contact ? { lastInboundAt: q.at, integrationId: q.integration, contactId: q.contact } : undefined;
    const contacts = await data.contactsPage(services, workspace, before);
    return send(reply, page(f, views.conversations(contacts, services.now(), data.PAGE_SIZE, f)));
  });

  app.get<{ Params: { integration: string; contact: string }; Querystring: Record<string, string | undefined> }>(
    '/console/conversations/:integration/:contact',
    async (request, reply) => {
      if (!allowed(request, reply)) return reply;
      const { frame: f } = await frame(request, 'conversations', 'Conversation');
      const { integration, contact } = request.params;
      const convo = await data.conversation(services, integration, contact, request.query.before);
      if (!convo.contact && convo.items.length === 0) return send(reply.code(404), page(f, views.missing('No conversation with that contact.')));
      const key = `console:${randomBytes(12).toString('base64url')}`;
      return send(reply, page(f, views.conversation(convo, { integrationId: integration, contactId: contact }, request.query.template, key, f, data.PAGE_SIZE)));
    },
  );

  app.post<{ Params: { integration: string; contact: string } }>('/console/conversations/:integration/:contact/send', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const form = formOf(request);
    if (!writeAllowed(request, reply, form)) return reply;
    const { integration, contact } = request.params;
    const here = `/console/conversations/${encodeURIComponent(integration)}/${encodeURIComponent(contact)}`;
    const template = form.get('template');
    const [name, language] = (template ?? '').split('|');
    try {
      const result = await data.sendFromConsole(services, {
        integrationId: integration,
        contactId: contact,
        idempotencyKey: form.get('idempotency_key') || `console:${randomBytes(12).toString('base64url')}`,
        ...(template
          ? { template: { name: name ?? '', language: language ?? '', values: form.getAll('param') } }
          : { text: form.get('text') ?? '' }),
      });
      const notice =
        result.outcome === 'pending_approval'
          ? `Held: ${result.message.id} is waiting for approval.`
          : result.outcome === 'already_sent'
            ? `Already sent (${result.message.id}).`
            : `Sent ${result.message.id}.`;
      return back(reply, here, { notice });
    } catch (error) {
      return back(reply, template ? `${here}?template=${encodeURIComponent(template)}` : here, { error: explain(error) });
    }
  });

  app.get<{ Params: { id: string } }>('/console/messages/:id/file', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const interaction = await services.store.inbox.findInteraction(request.params.id);
    if (!interaction) return plain(reply, 404, 'No such stored message.');
    const integration = await services.store.integrations.findById(interaction.integrationId);
    return download(reply, `delivery-${interaction.id}.json`, Buffer.from(data.deliveryFileFor(interaction, integration)));
  });

  // A received file, from LUMEN_HOME/media only.
  app.get<{ Params: { integration: string; media: string }; Querystring: { download?: string } }>(
    '/console/media/:integration/:media',
    async (request, reply) => {
      if (!allowed(request, reply)) return reply;
      const record = await services.store.media.find(request.params.integration, request.params.media);
      if (!record || record.state !== 'stored' || !record.path) return plain(reply, 404, 'That file is not stored (yet).');
      const path = localMediaPath(deps.mediaDir, record.path);
      if (!(await stat(path).then((info) => info.isFile(), () => false))) return plain(reply, 404, 'That file is not in LUMEN_HOME/media.');
      const type = record.mimeType ?? 'application/octet-stream';
      const inline = request.query.download === undefined && /^(image\/(png|jpeg|webp)|video\/mp4|audio\/(ogg|mpeg|mp4|aac))$/.test(type);
      secure(reply).header('content-type', inline ? type : 'application/octet-stream');
      if (!inline) reply.header('content-disposition', `attachment; filename="${(record.filename ?? record.mediaId).replace(/[^\w.-]/g, '_')}"`);
      if (record.size !== null) reply.header('content-length', String(record.size));
      return reply.send(createReadStream(path));
    },
  );

  app.get('/console/approvals', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const { frame: f, workspace } = await frame(request, 'approvals', 'Approvals');
    return send(reply, page(f, views.approvals(await data.pendingApprovals(services, workspace), f)));
  });

  app.post<{ Params: { id: string; decision: string } }>('/console/approvals/:id/:decision', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const form = formOf(request);
    if (!writeAllowed(request, reply, form)) return reply;
    const { workspace } = await data.chooseWorkspace(services, form.get('ws') ?? undefined);
    const to = `/console/approvals${form.get('ws') ? `?ws=${encodeURIComponent(form.get('ws')!)}` : ''}`;
    try {
      if (request.params.decision === 'approve') {
        const sent = await data.approve(services, workspace, request.params.id);
        return back(reply, to, { notice: `Approved and sent ${sent.id} (${sent.state}).` });
      }
      if (request.params.decision === 'reject') {
        const rejected = await data.reject(services, workspace, request.params.id, form.get('reason') ?? '');
        return back(reply, to, { notice: `Rejected ${rejected.id}.` });
      }
      return plain(reply, 404, 'No such decision.');
    } catch (error) {
      return back(reply, to, { error: explain(error) });
    }
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/console/events', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const { frame: f, workspace } = await frame(request, 'code', 'Your code');
    const state = ['pending', 'retrying', 'delivered', 'dropped'].includes(request.query.state ?? '') ? (request.query.state as DispatchState) : undefined;
    const before = request.query.before ? Number(request.query.before) : undefined;
    const events = await data.eventsPage(services, workspace, before, state);
    // The other queues on the first page of the list (their latest: `lumen events list` pages them all).
    const others = before === undefined && state === undefined ? await data.forwardsPage(services, workspace) : [];
    return send(reply, page(f, views.events(events, state, deps.target?.description ?? null, data.PAGE_SIZE, f, others)));
  });

  app.post<{ Params: { ref: string; action: string } }>('/console/forwards/:ref/:action', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const form = formOf(request);
    if (!writeAllowed(request, reply, form)) return reply;
    const { action, ref } = request.params;
    if (action !== 'drop' && action !== 'retry') return plain(reply, 404, 'No such action.');
    const { workspace } = await data.chooseWorkspace(services, form.get('ws') ?? undefined);
    const to = `/console/events${form.get('ws') ? `?ws=${encodeURIComponent(form.get('ws')!)}` : ''}`;
    try {
      if (!(await data.actOnForward(services, workspace, ref, action))) return plain(reply, 404, 'No such event in this workspace.');
      if (action === 'retry') deps.wake?.();
      return back(reply, to, { notice: action === 'retry' ? `${ref} is queued again: the relay delivers it now.` : `${ref} dropped: it will not be attempted again.` });
    } catch (error) {
      return back(reply, to, { error: explain(error) });
    }
  });

  app.get<{ Params: { id: string } }>('/console/events/:id', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const { frame: f, workspace } = await frame(request, 'code', `Event ${request.params.id}`);
    const detail = await data.eventDetail(services, workspace, Number(request.params.id));
    if (!detail) return send(reply.code(404), page(f, views.missing('No such event in this workspace.')));
    return send(reply, page(f, views.event(detail, deps.target?.description ?? null, f)));
  });

  app.post<{ Params: { id: string; action: string } }>('/console/events/:id/:action', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const form = formOf(request);
    if (!writeAllowed(request, reply, form)) return reply;
    const { workspace } = await data.chooseWorkspace(services, form.get('ws') ?? undefined);
    const detail = await data.eventDetail(services, workspace, Number(request.params.id));
    const to = `/console/events/${encodeURIComponent(request.params.id)}`;
    if (!detail) return plain(reply, 404, 'No such event in this workspace.');
    try {
      switch (request.params.action) {
        case 'retry':
          await data.retryEvent(services, detail.event);
          deps.wake?.();
          return back(reply, to, { notice: 'Queued again: the relay delivers it now.' });
        case 'drop':
          await data.dropEvent(services, detail.event);
          return back(reply, to, { notice: 'Dropped: it will not be attempted again (retry brings it back).' });
        case 'replay': {
          if (!detail.interaction) throw new UserError('Its message was purged; there is nothing to deliver.', { code: 'interaction_not_found', kind: 'not_found' });
          const result = await data.replayEdited(services, deps.target, detail.event, detail.interaction, form.get('json') ?? '', deps.replier);
          deps.onAttempt?.(detail.interaction, result);
          return back(
            reply,
            to,
            result.ok
              ? { notice: `Delivered to ${result.target} (${result.status ?? 'ok'}) in ${result.durationMs} ms.` }
              : { error: `Delivery to ${result.target} failed: ${result.error ?? 'no answer'}.` },
          );
        }
        default:
          return plain(reply, 404, 'No such action.');
      }
    } catch (error) {
      return back(reply, to, { error: explain(error) });
    }
  });

  app.get('/console/templates', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const { frame: f, workspace } = await frame(request, 'templates', 'Templates');
    return send(reply, page(f, views.templates(await data.templatesOf(services, workspace))));
  });

  app.get('/console/relay', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const { frame: f, workspace } = await frame(request, 'relay', 'Relay');
    const now = services.now();
    const numbers: Integration[] = await data.relayNumbers(services, workspace);
    const sends = await data.sendsPerMinute(services, workspace, 30);
    return send(
      reply,
      page(
        f,
        views.relay({
          now,
          startedAt: deps.startedAt,
          info: deps.info(),
          numbers,
          queue: f.counts as Awaited<ReturnType<typeof data.queueDepth>>,
          deliveries: deps.deliveries.perMinute(now, 30),
          sends,
          target: deps.target?.description ?? null,
        }),
      ),
    );
  });
}

function download(reply: FastifyReply, filename: string, body: Buffer) {
  return reply
    .header('content-type', 'application/json; charset=utf-8')
    .header('content-disposition', `attachment; filename="${filename}"`)
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-store')
    .send(body);
}
