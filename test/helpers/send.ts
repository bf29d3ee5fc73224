/**
 * Helpers for end-to-end tests of `lumen send`, `lumen approvals` and `lumen messages show`: a temp LUMEN_HOME with
 * the sandbox number connected, a way to make a contact "write" (the row the relay would store), a look at the
 * outbox, CSV files, and a Graph stand-in in front of the sandbox that can lose Meta's answer (a crash mid-request).
 */
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { SandboxHandle, SentMessage } from '../../src/sandbox/index.js';
import { runLumen, type CliResult } from './cli.js';
import { makeHome, withDb as withHomeDb, type LumenHome } from './home.js';
import { connectNumber } from './relay.js';

export interface ConnectedHome extends LumenHome {
  /** The environment every `lumen` run gets: the temp home, the file secret store, the sandbox as Graph API. */
  env: Record<string, string>;
  integrationId: string;
  workspaceId: string;
  /** Runs a CLI command in this home, in this process (`runLumen`); `env` is merged over the home's. */
  run(args: string[], options?: { env?: Record<string, string>; input?: string }): Promise<CliResult>;
  /** Runs with `--json` and parses stdout (the result or the `{error}` document). */
  runJson(args: string[], options?: { env?: Record<string, string> }): Promise<{ result: CliResult; json: any }>;
  /** The contact wrote to the number at `at` (what the relay records for an inbound message). */
  contactWrote(to: string, at: Date): void;
  /** Rows of the outbox, oldest first. */
  outbox(): OutboxRow[];
  /** Runs SQL against the home's database (to simulate what the CLI cannot be made to do on its own). */
  sql(statement: string, ...params: unknown[]): void;
}

export interface OutboxRow {
  id: string;
  recipient: string;
  state: string;
  wamid: string | null;
  idempotency_key: string | null;
  error_code: number | null;
  attempts: number;
}

/** A fresh LUMEN_HOME with the sandbox number connected through `lumen whatsapp connect`, as a user would. */
export async function connectedHome(sandbox: SandboxHandle): Promise<ConnectedHome> {
  const home = makeHome({ sandbox });
  const { env } = home;
  const { id: integrationId } = await connectNumber(env, sandbox.phoneNumberId, sandbox.wabaId);
  const withDb = <T>(work: (db: Database.Database) => T): T => withHomeDb(home.dir, work, { readonly: false });
  const workspaceId = withDb(
    (db) => (db.prepare('SELECT workspace_id FROM integrations WHERE id = ?').get(integrationId) as { workspace_id: string }).workspace_id,
  );
  const run: ConnectedHome['run'] = (args, options = {}) =>
    runLumen(args, { env: { ...env, ...options.env }, ...(options.input === undefined ? {} : { input: options.input }) });
  return {
    ...home,
    env,
    integrationId,
    workspaceId,
    run,
    async runJson(args, options) {
      const result = await run([...args, '--json'], options);
      let json: unknown;
      try {
        json = result.stdout.trim() === '' ? undefined : JSON.parse(result.stdout);
      } catch {
        throw new Error(`stdout is not one JSON document (exit ${result.exitCode}):\n${result.stdout}\n${result.stderr}`);
      }
      return { result, json };
    },
    contactWrote(to, at) {
      const digits = to.replace(/\D/g, '');
      withDb((db) =>
        db
          .prepare(
            `INSERT INTO contacts (integration_id, contact_id, kind, workspace_id, name, user_id, first_seen_at, last_inbound_at, messages)
             VALUES (?, ?, 'phone', ?, 'Ana', NULL, ?, ?, 1)
             ON CONFLICT (integration_id, contact_id) DO UPDATE SET last_inbound_at = excluded.last_inbound_at,
               messages = messages + 1`,
          )
          .run(integrationId, digits, workspaceId, at.toISOString(), at.toISOString()),
      );
    },
    outbox() {
      return withDb(
        (db) =>
          db
            .prepare(
              'SELECT id, recipient, state, wamid, idempotency_key, error_code, attempts FROM outbound_messages ORDER BY created_at, rowid',
            )
            .all() as OutboxRow[],
      );
    },
    sql(statement, ...params) {
      withDb((db) => db.prepare(statement).run(...params));
    },
  };
}

/** The sends the sandbox accepted (a wamid was returned), optionally to one recipient. */
export function acceptedSends(sandbox: SandboxHandle, to?: string): SentMessage[] {
  return sandbox.sent(to).filter((s) => s.outcome.result === 'accepted');
}

/** How many accepted sends each recipient got. */
export function acceptedPerRecipient(sandbox: SandboxHandle): Map<string, number> {
  const counts = new Map<string, number>();
  for (const send of acceptedSends(sandbox)) counts.set(send.waId!, (counts.get(send.waId!) ?? 0) + 1);
  return counts;
}

export function writeCsv(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** NDJSON stdout → objects (blank lines ignored). */
export function ndjson(stdout: string): any[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

/**
 * What the stand-in does with the nth request (1-based), after passing it on to the sandbox: pass Meta's answer on,
 * lose it (hold the connection, or reset it), answer a gateway's 502 page, or cut Meta's 200 short; 'gate' holds Meta's
 * answer until `release()`.
 */
export type StandInBehaviour = 'forward' | 'hold' | 'reset' | 'bad-gateway' | 'garbled' | 'gate';

export interface GraphStandIn {
  url: string;
  /** Requests that reached this stand-in so far. */
  readonly requests: number;
  /** Resolves when the first request whose answer is lost ('hold' or 'reset'), or held ('gate'), has reached the sandbox. */
  lost: Promise<void>;
  /** Passes on the answers 'gate' holds. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A Graph API stand-in in front of the sandbox. Every request reaches the sandbox (so Meta has the message); then
 * its answer is passed on ('forward'), never sent ('hold': the CLI hangs until it is killed, with the message
 * marked "sending") or replaced by a dropped connection ('reset').
 */
export async function graphStandIn(
  sandbox: SandboxHandle,
  behaviour: (nth: number) => StandInBehaviour,
): Promise<GraphStandIn> {
  let onLost!: () => void;
  const lost = new Promise<void>((resolve) => (onLost = resolve));
  const state = { requests: 0 };
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server: Server = createServer(async (req, res) => {
    const body = await readAll(req);
    state.requests += 1;
    const what = behaviour(state.requests);
    const response = await fetch(`${sandbox.url}${req.url}`, {
      method: req.method ?? 'GET',
      headers: {
        authorization: String(req.headers.authorization ?? ''),
        'content-type': String(req.headers['content-type'] ?? 'application/json'),
      },
      ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
    });
    const text = await response.text();
    if (what === 'gate') {
      onLost();
      await released;
    }
    if (what === 'forward' || what === 'gate') {
      res.writeHead(response.status, { 'content-type': 'application/json' });
      res.end(text);
      return;
    }
    if (what === 'bad-gateway') {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
      return;
    }
    if (what === 'garbled') {
      res.writeHead(response.status, { 'content-type': 'application/json' });
      res.end(text.slice(0, 20));
      return;
    }
    if (what === 'reset') req.socket.destroy();
    onLost();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return state.requests;
    },
    lost,
    release,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
