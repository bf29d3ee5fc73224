import type { GraphClient } from '../graph/client.js';
import { readIntegrationSecrets } from '../secrets/integration.js';
import type { SecretBackendKind, SecretStore } from '../secrets/types.js';
import type { Integration, Store } from '../store/types.js';

/**
 * What services need from the outside world: the one deps shape, built once by the CLI (cli/deps.ts), the relay or
 * a test (`createServiceDeps`). Services read the time from `now` and the environment from `env`, nothing else.
 */
export interface ServiceDeps {
  store: Store;
  secrets(kind?: SecretBackendKind): Promise<SecretStore>;
  /** A Graph client for an access token. */
  graph(accessToken: string): Promise<GraphClient>;
  /** The Graph client of a connected number (its own access token): one per generation of its secrets. */
  graphFor(integration: Integration): Promise<GraphClient>;
  now(): Date;
  env: NodeJS.ProcessEnv;
  sleep(ms: number): Promise<void>;
  /** Reports a step of a longer operation (a spinner in the CLI). Services never print. */
  progress?: Progress;
}

export type Progress = <T>(label: string, work: () => Promise<T>, done?: (result: T) => string) => Promise<T>;

export const runQuietly: Progress = (_label, work) => work();

export type ServiceDepsInit = Omit<ServiceDeps, 'graphFor' | 'sleep' | 'env'> &
  Partial<Pick<ServiceDeps, 'sleep' | 'env'>>;

/** Completes the deps: the per-number Graph client (read from the secret store once) and a real sleep. */
export function createServiceDeps(init: ServiceDepsInit): ServiceDeps {
  const clients = new Map<string, Promise<GraphClient>>();
  const deps: ServiceDeps = {
    ...init,
    env: init.env ?? {},
    sleep: init.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
    graphFor(integration) {
      // Keyed by the secrets' generation: connecting the number again (a new token) gets a new client.
      const key = `${integration.id}\u0000${integration.secretRef}`;
      let client = clients.get(key);
      if (!client) {
        client = readIntegrationSecrets(deps, integration).then(({ accessToken }) => deps.graph(accessToken));
        client.catch(() => clients.delete(key));
        clients.set(key, client);
      }
      return client;
    },
  };
  return deps;
}
