import { describe, expect, it } from 'vitest';
import { createMemorySecretStore } from '../../src/secrets/memory.js';

describe('memory secret store', () => {
  it('stores, overwrites and deletes values', async () => {
    const store = createMemorySecretStore();
    expect(store.kind).toBe('memory');
    expect(await store.get('k')).toBeUndefined();

    await store.set('k', 'one');
    await store.set('k', 'two');
    expect(await store.get('k')).toBe('two');

    expect(await store.delete('k')).toBe(true);
    expect(await store.delete('k')).toBe(false);
    expect(await store.get('k')).toBeUndefined();
  });

  it('keeps instances apart', async () => {
    const a = createMemorySecretStore();
    const b = createMemorySecretStore();
    await a.set('k', 'v');
    expect(await b.get('k')).toBeUndefined();
  });
});
