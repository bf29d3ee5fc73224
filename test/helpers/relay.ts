/**
 * The one relay harness: `lumen relay start` (the built CLI) as a long-running child process on a real port, with
 * its NDJSON events or human lines to wait for; signed POSTs to it; a forward target standing for the user's code;
 * and the relay's signing secret. Payloads come from ./webhooks.ts, the home from ./home.ts.
 *
 * Every wait here is for an event or a state; its timeout is a safety net (SAFETY_NET_MS), not an expectation.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type RequestOptions,
  type Server,
} from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { signBody } from '../../src/relay/signature.js';
import { createFileSecretStore } from '../../src/secrets/index.js';
import { SAFETY_NET_MS } from './async.js';
import { BIN, runLumen } from './cli.js';

// ---------------------------------------------------------------------------------------------------------------
// HTTP to the relay

export interface HttpAnswer {
  status: number;
  contentType: string;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

/**
 * Opens one HTTP request over node:http; the caller writes the body. A response counts even when the server
 * answered before reading the whole body and closed the connection (the relay's 413): the write error that follows
 * is not the answer.
 */
function openRequest(url: string, options: RequestOptions): { req: ClientRequest; answer: Promise<HttpAnswer> } {
  let answered = false;
  let req!: ClientRequest;
  const answer = new Promise<HttpAnswer>((resolve, reject) => {
    req = httpRequest(url, { timeout: SAFETY_NET_MS, ...options }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} in time`)));
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
  });
  return { req, answer };
}

/**
 * A POST that announces a body of `length` bytes and sends none of it: the relay must refuse it from the headers
 * (413), before reading a byte, which is also what makes the answer arrive before any write could fail (EPIPE).
 */
export async function postAnnouncing(url: string, length: number, headers: Record<string, string>): Promise<HttpAnswer> {
  const { req, answer } = openRequest(url, { method: 'POST', agent: false, headers: { ...headers, 'content-length': String(length) } });
  req.flushHeaders();
  try {
    return await answer;
  } finally {
    req.destroy();
  }
}

export function request(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<HttpAnswer> {
  const { req, answer } = openRequest(url, { method: init.method ?? 'GET', headers: init.headers ?? {} });
  req.end(init.body);
  return answer;
}

/**
 * A POST that is still being sent: the headers and the first half of the body go out now, the rest when `finish()`
 * is called, which resolves with the answer. Uses its own connection.
 */
export function startSlowPost(url: string, body: Buffer, headers: Record<string, string>): { finish(): Promise<HttpAnswer> } {
  const { req, answer } = openRequest(url, {
    method: 'POST',
    agent: false,
    headers: { ...headers, 'content-length': String(body.length) },
  });
  answer.catch(() => {}); // observed by finish()
  const half = Math.floor(body.length / 2);
  req.flushHeaders();
  req.write(body.subarray(0, half));
  return {
    finish() {
      req.end(body.subarray(half));
      return answer;
    },
  };
}

/** POSTs `body` with Meta's signature header (computed with the app secret unless `headers` overrides it). */
export function postSigned(
  url: string,
  body: Buffer,
  appSecret: string,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(body, appSecret), ...headers },
    body,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Connecting the sandbox's number

export interface Connection {
  id: string;
  path: string;
  verifyToken: string;
}

/** `lumen whatsapp connect … --no-input --json` against the sandbox (secrets from the environment). */
export async function connectNumber(env: Record<string, string>, phoneNumberId: string, wabaId: string): Promise<Connection> {
  const result = await runLumen(
    ['whatsapp', 'connect', '--phone-number-id', phoneNumberId, '--waba-id', wabaId, '--label', 'Care line', '--no-input', '--json'],
    { env },
  );
  if (result.exitCode !== 0) throw new Error(`connect failed (${result.exitCode}): ${result.stdout}${result.stderr}`);
  const json = JSON.parse(result.stdout);
  return { id: json.id, path: json.webhook.path, verifyToken: json.webhook.verifyToken };
}

// ---------------------------------------------------------------------------------------------------------------
// The relay as a child process

export type RelayEvent = Record<string, any> & { event: string };

export interface RunningRelay {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  pid: number;
  /** NDJSON events (with --json), in order; grows while the relay runs. */
  events: RelayEvent[];
  /** Every stdout line (human mode), in order. */
  lines: string[];
  stderr(): string;
  /** Resolves with the first event (existing or future) that matches. */
  waitForEvent(predicate: (event: RelayEvent) => boolean, timeoutMs?: number): Promise<RelayEvent>;
  /** Resolves with the first stdout line (existing or future) that matches (human output). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then waits for the exit (SIGKILL after `timeoutMs` as a last resort, which fails the caller's checks). */
  stop(timeoutMs?: number): Promise<RelayExit>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<RelayExit>;
  /** Resolves when the process has exited, however. */
  exited: Promise<RelayExit>;
}

export interface RelayExit {
  exitCode: number | undefined;
  signal: string | undefined;
}

const running = new Set<RunningRelay>();

/**
 * Starts `lumen relay start --port 0 [--json] …args` and resolves once it listens. With `json` (the default) the
 * first stdout line must be the `listening` event; without, the human `Relay listening on URL` line is awaited.
 */
export async function startRelay(
  env: Record<string, string>,
  args: string[] = [],
  options: { json?: boolean; timeoutMs?: number } = {},
): Promise<RunningRelay> {
  const json = options.json ?? true;
  const child: ResultPromise = execa('node', [BIN, 'relay', 'start', '--port', '0', ...(json ? ['--json'] : []), ...args], {
    env,
    extendEnv: false,
    reject: false,
    buffer: false,
    stdin: 'ignore',
    forceKillAfterDelay: false,
  });
  const events: RelayEvent[] = [];
  const lines: string[] = [];
  let stderr = '';
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());

  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const stdoutLines = createInterface({ input: child.stdout! });
  stdoutLines.on('line', (line) => {
    lines.push(line);
    if (json && line.trim() !== '') {
      try {
        events.push(JSON.parse(line) as RelayEvent);
      } catch {
        events.push({ event: '__not_json__', line });
      }
    }
    notify();
  });

  const exited: Promise<RelayExit> = child.then((result) => ({
    exitCode: result.exitCode,
    signal: result.signal ?? undefined,
  }));
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
    notify();
  });

  const waitFor = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const attempt = () => {
        const found = check();
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (hasExited) {
          done();
          reject(new Error(`relay exited while waiting for ${what}\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(attempt);
      };
      waiters.add(attempt);
      attempt();
    });

  const listeningUrl = () => {
    if (json) return events.find((e) => e.event === 'listening')?.url as string | undefined;
    for (const line of lines) {
      const match = /Relay listening on (http:\/\/\S+)/.exec(line);
      if (match) return match[1];
    }
    return undefined;
  };

  const relay: RunningRelay = {
    url: '',
    pid: child.pid ?? -1,
    events,
    lines,
    stderr: () => stderr,
    waitForEvent: (predicate, timeoutMs = SAFETY_NET_MS) => waitFor(() => events.find(predicate), timeoutMs, 'a relay event'),
    waitForLine: (pattern, timeoutMs = SAFETY_NET_MS) => waitFor(() => lines.find((l) => pattern.test(l)), timeoutMs, `a line matching ${pattern}`),
    async stop(timeoutMs = SAFETY_NET_MS) {
      if (!hasExited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
        running.delete(relay);
      }
    },
    async kill() {
      if (!hasExited) child.kill('SIGKILL');
      try {
        return await exited;
      } finally {
        running.delete(relay);
      }
    },
    exited,
  };
  running.add(relay);
  try {
    relay.url = await waitFor(listeningUrl, options.timeoutMs ?? SAFETY_NET_MS, 'the listening line');
  } catch (error) {
    await relay.kill();
    throw error;
  }
  if (json && events[0]?.event !== 'listening') {
    await relay.kill();
    throw new Error(`the first stdout line is not the listening event: ${lines[0]}`);
  }
  return relay;
}

/** SIGKILLs every relay a test started and did not stop (for afterEach). */
export async function killAllRelays(): Promise<void> {
  await Promise.all([...running].map((relay) => relay.kill()));
}

// ---------------------------------------------------------------------------------------------------------------
// A forward target (the user's code behind --forward-to)

export interface ForwardedRequest {
  url: string;
  headers: IncomingHttpHeaders;
  /** The body as UTF-8 text. */
  body: string;
  /** The exact bytes received (what a signature covers). */
  raw: Buffer;
  /** The status this target answered. */
  answered: number;
}

export interface ForwardTarget {
  url: string;
  port: number;
  requests: ForwardedRequest[];
  /** Requests answered 2xx. */
  accepted(): ForwardedRequest[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records every request and answers `respond(index)` (0-based). */
export async function startForwardTarget(
  respond: (index: number) => number = () => 200,
  port = 0,
  /** The body it answers with (default `{"ok": …}`): e.g. a `{"reply": …}` of the user's code. */
  body?: (index: number) => string,
): Promise<ForwardTarget> {
  const requests: ForwardedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answered = respond(requests.length);
      const raw = Buffer.concat(chunks);
      const index = requests.length;
      requests.push({ url: req.url ?? '', headers: req.headers, body: raw.toString('utf8'), raw, answered });
      res.writeHead(answered, { 'content-type': 'application/json' });
      res.end(body ? body(index) : JSON.stringify({ ok: answered < 300 }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actualPort}/hook`,
    port: actualPort,
    requests,
    accepted: () => requests.filter((r) => r.answered >= 200 && r.answered < 300),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A port nothing listens on (taken from the OS, then released): a forward target that is down. */
export async function freePort(): Promise<number> {
  const target = await startForwardTarget();
  await target.close();
  return target.port;
}

/**
 * Checks `Lumen-Signature: t=<seconds>,v1=<hex>` independently of lumen's code: HMAC-SHA256 over `${t}.${rawBody}`
 * with the relay's signing secret.
 */
export function lumenSignatureValid(header: string | string[] | undefined, rawBody: string, secret: string): boolean {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value === undefined ? null : /^t=(\d+),v1=([0-9a-f]{64})$/.exec(value);
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${rawBody}`).digest();
  const actual = Buffer.from(match[2]!, 'hex');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

// ---------------------------------------------------------------------------------------------------------------
// Looking at LUMEN_HOME

/** The relay's forward signing secret, read from the file secret store in LUMEN_HOME. */
export async function readSigningSecret(home: string): Promise<string | undefined> {
  const store = createFileSecretStore({ filePath: join(home, 'secrets.enc.json'), keyFilePath: join(home, 'secrets.key') });
  return store.get('relay/signing_secret');
}

/**
 * A POST to `url` that stalls: by default its headers arrived (the relay answered 100 Continue) and its body never
 * will; with `{ at: 'headers' }` only half its request line was sent (nothing to wait for: a later connection's answer
 * shows the relay has taken this one).
 */
export async function stalledDelivery(url: string, { at = 'body' }: { at?: 'headers' | 'body' } = {}): Promise<{ closed: Promise<string> }> {
  const target = new URL(url);
  const socket = connect(Number(target.port), target.hostname);
  socket.on('error', () => {});
  let received = '';
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  const continued = new Promise<void>((resolve) =>
    socket.on('data', (chunk) => {
      received += String(chunk);
      if (received.includes('100 Continue')) resolve();
    }),
  );
  if (at === 'headers') {
    socket.write(`POST ${target.pathname} HTT`);
    return { closed };
  }
  socket.write(
    `POST ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\n` +
      `X-Hub-Signature-256: sha256=${'0'.repeat(64)}\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n`,
  );
  await continued;
  socket.write('{');
  return { closed };
}
