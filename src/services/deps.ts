import type { GraphClient } from '../graph/client.js';
import type { SecretBackendKind, SecretStore } from '../secrets/types.js';
import type { Store } from '../store/types.js';

/** What services need from the outside world. Commands build it from the CLI context; tests build their own. */
export interface ServiceDeps {
  store: Store;
  secrets(kind?: SecretBackendKind): Promise<SecretStore>;
  graph(accessToken: string): Promise<GraphClient>;
  now(): Date;
  /** Reports a step of a longer operation (a spinner in the CLI). Services never print. */
  progress?: Progress;
}

export type Progress = <T>(label: string, work: () => Promise<T>, done?: (result: T) => string) => Promise<T>;

export const runQuietly: Progress = (_label, work) => work();
