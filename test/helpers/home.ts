/**
 * The one temp-home helper: a throw-away LUMEN_HOME per test, with the file secret store, so nothing real of the
 * user's is touched (house habit 11). Tests that only need a folder for a database or a secrets file use it too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** What of the sandbox a home needs to use it as the Graph API (a `SandboxHandle` has these). */
export interface GraphCredentials {
  url: string;
  accessToken: string;
  appSecret: string;
}

export interface LumenHome {
  dir: string;
  /**
   * The whole environment of a `lumen` run (a child's, or `runLumen`'s in process): PATH, HOME and LUMEN_HOME pointing
   * here, the file secret store, no colours, and, when the home was made for a sandbox, that sandbox as the Graph API
   * with its credentials.
   */
  env: Record<string, string>;
  /** A path inside the home. */
  path(...parts: string[]): string;
  cleanup(): void;
}

export interface HomeOptions {
  /** Point LUMEN_GRAPH_URL, WHATSAPP_ACCESS_TOKEN and WHATSAPP_APP_SECRET at this sandbox. */
  sandbox?: GraphCredentials;
  /** Added last (overrides the rest). */
  env?: Record<string, string>;
}

/** The environment that makes `lumen` use this sandbox as the Graph API, with its credentials. */
export function graphEnv(sandbox: GraphCredentials): Record<string, string> {
  return { LUMEN_GRAPH_URL: sandbox.url, WHATSAPP_ACCESS_TOKEN: sandbox.accessToken, WHATSAPP_APP_SECRET: sandbox.appSecret };
}

export function makeHome(options: HomeOptions = {}): LumenHome {
  const dir = mkdtempSync(join(tmpdir(), 'lumen-test-'));
  const graph = options.sandbox ? graphEnv(options.sandbox) : {};
  return {
    dir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      LUMEN_HOME: dir,
      LUMEN_SECRET_STORE: 'file',
      NO_COLOR: '1',
      ...graph,
      ...options.env,
    },
    path: (...parts) => join(dir, ...parts),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Runs `fn` on a connection to `<dir>/lumen.db`. Read-only by default (safe while a relay runs, and after a kill -9:
 * the WAL is read as left on disk); `{ readonly: false }` for a test that writes what the CLI cannot be made to.
 */
export function withDb<T>(dir: string, fn: (db: Database.Database) => T, options: { readonly?: boolean } = {}): T {
  const db = new Database(join(dir, 'lumen.db'), { readonly: options.readonly ?? true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
