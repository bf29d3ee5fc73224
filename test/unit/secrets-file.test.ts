import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { createFileSecretStore } from '../../src/secrets/file.js';
import { makeHome, type LumenHome } from '../helpers/home.js';

const TOKEN = 'EAAG-very-secret-access-token-1234567890';

describe('file secret store', () => {
  let home: LumenHome;
  let dir: string;
  let filePath: string;
  let keyFilePath: string;

  beforeEach(() => {
    home = makeHome();
    dir = home.dir;
    // Nested folders that do not exist yet, so the store has to create them.
    filePath = path.join(dir, 'home', 'secrets.json');
    keyFilePath = path.join(dir, 'keys', 'secrets.key');
  });

  afterEach(() => {
    home.cleanup();
  });

  const open = (masterKey?: string) => createFileSecretStore({ filePath, keyFilePath, masterKey });

  async function rejection(promise: Promise<unknown>): Promise<UserError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }

  it('reads back what it stored, and deletes', async () => {
    const store = open();
    expect(store.kind).toBe('file');
    await store.set('integration/a/access_token', TOKEN);
    await store.set('integration/a/app_secret', 'app-secret-value');

    expect(await store.get('integration/a/access_token')).toBe(TOKEN);
    expect(await store.get('integration/a/app_secret')).toBe('app-secret-value');
    expect(await store.get('integration/a/missing')).toBeUndefined();

    expect(await store.delete('integration/a/access_token')).toBe(true);
    expect(await store.delete('integration/a/access_token')).toBe(false);
    expect(await store.get('integration/a/access_token')).toBeUndefined();
    expect(await store.get('integration/a/app_secret')).toBe('app-secret-value');
  });

  it('overwrites a value and keeps unicode intact', async () => {
    const store = open();
    await store.set('k', 'first');
    await store.set('k', 'sécret ✓ 秘密');
    expect(await store.get('k')).toBe('sécret ✓ 秘密');
  });

  it('creates nothing until the first write', async () => {
    const store = open();
    expect(await store.get('anything')).toBeUndefined();
    expect(await store.delete('anything')).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('never writes the plain value to disk', async () => {
    await open().set('integration/a/access_token', TOKEN);
    const onDisk = readFileSync(filePath, 'utf8');
    expect(onDisk).not.toContain(TOKEN);
    expect(onDisk).not.toContain(Buffer.from(TOKEN).toString('base64'));

    const parsed = JSON.parse(onDisk) as { version: number; entries: Record<string, { iv: string; tag: string; data: string }> };
    expect(parsed.version).toBe(1);
    const entry = parsed.entries['integration/a/access_token'];
    expect(entry).toBeDefined();
    expect(Buffer.from(entry?.iv ?? '', 'base64')).toHaveLength(12);
    expect(Buffer.from(entry?.tag ?? '', 'base64')).toHaveLength(16);
  });

  it('uses a fresh IV for every write', async () => {
    const store = open();
    await store.set('k', 'same value');
    const first = JSON.parse(readFileSync(filePath, 'utf8')).entries.k;
    await store.set('k', 'same value');
    const second = JSON.parse(readFileSync(filePath, 'utf8')).entries.k;
    expect(second.iv).not.toBe(first.iv);
    expect(second.data).not.toBe(first.data);
  });

  it.skipIf(process.platform === 'win32')('creates the key file 0600 in a 0700 folder, and the secrets file 0600', async () => {
    await open().set('k', 'v');
    expect(statSync(keyFilePath).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(keyFilePath)).mode & 0o777).toBe(0o700);
    expect(statSync(filePath).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(keyFilePath, 'utf8').trim(), 'base64')).toHaveLength(32);
  });

  it('leaves no temporary files behind', async () => {
    const store = open();
    await Promise.all([store.set('a', '1'), store.set('b', '2'), store.set('c', '3')]);
    expect(readdirSync(path.dirname(filePath))).toEqual(['secrets.json']);
  });

  it('keeps every value when writes overlap', async () => {
    const store = open();
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.set(`key${i}`, `value${i}`)));
    for (let i = 0; i < 10; i++) expect(await store.get(`key${i}`)).toBe(`value${i}`);
  });

  it('a write whose lock was taken over while it stalled finds the file changed, and runs again on what is there', async () => {
    await open().set('seed', 'zero');
    let stalls = 0;
    const stalled = createFileSecretStore({
      filePath,
      keyFilePath,
      beforeReplace: async () => {
        stalls += 1;
        if (stalls > 1) return;
        // Stalled past the lock's age: another process takes the lock for a stale one and writes
        rmSync(`${filePath}.lock`);
        await open().set('other', 'two');
      },
    });
    await stalled.set('mine', 'one');

    const reader = open();
    expect([await reader.get('seed'), await reader.get('other'), await reader.get('mine')]).toEqual(['zero', 'two', 'one']);
    expect(stalls).toBe(2);
    expect(readdirSync(path.dirname(filePath))).toEqual(['secrets.json']);
  });

  it('gives up with secrets_locked when the file changes under every attempt, and keeps what the other wrote', async () => {
    let n = 0;
    const racing = createFileSecretStore({
      filePath,
      keyFilePath,
      beforeReplace: async () => {
        rmSync(`${filePath}.lock`);
        n += 1;
        await open().set('other', `v${n}`);
      },
    });
    const error = await rejection(racing.set('mine', 'one'));
    expect(error.code).toBe('secrets_locked');
    expect(error.message).toMatch(/kept changing while this write waited for it/);
    expect(await open().get('other')).toBe(`v${n}`);
    expect(await open().get('mine')).toBeUndefined();
    expect(readdirSync(path.dirname(filePath))).toEqual(['secrets.json']);
  });

  it('lets a second instance read what the first wrote', async () => {
    await open().set('integration/a/access_token', TOKEN);
    expect(await open().get('integration/a/access_token')).toBe(TOKEN);
  });

  it('treats keys like "__proto__" as plain data', async () => {
    const store = open();
    await store.set('__proto__', 'p');
    await store.set('constructor', 'c');
    expect(await open().get('__proto__')).toBe('p');
    expect(await open().get('constructor')).toBe('c');
    expect(await open().get('toString')).toBeUndefined();
  });

  describe('with a passphrase (LUMEN_MASTER_KEY)', () => {
    it('derives the key from the passphrase and writes no key file', async () => {
      await open('correct horse battery staple').set('k', TOKEN);
      expect(await open('correct horse battery staple').get('k')).toBe(TOKEN);
      expect(readdirSync(dir)).toEqual(['home']);

      const onDisk = JSON.parse(readFileSync(filePath, 'utf8'));
      expect(onDisk.kdf).toMatchObject({ name: 'scrypt', N: expect.any(Number), r: 8, p: 1 });
      expect(Buffer.from(onDisk.kdf.salt, 'base64').length).toBeGreaterThanOrEqual(16);
      expect(JSON.stringify(onDisk)).not.toContain(TOKEN);
    });

    it('rejects a wrong passphrase with secrets_unreadable and no secret in the message', async () => {
      await open('right passphrase').set('k', TOKEN);
      const error = await rejection(open('wrong passphrase').get('k'));
      expect(error.code).toBe('secrets_unreadable');
      expect(error.hint).toContain('LUMEN_MASTER_KEY');
      expect(`${error.message} ${error.hint}`).not.toContain(TOKEN);
      expect(`${error.message} ${error.hint}`).not.toContain('wrong passphrase');
    });

    it('refuses to write with a wrong passphrase, leaving the file as it was', async () => {
      await open('right passphrase').set('k', TOKEN);
      const before = readFileSync(filePath, 'utf8');
      const error = await rejection(open('wrong passphrase').set('other', 'x'));
      expect(error.code).toBe('secrets_unreadable');
      expect(readFileSync(filePath, 'utf8')).toBe(before);
    });

    it('asks for LUMEN_MASTER_KEY when a passphrase file is opened without one', async () => {
      await open('a passphrase').set('k', TOKEN);
      const error = await rejection(open().get('k'));
      expect(error.code).toBe('secrets_unreadable');
      expect(error.hint).toContain('LUMEN_MASTER_KEY');
    });

    it('refuses a passphrase for a file written with the key file', async () => {
      await open().set('k', TOKEN);
      const error = await rejection(open('a passphrase').get('k'));
      expect(error.code).toBe('secrets_unreadable');
      expect(error.message).toContain(keyFilePath);
      expect(error.hint).toContain('Unset LUMEN_MASTER_KEY');
    });
  });

  describe('damage', () => {
    it('detects a modified ciphertext', async () => {
      await open().set('k', TOKEN);
      const doc = JSON.parse(readFileSync(filePath, 'utf8'));
      const data = Buffer.from(doc.entries.k.data, 'base64');
      data[0] = (data[0] ?? 0) ^ 0x01;
      doc.entries.k.data = data.toString('base64');
      writeFileSync(filePath, JSON.stringify(doc));

      const error = await rejection(open().get('k'));
      expect(error.code).toBe('secrets_unreadable');
      expect(error.hint).toContain('LUMEN_MASTER_KEY');
    });

    it('detects an entry moved to another key (the key is authenticated)', async () => {
      const store = open();
      await store.set('integration/a/access_token', TOKEN);
      await store.set('integration/b/access_token', 'other');
      const doc = JSON.parse(readFileSync(filePath, 'utf8'));
      doc.entries['integration/b/access_token'] = doc.entries['integration/a/access_token'];
      writeFileSync(filePath, JSON.stringify(doc));

      const error = await rejection(open().get('integration/b/access_token'));
      expect(error.code).toBe('secrets_unreadable');
    });

    it('rejects a truncated authentication tag', async () => {
      await open().set('k', TOKEN);
      const doc = JSON.parse(readFileSync(filePath, 'utf8'));
      doc.entries.k.tag = Buffer.from(doc.entries.k.tag, 'base64').subarray(0, 4).toString('base64');
      writeFileSync(filePath, JSON.stringify(doc));
      expect((await rejection(open().get('k'))).code).toBe('secrets_unreadable');
    });

    it('detects a replaced key file', async () => {
      await open().set('k', TOKEN);
      writeFileSync(keyFilePath, Buffer.alloc(32, 7).toString('base64'));
      expect((await rejection(open().get('k'))).code).toBe('secrets_unreadable');
    });

    it('reports a missing key file instead of creating a new one', async () => {
      await open().set('k', TOKEN);
      rmSync(keyFilePath);
      expect((await rejection(open().get('k'))).code).toBe('secrets_unreadable');
      expect((await rejection(open().set('other', 'x'))).code).toBe('secrets_unreadable');
      expect(() => statSync(keyFilePath)).toThrow();
    });

    it('reports a file that is not JSON as secrets_corrupt', async () => {
      await open().set('k', TOKEN);
      writeFileSync(filePath, '{"version":1, "entries": {');
      const error = await rejection(open().get('k'));
      expect(error.code).toBe('secrets_corrupt');
      expect(error.message).toContain(filePath);
    });

    it('reports a wrong shape as secrets_corrupt', async () => {
      await open().set('k', TOKEN);
      writeFileSync(filePath, JSON.stringify({ version: 1, entries: { k: 'not an object' } }));
      expect((await rejection(open().get('k'))).code).toBe('secrets_corrupt');
      writeFileSync(filePath, JSON.stringify({ version: 1, kdf: { name: 'scrypt', salt: 'x', N: 2 ** 30, r: 8, p: 1 }, entries: {} }));
      expect((await rejection(open('pass').get('k'))).code).toBe('secrets_corrupt');
    });
  });
});
