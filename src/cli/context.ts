import { loadConfigFile, pickSetting, resolveGraphSettings, type ConfigFile } from '../config/config.js';
import { resolvePaths, type Paths } from '../config/paths.js';
import { UsageError, UserError } from '../errors.js';
import type { GraphClient } from '../graph/client.js';
import type { SecretBackendKind, SecretStore } from '../secrets/types.js';
import type { Store, Workspace } from '../store/types.js';
import type { StoreOptions } from '../store/index.js';
import type { globalFlags } from './commands/index.js';
import type { FlagValues } from './declare.js';
import { processIo, type CliIo } from './io.js';
import { Output } from './output.js';
import { createTerminalPrompter, type Prompter } from './prompter.js';
import { timeFormat, type TimeFormat } from './time.js';

/** `--json`, `--no-input` (`input: false`), `--workspace`, `--debug`, as declared in commands/index.ts. */
export type GlobalOptions = FlagValues<typeof globalFlags>;

/** What --workspace may name when it creates a workspace (one made earlier under another name is still found). */
const WORKSPACE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The workspace used without --workspace: it always exists (it is created the first time it is used). */
export const DEFAULT_WORKSPACE = 'default';

/**
 * The one deps object, built once per command and passed down. Expensive things (database, keychain,
 * HTTP client) open on first use, so commands that do not need them never load them.
 */
export interface Context {
  readonly globals: GlobalOptions;
  readonly env: NodeJS.ProcessEnv;
  /** The standard streams (and env) the command runs with: the process's own, or a test's. */
  readonly io: CliIo;
  readonly paths: Paths;
  readonly out: Output;
  readonly prompter: Prompter;
  now(): Date;
  /** How human output shows times (local, with the zone; relative where it helps). */
  readonly time: TimeFormat;
  config(): ConfigFile;
  /** The PostgreSQL URL the state lives at (LUMEN_DATABASE_URL, else config `databaseUrl`), or undefined for SQLite. */
  databaseUrl(): string | undefined;
  /** The store, opened on first use (options apply to that first open: the relay asks for background checkpoints). */
  store(options?: StoreOptions): Promise<Store>;
  /** The default secret store, or the backend an integration recorded. */
  secrets(kind?: SecretBackendKind): Promise<SecretStore>;
  graph(accessToken: string): Promise<GraphClient>;
  /**
   * The workspace the command acts in (`--workspace`). One that does not exist is an error (a typo must not
   * create a workspace), except the default one and with `create`: for the commands that set one up (`connect`).
   */
  workspace(options?: { create?: boolean }): Promise<Workspace>;
  close(): Promise<void>;
}

export interface ContextOverrides {
  io?: CliIo;
  /** Replaces `io.env`. */
  env?: NodeJS.ProcessEnv;
  out?: Output;
  prompter?: Prompter;
  now?: () => Date;
}

export function createContext(globals: GlobalOptions, overrides: ContextOverrides = {}): Context {
  const baseIo = overrides.io ?? processIo();
  const env = overrides.env ?? baseIo.env;
  const io: CliIo = { ...baseIo, env };
  const paths = resolvePaths(env);
  const out =
    overrides.out ?? new Output({ json: globals.json, debug: globals.debug, env, stdout: io.stdout, stderr: io.stderr });
  const canPrompt = globals.input && Boolean(io.stdin.isTTY) && Boolean(io.stderr.isTTY);
  const prompter = overrides.prompter ?? createTerminalPrompter(canPrompt, io);
  const now = overrides.now ?? (() => new Date());

  let config: ConfigFile | undefined;
  let store: Store | undefined;
  const secretStores = new Map<string, Promise<SecretStore>>();
  const graphClients: GraphClient[] = [];

  const context: Context = {
    globals,
    env,
    io,
    paths,
    out,
    prompter,
    now,
    time: timeFormat({ now, env }),
    config: () => (config ??= loadConfigFile(paths.configFile)),
    // LUMEN_DATABASE_URL wins; config.json's is read (and checked) only without it.
    databaseUrl: () => pickSetting(env.LUMEN_DATABASE_URL?.trim()) ?? configDatabaseUrl(context.config(), paths.configFile),
    async store(options) {
      if (!store) {
        const { openStoreAt } = await import('../store/index.js');
        store = await openStoreAt({ databasePath: paths.database, databaseUrl: context.databaseUrl() }, options);
      }
      return store;
    },
    secrets(kind) {
      const key = kind ?? 'default';
      let pending = secretStores.get(key);
      if (!pending) {
        pending = import('../secrets/index.js').then(({ openSecretStore }) =>
          openSecretStore({
            env,
            secretsFile: paths.secretsFile,
            keyFile: paths.secretsKeyFile,
            warn: (line) => out.warn(line),
            // Read only for the database store: a command using the keychain never needs config.json.
            ...(kind === 'database' || env.LUMEN_SECRET_STORE?.trim().toLowerCase() === 'database'
              ? { databaseUrl: context.databaseUrl() }
              : {}),
            ...(kind === undefined ? {} : { kind }),
          }),
        );
        secretStores.set(key, pending);
      }
      return pending;
    },
    async graph(accessToken) {
      const settings = resolveGraphSettings(env, context.config());
      const { createGraphClient } = await import('../graph/client.js');
      const client = createGraphClient({
        ...settings,
        accessToken,
        debug: (line) => out.debug(line),
        onRetry: ({ request, attempt, delayMs, reason }) =>
          out.debug(`retrying ${request} (attempt ${attempt + 1}, ${reason}) in ${delayMs} ms`),
      });
      graphClients.push(client);
      return client;
    },
    async workspace({ create = false } = {}) {
      const store = await context.store();
      const name = globals.workspace;
      if (name === DEFAULT_WORKSPACE) return store.workspaces.ensure(name, now().toISOString());
      const found = await store.workspaces.findByName(name);
      if (found) return found;
      if (!WORKSPACE_NAME.test(name)) {
        throw new UsageError(
          `${JSON.stringify(name)} is not a workspace name: up to 64 letters, digits, ".", "-" and "_", starting with a letter or digit.`,
        );
      }
      if (create) return store.workspaces.ensure(name, now().toISOString());
      const names = (await store.workspaces.list()).map((w) => `"${w.name}"`);
      const fromEnv = env.LUMEN_WORKSPACE === name ? ` (LUMEN_WORKSPACE is set to "${name}")` : '';
      throw new UserError(`No workspace "${name}".`, {
        code: 'workspace_not_found',
        kind: 'not_found',
        hint:
          `${names.length > 0 ? `Workspaces here: ${names.join(', ')}.` : 'There are no workspaces here yet.'}${fromEnv} ` +
          `Connecting a number to a workspace creates it: \`lumen whatsapp connect --workspace ${name}\`.`,
      });
    },
    async close() {
      await Promise.allSettled(graphClients.map((client) => client.close()));
      const opened = [...secretStores.values()];
      secretStores.clear();
      await Promise.allSettled(opened.map(async (pending) => (await pending).close?.()));
      const open = store;
      store = undefined;
      await open?.close();
    },
  };
  return context;
}

/**
 * config.json's `databaseUrl`, checked here so that a bad one is blamed on the file (the URL's messages further on
 * name LUMEN_DATABASE_URL, which then is not set).
 */
function configDatabaseUrl(config: ConfigFile, path: string): string | undefined {
  const value: unknown = config.databaseUrl;
  const text = typeof value === 'string' ? value.trim() : value;
  if (text === undefined || text === null || text === '') return undefined;
  let protocol: string | undefined;
  try {
    protocol = typeof text === 'string' ? new URL(text).protocol : undefined;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new UserError(`\`databaseUrl\` in ${path} is not a postgres:// URL.`, {
      code: 'database_url_invalid',
      kind: 'usage',
      hint: 'Use postgres://user:password@host:5432/database, or remove it to keep the SQLite file in LUMEN_HOME.',
    });
  }
  return text as string;
}
