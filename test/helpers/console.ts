/**
 * The browser console's test harness, in process: the sandbox as the Graph API and as Meta's webhook sender, a temp
 * LUMEN_HOME with its SQLite file and the number connected, the real relay on 127.0.0.1 with its console, and a
 * client that signs in with the console token (exchanged for the cookie) and posts forms with the CSRF token.
 */
import type { RelayEvent } from '../../src/relay/events.js';
import { startRelay, type RelayHandle, type RelayOptions } from '../../src/relay/server.js';
import type { SandboxHandle } from '../../src/sandbox/index.js';
import type { SecretStore } from '../../src/secrets/types.js';
import type { ServiceDeps } from '../../src/services/deps.js';
import type { Integration, Store } from '../../src/store/types.js';
import type { LumenHome } from './home.js';
import { connectedHome } from './services.js';

export interface ConsoleSetup {
  home: LumenHome;
  store: Store;
  secrets: SecretStore;
  integration: Integration;
  services: ServiceDeps;
  events: RelayEvent[];
  relay?: RelayHandle;
  /** Starts the relay (with its console) and points the sandbox's webhooks at it. */
  start(options?: Partial<RelayOptions>): Promise<RelayHandle>;
  close(): Promise<void>;
}

export async function consoleSetup(sandbox: SandboxHandle, env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' }): Promise<ConsoleSetup> {
  const connected = await connectedHome(sandbox, { env });
  const { home, store, secrets, integration } = connected;
  const services = connected.services();
  const setup: ConsoleSetup = {
    home,
    store,
    secrets,
    integration,
    services,
    events: [],
    async start(options = {}) {
      setup.relay = await startRelay(
        { ...services, onEvent: (event) => setup.events.push(event) },
        { host: '127.0.0.1', port: 0, mediaDir: home.path('media'), ...options },
      );
      sandbox.setWebhookUrl(`${setup.relay.url}/webhooks/whatsapp/${integration.id}`);
      return setup.relay;
    },
    async close() {
      sandbox.setWebhookUrl(undefined);
      await setup.relay?.close();
      await connected.close();
    },
  };
  return setup;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** A signed-in console client: the cookie from the token exchange, and the CSRF token from the first page. */
export interface ConsoleClient {
  base: string;
  cookie: string;
  csrf: string;
  get(path: string, headers?: Record<string, string>): Promise<Answer>;
  /** A form POST as the console's pages make it (same origin, the CSRF token), `fields` overriding. */
  post(path: string, fields: Record<string, string | string[]>, headers?: Record<string, string>): Promise<Answer>;
}

export async function signIn(consoleUrl: string): Promise<ConsoleClient> {
  const url = new URL(consoleUrl);
  const base = url.origin;
  const first = await fetch(consoleUrl, { redirect: 'manual' });
  const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0]!;
  const page = await fetch(`${base}/console`, { headers: { cookie } });
  const csrf = /<meta name="lumen-csrf" content="([^"]+)">/.exec(await page.text())?.[1] ?? '';
  const answer = async (response: Response): Promise<Answer> => ({ status: response.status, headers: response.headers, text: await response.text() });
  return {
    base,
    cookie,
    csrf,
    get: async (path, headers = {}) => answer(await fetch(`${base}${path}`, { headers: { cookie, ...headers }, redirect: 'manual' })),
    post: async (path, fields, headers = {}) => {
      const form = new URLSearchParams();
      form.set('_csrf', csrf);
      for (const [key, value] of Object.entries(fields)) {
        form.delete(key);
        for (const v of Array.isArray(value) ? value : [value]) form.append(key, v);
      }
      return answer(
        await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { cookie, origin: base, 'content-type': 'application/x-www-form-urlencoded', ...headers },
          body: form.toString(),
          redirect: 'manual',
        }),
      );
    },
  };
}
