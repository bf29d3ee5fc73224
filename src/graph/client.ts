import { Agent, FormData, request } from 'undici';
import { UserError } from '../errors.js';
import { GraphError, GraphNetworkError, MediaTooLargeError, makeRedactor } from './errors.js';
import { DEFAULT_RETRY_POLICY, retryDelay, type NetworkFailure, type RetryPolicy } from './retry.js';
import { connectTimeoutMs, DEFAULT_TIMEOUT_MS } from './timeouts.js';
import type { GraphErrorBody, GraphPaged } from './types.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface GraphClientOptions {
  baseUrl: string;
  version: string;
  accessToken: string;
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** Injected for tests (fake clock) — defaults to a real timer. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onRetry?: (info: { request: string; attempt: number; delayMs: number; reason: string }) => void;
  debug?: (line: string) => void;
}

export interface RequestOptions {
  /**
   * Retry Meta's transient errors (throttling, 5xx). Defaults to true for GET, false for POST. Network failures
   * are retried for GETs only: a POST whose connection broke may have reached Meta.
   */
  retry?: boolean;
  /**
   * The POST may be repeated whatever happened to the one before (subscribing the app): a 5xx page that is not
   * Meta's is retried too. Sends never are: Meta may have sent the message behind it.
   */
  idempotent?: boolean;
}

export interface GraphClient {
  readonly version: string;
  readonly baseUrl: string;
  get<T>(path: string, query?: Query, options?: RequestOptions): Promise<T>;
  post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T>;
  /** POST multipart/form-data (media uploads). Never retried on a broken connection, like every POST. */
  postForm<T>(path: string, form: FormData, options?: RequestOptions): Promise<T>;
  delete<T>(path: string): Promise<T>;
  /**
   * Downloads a media URL the Graph API handed out (it needs the access token too) into `file`, refusing more than
   * `maxBytes`; returns the size and the hex SHA-256 of what was written.
   */
  download(url: string, file: string, maxBytes: number): Promise<{ size: number; sha256: string; contentType: string | null }>;
  /** GET a list edge and follow `paging.next` until it is absent (a short page is not the end). */
  getAll<T>(path: string, query?: Query): Promise<T[]>;
  close(): Promise<void>;
}

const MAX_PAGES = 1000;

export function createGraphClient(options: GraphClientOptions): GraphClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const origin = new URL(baseUrl).origin;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const policy = options.retry ?? DEFAULT_RETRY_POLICY;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const redact = makeRedactor([options.accessToken]);
  const dispatcher = new Agent({ connect: { timeout: connectTimeoutMs(timeoutMs) }, keepAliveTimeout: 5_000 });

  function urlFor(path: string, query?: Query): URL {
    const url = new URL(`${baseUrl}/${options.version}/${path.replace(/^\/+/, '')}`);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  async function send<T>(method: 'GET' | 'POST' | 'DELETE', url: URL, body: unknown, retry: boolean, idempotent = method === 'GET'): Promise<T> {
    const label = `${method} ${url.pathname}`;
    for (let attempt = 1; ; attempt += 1) {
      let status: number;
      let text: string;
      let retryAfter: string | string[] | undefined;
      try {
        options.debug?.(`graph → ${label}`);
        const response = await request(url, {
          method,
          dispatcher,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
          headers: {
            authorization: `Bearer ${options.accessToken}`,
            accept: 'application/json',
            // A FormData body sets its own multipart content type (with the boundary).
            ...(body === undefined || body instanceof FormData ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
        });
        status = response.statusCode;
        retryAfter = response.headers['retry-after'];
        text = await response.body.text();
        options.debug?.(`graph ← ${label} ${status}`);
      } catch (error) {
        const failure = classifyNetworkError(error);
        // A POST whose connection broke may have reached Meta (a send could go out twice): only GETs are retried.
        const delay = retry && method === 'GET' ? retryDelay({ attempt, network: failure }, policy, options.random) : null;
        if (delay === null) throw networkError(failure, baseUrl, error, redact);
        options.onRetry?.({ request: label, attempt, delayMs: delay, reason: failure });
        await sleep(delay);
        continue;
      }

      const parsed = parseJson(text);
      if (status >= 200 && status < 300) {
        if (parsed === undefined) {
          throw new GraphError({ status, body: undefined, request: label, redact });
        }
        return parsed as T;
      }
      const graphError = new GraphError({ status, body: parsed as GraphErrorBody | undefined, request: label, redact });
      // A POST is tried again only on Meta's own error (it acted on nothing); a 5xx page from a proxy or gateway in
      // between may hide a send that went out.
      const delay = retry && (idempotent || !graphError.mayHaveArrived)
        ? retryDelay(
            { attempt, status, code: graphError.code, retryAfterSeconds: parseRetryAfter(retryAfter) },
            policy,
            options.random,
          )
        : null;
      if (delay === null) throw graphError;
      options.onRetry?.({ request: label, attempt, delayMs: delay, reason: `code ${graphError.code ?? status}` });
      await sleep(delay);
    }
  }

  return {
    version: options.version,
    baseUrl,
    get: (path, query, opts) => send('GET', urlFor(path, query), undefined, opts?.retry ?? true),
    post: (path, body, opts) => send('POST', urlFor(path), body, opts?.retry ?? false, opts?.idempotent ?? false),
    postForm: (path, form, opts) => send('POST', urlFor(path), form, opts?.retry ?? false),
    delete: (path) => send('DELETE', urlFor(path), undefined, false),
    async download(url, file, maxBytes) {
      const label = `GET media ${new URL(url).pathname.slice(0, 40)}`;
      let response: Awaited<ReturnType<typeof request>>;
      try {
        response = await request(url, {
          method: 'GET',
          dispatcher,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
          headers: { authorization: `Bearer ${options.accessToken}` },
        });
      } catch (error) {
        throw networkError(classifyNetworkError(error), baseUrl, error, redact);
      }
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const text = await response.body.text().catch(() => '');
        throw new GraphError({ status: response.statusCode, body: parseJson(text) as GraphErrorBody | undefined, request: label, redact });
      }
      const declared = Number(response.headers['content-length'] ?? NaN);
      if (Number.isFinite(declared) && declared > maxBytes) {
        // Destroying the body makes it emit an abort error: with no listener, that would end the process.
        response.body.on('error', () => undefined);
        response.body.destroy();
        throw new MediaTooLargeError(declared, maxBytes);
      }
      const { createHash } = await import('node:crypto');
      const { createWriteStream } = await import('node:fs');
      const { pipeline } = await import('node:stream/promises');
      const hash = createHash('sha256');
      let size = 0;
      await pipeline(
        response.body,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            size += chunk.length;
            if (size > maxBytes) throw new MediaTooLargeError(size, maxBytes);
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(file, { mode: 0o600 }),
      );
      const type = response.headers['content-type'];
      return { size, sha256: hash.digest('hex'), contentType: typeof type === 'string' ? type : null };
    },
    async getAll<T>(path: string, query?: Query): Promise<T[]> {
      const items: T[] = [];
      let url: URL | undefined = urlFor(path, query);
      for (let page = 0; url !== undefined; page += 1) {
        if (page >= MAX_PAGES) {
          throw new UserError(`Gave up following paging.next after ${MAX_PAGES} pages of ${path}.`, {
            code: 'graph_too_many_pages',
            hint: 'Meta kept answering with another page; try again later.',
            kind: 'unavailable',
          });
        }
        const result: GraphPaged<T> = await send<GraphPaged<T>>('GET', url, undefined, true);
        items.push(...(Array.isArray(result.data) ? result.data : []));
        url = nextPageUrl(result.paging?.next, origin);
      }
      return items;
    },
    close: () => dispatcher.close(),
  };
}

/** `paging.next` is an absolute URL; follow it only on the same origin so the token never leaves it. */
function nextPageUrl(next: string | undefined, origin: string): URL | undefined {
  if (!next) return undefined;
  const url = new URL(next);
  if (url.origin !== origin) {
    throw new UserError(`paging.next points to another host (${url.origin}); lumen refuses to send the access token there.`, {
      code: 'graph_foreign_paging',
      hint: 'Check LUMEN_GRAPH_URL: the server there is not the Graph API it claims to be.',
    });
  }
  url.searchParams.delete('access_token');
  return url;
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  return Number.isFinite(seconds) ? seconds : undefined;
}

function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    const nested = (current as { errors?: unknown[] }).errors;
    if (Array.isArray(nested)) for (const inner of nested) codes.push(...errorCodes(inner));
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

export function classifyNetworkError(error: unknown): NetworkFailure {
  const codes = errorCodes(error);
  if (codes.includes('ECONNREFUSED')) return 'refused';
  if (codes.some((c) => c === 'ENOTFOUND' || c === 'EAI_AGAIN')) return 'dns';
  if (codes.some((c) => c.includes('TIMEOUT') || c === 'ETIMEDOUT')) return 'timeout';
  if (codes.some((c) => c === 'ECONNRESET' || c === 'UND_ERR_SOCKET' || c === 'EPIPE')) return 'reset';
  if (codes.some((c) => c.startsWith('ERR_TLS') || c.includes('CERT'))) return 'tls';
  return 'other';
}

const NETWORK_WORDS: Record<NetworkFailure, string> = {
  refused: 'connection refused',
  dns: 'host name not found',
  timeout: 'timed out',
  reset: 'connection reset',
  tls: 'TLS certificate problem',
  other: 'network error',
};

function networkError(failure: NetworkFailure, baseUrl: string, cause: unknown, redact: (t: string) => string) {
  const hint =
    baseUrl.startsWith('https://graph.facebook.com')
      ? 'Check your internet connection (or set LUMEN_GRAPH_URL to a running `lumen sandbox start`).'
      : `LUMEN_GRAPH_URL is ${baseUrl}: is the sandbox or proxy running there?`;
  return new GraphNetworkError(redact(`Cannot reach the Graph API at ${baseUrl} (${NETWORK_WORDS[failure]}).`), hint, cause, failure);
}
