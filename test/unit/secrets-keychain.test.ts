import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeychainSecretStore, openSecretStore, probeKeychain } from '../../src/secrets/index.js';
import { makeHome } from '../helpers/home.js';

// A service name of its own, so the tests never see or touch real lumen entries.
const service = `lumen-test-${randomBytes(4).toString('hex')}`;
// Only inside the throwaway keyring of scripts/with-keyring.sh (which `npm test` uses): never the developer's own.
const probe =
  process.env.LUMEN_TEST_KEYRING === '1'
    ? await probeKeychain({ service })
    : ({ ok: false, reason: 'not inside scripts/with-keyring.sh' } as const);
const title = probe.ok
  ? 'keychain secret store (real Secret Service)'
  : `keychain secret store — skipped: no Secret Service (${probe.reason}); run inside scripts/with-keyring.sh`;
if (!probe.ok) console.warn(title);

describe.skipIf(!probe.ok)(title, () => {
  const store = createKeychainSecretStore({ service });
  const used = new Set<string>();
  const key = (name: string) => {
    used.add(name);
    return name;
  };

  afterAll(async () => {
    for (const name of used) await store.delete(name).catch(() => false);
  });

  it('sets, gets and deletes a value', async () => {
    expect(store.kind).toBe('keychain');
    const name = key('integration/t1/access_token');
    await store.set(name, 'EAAG-token-value');
    expect(await store.get(name)).toBe('EAAG-token-value');
    expect(await store.delete(name)).toBe(true);
    expect(await store.get(name)).toBeUndefined();
  });

  it('overwrites an existing value', async () => {
    const name = key('integration/t2/app_secret');
    await store.set(name, 'first');
    await store.set(name, 'second ✓');
    expect(await store.get(name)).toBe('second ✓');
  });

  it('answers undefined / false for a missing key', async () => {
    expect(await store.get('integration/never-set/access_token')).toBeUndefined();
    expect(await store.delete('integration/never-set/access_token')).toBe(false);
  });

  it('is what the default selection picks, without a warning', async () => {
    const home = makeHome();
    try {
      const warnings: string[] = [];
      const chosen = await openSecretStore({
        env: {},
        secretsFile: home.path('secrets.json'),
        keyFile: home.path('secrets.key'),
        warn: (line) => warnings.push(line),
      });
      expect(chosen.kind).toBe('keychain');
      expect(warnings).toEqual([]);
    } finally {
      home.cleanup();
    }
  });
});
