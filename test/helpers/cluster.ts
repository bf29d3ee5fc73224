/**
 * Several relays on one PostgreSQL database, as several hosts would run them: each host a LUMEN_HOME of its own
 * (its relay.json, its media folder, its secret store) with LUMEN_DATABASE_URL naming the same database; a tiny
 * round-robin proxy in front, standing for the load balancer Meta's deliveries go through; and a look into the
 * database to wait for its states.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { createServer, request as httpRequest, Agent, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeHome, type GraphCredentials, type LumenHome } from './home.js';
import { postSigned, type HttpAnswer } from './relay.js';

// ---------------------------------------------------------------------------------------------------------------
// Hosts

/**
 * `count` homes (the file secret store each) on the database at `databaseUrl`, with the sandbox as the Graph API.
 * Connect the number from one of them, then `shareSecrets` so the others can read its secrets.
 */
export function sharedDatabaseHomes(count: number, options: { databaseUrl: string; sandbox: GraphCredentials }): LumenHome[] {
  return Array.from({ length: count }, () => makeHome({ sandbox: options.sandbox, env: { LUMEN_DATABASE_URL: options.databaseUrl } }));
}

/**
 * The file secret store lives in a home: what `lumen whatsapp connect` stored in `from` (a number's token and app
 * secret) is copied, with its key file, into the other homes, as an operator copies it to each host. Do it before
 * the relays start: each relay then makes its own forward signing secret, which tells the hosts' deliveries apart.
 */
export function shareSecrets(from: LumenHome, to: LumenHome[]): void {
  for (const home of to) {
    for (const file of ['secrets.enc.json', 'secrets.key']) {
      if (existsSync(from.path(file))) copyFileSync(from.path(file), home.path(file));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The database

/** Runs `fn` with a client on the database at `url`, closed after. */
export async function withPg<T>(url: string, fn: (query: (sql: string, params?: unknown[]) => Promise<any[]>) => Promise<T>): Promise<T> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(async (sql, params) => (await client.query(sql, params)).rows);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A round-robin proxy

export interface RoundRobinProxy {
  url: string;
  /** Requests handed to each target (by index in the list given), answered or not. */
  handed: number[];
  /** Requests the proxy answered 502 itself: the target broke off after the request was sent (it died). */
  badGateway: number;
  close(): Promise<void>;
}

/**
 * An HTTP proxy on 127.0.0.1 handing each request to the next of `targets` (`http://host:port`) in turn, path and
 * headers kept. A target that refuses the connection (it is down) is skipped for the next one, as a load balancer's
 * health check would; one that breaks off after the request reached it gets a 502 answered for it (Meta retries).
 */
export async function startRoundRobinProxy(targets: string[]): Promise<RoundRobinProxy> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const handed = targets.map(() => 0);
  let next = 0;
  const proxy: RoundRobinProxy = { url: '', handed, badGateway: 0, close: async () => {} };

  const forward = (index: number, method: string, path: string, headers: IncomingHttpHeaders, body: Buffer) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer } | 'refused' | 'broken'>((resolve) => {
      const target = new URL(targets[index]!);
      handed[index]! += 1;
      const req = httpRequest(
        { agent, host: target.hostname, port: target.port, method, path, headers: { ...headers, host: target.host } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', () => resolve('broken'));
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED' ? 'refused' : 'broken'));
      req.end(body);
    });

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const headers = { ...req.headers };
      delete headers.connection;
      const first = next++ % targets.length;
      for (let tried = 0; tried < targets.length; tried += 1) {
        const outcome = await forward((first + tried) % targets.length, req.method ?? 'GET', req.url ?? '/', headers, body);
        if (outcome === 'refused') continue;
        if (outcome === 'broken') break;
        const { connection: _, 'keep-alive': __, 'transfer-encoding': ___, ...kept } = outcome.headers;
        res.writeHead(outcome.status, { ...kept, 'content-length': String(outcome.body.length) });
        res.end(outcome.body);
        return;
      }
      proxy.badGateway += 1;
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      agent.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return proxy;
}

/**
 * POSTs a signed delivery until it is acknowledged with a 2xx, as Meta does (it retries non-2xx answers); a refused
 * or broken connection counts as an answer to retry. Resolves with the 2xx answer and how many tries it took.
 */
export async function deliverUntilAcknowledged(
  url: string,
  body: Buffer,
  appSecret: string,
  maxTries = 50,
): Promise<{ answer: HttpAnswer; tries: number }> {
  let last = 'no answer';
  for (let tries = 1; tries <= maxTries; tries += 1) {
    try {
      const answer = await postSigned(url, body, appSecret);
      if (answer.status >= 200 && answer.status < 300) return { answer, tries };
      last = `HTTP ${answer.status} ${answer.text.slice(0, 200)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    // Meta's retries come later, not at once: a short pause keeps a dead target from being hammered.
    await new Promise((resolve) => setTimeout(resolve, 50 * Math.min(tries, 10)));
  }
  throw new Error(`not acknowledged after ${maxTries} tries: ${last}`);
}

// ---------------------------------------------------------------------------------------------------------------
// A forward target that can leave requests unanswered

export interface HeldRequest {
  headers: IncomingHttpHeaders;
  body: string;
  /** Left unanswered (the user's code got it; the relay never heard back). */
  held: boolean;
}

export interface HoldingTarget {
  url: string;
  /** Every request that arrived, held or answered, in order of arrival. */
  requests: HeldRequest[];
  /** From now on, requests for which `predicate` is true are left unanswered (null: answer all again). */
  holdWhen(predicate: ((request: { headers: IncomingHttpHeaders; body: string }) => boolean) | null): void;
  close(): Promise<void>;
}

/**
 * The user's code behind --forward-to, answering 200, or, for the requests `holdWhen` picks, nothing at all: a relay
 * killed while such a request is open has handed the message on without learning so (the at-least-once case).
 */
export async function startHoldingTarget(): Promise<HoldingTarget> {
  const requests: HeldRequest[] = [];
  let hold: Parameters<HoldingTarget['holdWhen']>[0] = null;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const seen = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      const held = hold?.(seen) ?? false;
      requests.push({ ...seen, held });
      if (held) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    requests,
    holdWhen(predicate) {
      hold = predicate;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
