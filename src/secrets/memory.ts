import type { SecretStore } from './types.js';

/** A process-local store for tests: nothing touches the disk or the OS keychain. */
export function createMemorySecretStore(): SecretStore {
  const values = new Map<string, string>();
  return {
    kind: 'memory',
    description: 'in-memory (tests only)',
    async get(key) {
      return values.get(key);
    },
    async set(key, value) {
      values.set(key, value);
    },
    async delete(key) {
      return values.delete(key);
    },
  };
}
