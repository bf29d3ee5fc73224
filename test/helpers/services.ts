/**
 * The start of most in-process relay tests: service deps with the sandbox as the Graph API, and a temp LUMEN_HOME with
 * its store and the sandbox's number connected to the 'default' workspace, as `lumen whatsapp connect` leaves it. One
 * helper, so a change to how services are built or a number is connected is made once for every test that needs it.
 */
import { createGraphClient, type GraphClient } from '../../src/graph/client.js';
import type { SandboxHandle } from '../../src/sandbox/index.js';
import { createMemorySecretStore } from '../../src/secrets/index.js';
import type { SecretStore } from '../../src/secrets/types.js';
import { createServiceDeps, type ServiceDeps } from '../../src/services/deps.js';
import { connectWhatsApp } from '../../src/services/whatsapp/connect.js';
import { openStore } from '../../src/store/index.js';
import type { Integration, Store, Workspace } from '../../src/store/types.js';
import { makeHome, type LumenHome } from './home.js';

export interface SandboxServicesOptions {
  store: Store;
  secrets: SecretStore;
  /** Where the Graph API is (a `SandboxHandle` has it). */
  sandbox: { url: string };
  /** Every Graph client the deps make is pushed here, for the test to close. */
  clients: GraphClient[];
  /** The Graph API version the clients call; 'v23.0' unless a test pins another. */
  version?: string;
  /** The services' environment; only PATH unless given, so nothing of the user's leaks in. */
  env?: NodeJS.ProcessEnv;
}

/** Service deps over a test's store and secret store, the sandbox as the Graph API and the real clock. */
export function sandboxServices(options: SandboxServicesOptions): ServiceDeps {
  const { store, secrets, sandbox, clients, version = 'v23.0', env = { PATH: process.env.PATH ?? '/usr/bin:/bin' } } = options;
  return createServiceDeps({
    store,
    secrets: async () => secrets,
    graph: async (token) => {
      const client = createGraphClient({ baseUrl: sandbox.url, version, accessToken: token });
      clients.push(client);
      return client;
    },
    now: () => new Date(),
    env,
  });
}

export interface ConnectedHome {
  home: LumenHome;
  store: Store;
  secrets: SecretStore;
  /** The 'default' workspace. */
  workspace: Workspace;
  /** The sandbox's number, connected and subscribed to the app's webhooks. */
  integration: Integration;
  /** The Graph clients made so far (closed by `close`). */
  clients: GraphClient[];
  /** Fresh service deps over this home (`sandboxServices`), as each CLI run or relay start builds its own. */
  services(): ServiceDeps;
  /** Closes the Graph clients and the store, and removes the home. */
  close(): Promise<void>;
}

export interface ConnectedHomeOptions extends Pick<SandboxServicesOptions, 'version' | 'env'> {
  /** The home's store; the SQLite file `lumen.db` in the home unless given (e.g. a PostgreSQL database). */
  openStore?: (home: LumenHome) => Store | Promise<Store>;
}

/**
 * A temp home whose store has the 'default' workspace and the sandbox's number connected to it (`connectWhatsApp`
 * with the sandbox's credentials, subscribe: true), with an in-memory secret store of its own.
 */
export async function connectedHome(sandbox: SandboxHandle, options: ConnectedHomeOptions = {}): Promise<ConnectedHome> {
  const home = makeHome();
  const store = await (options.openStore ?? ((h: LumenHome) => openStore(h.path('lumen.db'))))(home);
  const secrets = createMemorySecretStore();
  const clients: GraphClient[] = [];
  const services = () => sandboxServices({ store, secrets, sandbox, clients, version: options.version, env: options.env });
  const close = async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await store.close();
    home.cleanup();
  };
  try {
    const workspace = await store.workspaces.ensure('default', new Date().toISOString());
    const connected = await connectWhatsApp(services(), {
      workspace,
      phoneNumberId: sandbox.phoneNumberId,
      wabaId: sandbox.wabaId,
      accessToken: sandbox.accessToken,
      appSecret: sandbox.appSecret,
      subscribe: true,
    });
    const integration = (await store.integrations.findById(connected.result.id))!;
    return { home, store, secrets, workspace, integration, clients, services, close };
  } catch (error) {
    await close(); // the test's afterEach never sees a home that failed to connect
    throw error;
  }
}
