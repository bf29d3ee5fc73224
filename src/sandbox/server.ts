/** The sandbox's HTTP server: routing, auth and logging over node:http. Handlers live in *-routes.ts. */
import { timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleControlRequest, type ControlResult } from './control-routes.js';
import { SandboxGraphError, invalidAccessToken, unknownError, unsupportedRequest } from './errors.js';
import { handleGraphRequest, type GraphResult } from './graph-routes.js';
import { BODY_LIMIT_BYTES, parseRequestBody, readBody, sendJson } from './http.js';
import { postInbound, type SandboxInboundSpec } from './inbound.js';
import { UPLOAD_BODY_LIMIT_BYTES, downloadMedia, parseMultipart } from './media.js';
import {
  SANDBOX_ACCESS_TOKEN,
  SANDBOX_APP_SECRET,
  SANDBOX_DEFAULT_MAX_PAGE_SIZE,
  SANDBOX_WEBHOOK_DISPLAY_PHONE_NUMBER,
  seedTemplates,
} from './seed.js';
import { statusPayload, type NumberInfo, type StatusSpec } from './payloads.js';
import { SandboxState } from './state.js';
import { WebhookSender, type WebhookDelivery } from './webhooks.js';
import type {
  ReadReceipt,
  SandboxFault,
  SandboxMediaFault,
  SandboxMediaInfo,
  SandboxStatus,
  SandboxTemplate,
  SentMessage,
} from './types.js';

export interface SandboxOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Cap on `message_templates` page size; small by default so clients must follow `paging.next`. */
  maxPageSize?: number;
  accessToken?: string;
  appSecret?: string;
  /** Whether the app starts subscribed to the WABA (default false, like a fresh Meta setup). */
  subscribed?: boolean;
  /** Replaces the seed templates. */
  templates?: SandboxTemplate[];
  /** One line per request; never contains the token. */
  log?: (line: string) => void;
  /** Where to post webhooks (statuses after each accepted send, inbound messages on request). */
  webhookUrl?: string;
  /** Delay before the `sent` status; `delivered` and `read` follow at two and three times it. Default 200 ms. */
  webhookDelayMs?: number;
  /** First webhook retry delay (doubling). Default 250 ms. */
  webhookRetryBaseMs?: number;
  /** The sandbox's clock in ms since the epoch (media URL expiry, recorded times); default Date.now. */
  now?: () => number;
  /** How long media URLs from `GET /{media-id}` stay valid; default 5 minutes, as Meta's. */
  mediaUrlTtlMs?: number;
  /** Scopes `GET /debug_token` reports for the access token (default both WhatsApp scopes). */
  tokenScopes?: string[];
  /** Keep the webhook configuration (Callback URLs, subscription) in this JSON file across restarts. */
  stateFile?: string;
}

export interface SandboxHandle {
  /** e.g. 'http://127.0.0.1:4010', no trailing slash; use as the Graph base URL. */
  url: string;
  port: number;
  accessToken: string;
  appSecret: string;
  phoneNumberId: string;
  wabaId: string;
  /** Recorded sends, oldest first; `to` filters by recipient digits (or a user id sent to by `recipient`). */
  sent(to?: string): SentMessage[];
  /** Recorded read receipts and typing indicators, oldest first. */
  reads(): ReadReceipt[];
  /** Media the sandbox holds (uploaded and inbound), without the bytes. */
  media(): SandboxMediaInfo[];
  /** Stores a file as if it had been uploaded (`POST /{phone-number-id}/media`), without Meta's checks. */
  addMedia(bytes: Buffer, mimeType: string, filename?: string): SandboxMediaInfo;
  /** Expires every media URL issued so far (or those of one media id); returns how many were still valid. */
  expireMediaUrls(id?: string): number;
  /** Makes the next lookups (`info`) or downloads (`download`) of a media id (or of any) fail with a 5xx. */
  addMediaFault(fault: SandboxMediaFault): void;
  addFault(fault: SandboxFault): void;
  /** Clears sends, read receipts, media and faults, and restores the initial subscription. */
  reset(): void;
  addTemplates(templates: SandboxTemplate[]): void;
  status(): SandboxStatus;
  /** Sets the app's Callback URL (e.g. a relay's webhook URL); `undefined` removes it. Overrides win over it. */
  setWebhookUrl(url: string | undefined): void;
  /**
   * Posts inbound messages as one signed webhook delivery, the way Meta reports a user writing. Media types get
   * media the sandbox serves (the default small file, or `data`).
   */
  sendInbound(specs: SandboxInboundSpec[]): WebhookDelivery | undefined;
  /** Posts a status webhook (e.g. a `failed` for a message). */
  sendStatus(specs: StatusSpec[]): WebhookDelivery | undefined;
  /** Where webhooks go now: the number's override, else the WABA's, else the app's Callback URL. */
  webhookTarget(): string | undefined;
  /** Webhook deliveries so far, with their attempts and results. */
  webhooks(): WebhookDelivery[];
  /** Resolves when no webhook delivery is under way. */
  webhooksIdle(): Promise<void>;
  /** Stops listening and closes every connection, keep-alive ones included. */
  close(): Promise<void>;
}

const VERSION = /^v\d+\.\d+$/;
const CONTROL_PREFIX = '/_sandbox/';
/** Media downloads: token-protected like Graph, so served to any peer (not only loopback, unlike control routes). */
const MEDIA_DOWNLOAD = /^\/_sandbox\/media\/(\d+)$/;

interface RequestContext {
  state: SandboxState;
  maxPageSize: number;
  ownOrigin: string;
  /** Whether it listens on a loopback address: then only a Host naming loopback is answered (DNS rebinding). */
  loopbackOnly: boolean;
  webhooks?: WebhookSender;
  number?: NumberInfo;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<SandboxHandle> {
  const maxPageSize = options.maxPageSize ?? SANDBOX_DEFAULT_MAX_PAGE_SIZE;
  if (!Number.isInteger(maxPageSize) || maxPageSize < 1) throw new RangeError('maxPageSize must be an integer ≥ 1.');
  if (options.mediaUrlTtlMs !== undefined && !(options.mediaUrlTtlMs > 0)) throw new RangeError('mediaUrlTtlMs must be > 0.');
  const state = new SandboxState({
    accessToken: options.accessToken ?? SANDBOX_ACCESS_TOKEN,
    appSecret: options.appSecret ?? SANDBOX_APP_SECRET,
    subscribed: options.subscribed ?? false,
    templates: options.templates ?? seedTemplates(),
    ...(options.now ? { now: options.now } : {}),
    ...(options.mediaUrlTtlMs !== undefined ? { mediaUrlTtlMs: options.mediaUrlTtlMs } : {}),
    ...(options.tokenScopes ? { tokenScopes: options.tokenScopes } : {}),
  });
  if (options.stateFile) {
    // Meta keeps Callback URLs and the subscription: so does `lumen sandbox start`, across restarts.
    const saved = loadWebhookState(options.stateFile);
    state.appCallbackUrl = saved.appCallbackUrl;
    state.wabaCallbackOverride = saved.wabaCallbackOverride;
    state.phoneCallbackOverride = saved.phoneCallbackOverride;
    if (saved.subscribed !== undefined) state.subscribed = saved.subscribed;
    const file = options.stateFile;
    state.onConfigChange = () => saveWebhookState(file, state);
  }
  if (options.webhookUrl !== undefined) state.setAppCallbackUrl(options.webhookUrl);
  const host = options.host ?? '127.0.0.1';
  const context: RequestContext = { state, maxPageSize, ownOrigin: '', loopbackOnly: isLoopbackAddress(host) };
  const log = options.log;

  const server = createServer((req, res) => {
    void handleRequest(req, res, context, log);
  });
  await listen(server, options.port ?? 0, host);
  const { port } = server.address() as AddressInfo;
  const url = `http://${urlHost(host)}:${port}`;
  context.ownOrigin = url;

  const webhooks = new WebhookSender({
    target: () => state.webhookTarget(),
    appSecret: state.appSecret,
    retryBaseMs: options.webhookRetryBaseMs,
    log,
  });
  context.webhooks = webhooks;
  const number = {
    wabaId: state.wabaId,
    phoneNumberId: state.phoneNumber.id,
    displayPhoneNumber: SANDBOX_WEBHOOK_DISPLAY_PHONE_NUMBER,
  };
  context.number = number;
  // Like Meta: after a send is accepted, the message is sent, delivered and read, each reported by a webhook.
  const delay = options.webhookDelayMs ?? 200;
  state.onEvent((event) => {
    if (event.type !== 'message.accepted' || event.message.outcome.result !== 'accepted') return;
    const { wamid } = event.message.outcome;
    // A send to a user id (by `recipient`) is reported with recipient_user_id and no recipient_id.
    const { userId } = event.message;
    const recipient = userId === undefined ? (event.message.waId ?? '') : '';
    const pricing = pricingOf(state, event.message.body);
    (['sent', 'delivered', 'read'] as const).forEach((status, i) => {
      const spec: StatusSpec = { wamid, status, recipient, pricing, ...(userId !== undefined ? { recipientUserId: userId } : {}) };
      webhooks.send(`status.${status}`, statusPayload(number, [spec]), delay * (i + 1));
    });
  });

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    accessToken: state.accessToken,
    appSecret: state.appSecret,
    phoneNumberId: state.phoneNumber.id,
    wabaId: state.wabaId,
    sent: (to) => state.sent(to),
    reads: () => state.readReceipts(),
    media: () => state.media.list(),
    addMedia: (bytes, mimeType, filename) => state.media.add(bytes, mimeType, 'upload', filename),
    expireMediaUrls: (id) => state.media.expireUrls(id),
    addMediaFault: (fault) => {
      state.media.addFault(fault);
    },
    addFault: (fault) => state.addFault(fault),
    reset: () => state.reset(),
    addTemplates: (templates) => state.addTemplates(templates),
    status: () => state.status(),
    setWebhookUrl: (webhookUrl) => state.setAppCallbackUrl(webhookUrl),
    sendInbound: (specs) => postInbound(state, webhooks, number, specs)?.delivery,
    sendStatus: (specs) => webhooks.send('status', statusPayload(number, specs)),
    webhookTarget: () => state.webhookTarget(),
    webhooks: () => webhooks.list(),
    webhooksIdle: () => webhooks.idle(),
    close: () => {
      closing ??= webhooks.close().then(() => new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }));
      return closing;
    },
  };
}

/** How Meta prices a sent message: a template by its category (billable), anything else as free service. */
function pricingOf(state: SandboxState, body: unknown): NonNullable<StatusSpec['pricing']> {
  const request = (typeof body === 'object' && body !== null ? body : {}) as { type?: unknown; template?: { name?: unknown; language?: { code?: unknown } } };
  if (request.type !== 'template') return { category: 'service', billable: false };
  const template = state.findTemplate(String(request.template?.name ?? ''), String(request.template?.language?.code ?? ''));
  return { category: String(template?.category ?? 'utility').toLowerCase(), billable: true };
}

interface SavedWebhookState {
  appCallbackUrl?: string;
  wabaCallbackOverride?: string;
  phoneCallbackOverride?: string;
  subscribed?: boolean;
}

function loadWebhookState(file: string): SavedWebhookState {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (parsed === null || typeof parsed !== 'object') return {};
    const saved = parsed as Record<string, unknown>;
    const url = (v: unknown) => (typeof v === 'string' && /^https?:\/\/\S+$/.test(v) ? v : undefined);
    const result: SavedWebhookState = {};
    const app = url(saved.appCallbackUrl);
    const waba = url(saved.wabaCallbackOverride);
    const phone = url(saved.phoneCallbackOverride);
    if (app) result.appCallbackUrl = app;
    if (waba) result.wabaCallbackOverride = waba;
    if (phone) result.phoneCallbackOverride = phone;
    if (typeof saved.subscribed === 'boolean') result.subscribed = saved.subscribed;
    return result;
  } catch {
    return {};
  }
}

function saveWebhookState(file: string, state: SandboxState): void {
  const saved: SavedWebhookState = {
    ...(state.appCallbackUrl ? { appCallbackUrl: state.appCallbackUrl } : {}),
    ...(state.wabaCallbackOverride ? { wabaCallbackOverride: state.wabaCallbackOverride } : {}),
    ...(state.phoneCallbackOverride ? { phoneCallbackOverride: state.phoneCallbackOverride } : {}),
    subscribed: state.subscribed,
  };
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  } catch {
    // Best effort: the sandbox keeps working with what it holds in memory.
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  context: RequestContext,
  log: ((line: string) => void) | undefined,
): Promise<void> {
  const started = performance.now();
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
  let status: number;
  const refusal = webPageRefusal(req, context);
  if (refusal) {
    sendJson(res, 403, { error: { message: refusal, type: 'OAuthException', code: 10 } });
    log?.(`${method} ${loggablePath(url)} 403 (${refusal})`);
    return;
  }
  try {
    const download = method === 'GET' || method === 'HEAD' ? MEDIA_DOWNLOAD.exec(url.pathname) : null;
    if (download) {
      const result = downloadMedia(context.state.media, download[1]!, url.searchParams, req.headers.authorization, context.state.accessToken);
      status = result.status;
      res.writeHead(result.status, result.headers);
      res.end(method === 'HEAD' ? undefined : result.body);
      log?.(`${method} ${url.pathname} ${status} ${Math.round(performance.now() - started)}ms`);
      return;
    }
    const result = url.pathname.startsWith(CONTROL_PREFIX)
      ? await routeControl(req, method, url, context)
      : await routeGraph(req, method, url, context);
    status = result.status;
    sendJson(res, result.status, result.body);
  } catch (error) {
    const graphError = error instanceof SandboxGraphError ? error : unknownError();
    if (graphError !== error) log?.(`sandbox: internal error: ${error instanceof Error ? error.message : String(error)}`);
    status = graphError.status;
    // After a 413 the rest of the body is unread: close rather than parse it as the next request.
    sendJson(res, status, { error: graphError.body }, status === 413 ? { connection: 'close' } : {});
  }
  log?.(`${method} ${loggablePath(url)} ${status} ${Math.round(performance.now() - started)}ms`);
}

/** A loopback name or address, exactly (a name like 127.0.0.1.example.com, which DNS may point anywhere, is not). */
function isLoopbackAddress(host: string): boolean {
  const name = host.toLowerCase();
  return name === 'localhost' || name === '[::1]' || name === '::1' || /^127(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(name);
}

/**
 * Why a request that a web page made is refused, or null. Its control routes take no auth and inject signed
 * webhooks, so a page the developer visits must not reach it: a request from another origin (its Origin header), or
 * one to a name that is not loopback while the sandbox listens on loopback (a page whose name was rebound to
 * 127.0.0.1) is answered 403. Programs send no Origin.
 */
function webPageRefusal(req: IncomingMessage, context: RequestContext): string | null {
  const host = req.headers.host ?? '';
  const hostName = host.replace(/:\d+$/, '');
  if (context.loopbackOnly && !isLoopbackAddress(hostName)) return `The sandbox answers only for a loopback Host, not "${host.slice(0, 100)}".`;
  const origin = req.headers.origin;
  if (origin === undefined) return null;
  let originHost: string | null = null;
  try {
    originHost = new URL(origin).host;
  } catch {}
  return originHost === host ? null : 'The sandbox does not answer web pages of other origins.';
}

async function routeControl(
  req: IncomingMessage,
  method: string,
  url: URL,
  context: RequestContext,
): Promise<ControlResult> {
  if (!isLoopback(req.socket.remoteAddress)) {
    return { status: 403, body: { error: { message: 'The sandbox control API only answers loopback clients.' } } };
  }
  const body = method === 'GET' ? {} : parseRequestBody(await readBody(req), req.headers['content-type'], true);
  const route = url.pathname.slice(CONTROL_PREFIX.length).replace(/\/+$/, '');
  return handleControlRequest(context.state, method, route, url.searchParams, body, {
    webhooks: context.webhooks!,
    number: context.number!,
  });
}

async function routeGraph(req: IncomingMessage, method: string, url: URL, context: RequestContext): Promise<GraphResult> {
  // Meta checks the token before it looks at the path.
  if (!hasValidToken(req, url, context.state.accessToken)) throw invalidAccessToken();
  const segments = url.pathname.split('/').filter((s) => s !== '');
  const [version, objectId, edge] = segments;
  if (version === undefined || !VERSION.test(version)) {
    // No version segment: lumen must always send one, so refuse rather than guess a default like Meta does.
    throw unsupportedRequest(method, version ?? '');
  }
  if (objectId === undefined || segments.length > 3) throw unsupportedRequest(method, objectId ?? '');
  const body = method === 'GET' ? {} : await readGraphBody(req, method === 'POST' && edge === 'media');
  return await handleGraphRequest(
    context.state,
    { method, version, objectId, edge, query: url.searchParams, body, origin: requestOrigin(req, context.ownOrigin) },
    { maxPageSize: context.maxPageSize },
  );
}

/** JSON or form parameters; multipart/form-data too (a MultipartBody for uploads, which may be up to ~100 MB). */
async function readGraphBody(req: IncomingMessage, upload: boolean): Promise<unknown> {
  const raw = await readBody(req, upload ? UPLOAD_BODY_LIMIT_BYTES : BODY_LIMIT_BYTES);
  const contentType = req.headers['content-type'];
  if (contentType?.toLowerCase().startsWith('multipart/form-data')) {
    const form = parseMultipart(raw, contentType);
    // Outside uploads, a multipart body is only parameters, like a form.
    return upload ? form : Object.fromEntries(form.fields);
  }
  return parseRequestBody(raw, contentType);
}

/** `Authorization: Bearer <token>`, or Graph's `access_token` query parameter. */
function hasValidToken(req: IncomingMessage, url: URL, expected: string): boolean {
  const header = req.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  const presented = match?.[1] ?? url.searchParams.get('access_token');
  if (presented === null || presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Paging links point where the client connected (the Host header), falling back to the listen address. */
function requestOrigin(req: IncomingMessage, ownOrigin: string): string {
  const host = req.headers.host;
  return host !== undefined && /^[A-Za-z0-9.\-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$/.test(host)
    ? `http://${host}`
    : ownOrigin;
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** The path and query, with any access_token blanked: logs never carry credentials. */
function loggablePath(url: URL): string {
  const query = new URLSearchParams(url.searchParams);
  if (query.has('access_token')) query.set('access_token', '[redacted]');
  const search = query.toString();
  return search === '' ? url.pathname : `${url.pathname}?${search}`;
}
