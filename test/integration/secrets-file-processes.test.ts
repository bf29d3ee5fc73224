/**
 * The encrypted secrets file written by several processes at once (a relay creating its keys while
 * `lumen whatsapp connect` stores a token): each read-modify-write holds a lock file, so no write is lost, and a
 * lock left by a killed process is taken over, by one process only.
 */
import { existsSync, utimesSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileSecretStore } from '../../src/secrets/file.js';
import { makeHome, type LumenHome } from '../helpers/home.js';

const STORE_MODULE = fileURLToPath(new URL('../../dist/secrets/file.js', import.meta.url));

let home: LumenHome;
let filePath: string;
let keyFilePath: string;
beforeEach(() => {
  home = makeHome();
  filePath = home.path('secrets.enc.json');
  keyFilePath = home.path('secrets.key');
});
afterEach(() => home.cleanup());

/** A process that stores `count` secrets named `<prefix>.<n>`, one write each. */
function writer(prefix: string, count: number, masterKey?: string) {
  const script = `
    const { createFileSecretStore } = await import(${JSON.stringify(STORE_MODULE)});
    const store = createFileSecretStore(${JSON.stringify({ filePath, keyFilePath, masterKey })});
    for (let n = 0; n < ${count}; n += 1) await store.set('${prefix}.' + n, 'value of ${prefix}.' + n);
  `;
  return execa('node', ['--input-type=module', '-e', script], { reject: false });
}

describe('the encrypted secrets file across processes', () => {
  it('keeps every secret four processes store at the same moment', async () => {
    // The key file and the file exist first, as after `lumen whatsapp connect`
    const store = createFileSecretStore({ filePath, keyFilePath });
    await store.set('first', 'one');
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((prefix) => writer(prefix, 15)));
    for (const result of results) expect(result.exitCode, result.stderr).toBe(0);
    const reread = createFileSecretStore({ filePath, keyFilePath });
    expect(await reread.get('first')).toBe('one');
    for (const prefix of ['a', 'b', 'c', 'd']) {
      for (let n = 0; n < 15; n += 1) expect(await reread.get(`${prefix}.${n}`), `${prefix}.${n}`).toBe(`value of ${prefix}.${n}`);
    }
    expect(existsSync(`${filePath}.lock`)).toBe(false);
  });

  it('takes over a lock left by a killed process (told by its age), once, however many processes find it at once', async () => {
    // Given a lock a process killed mid-write left behind a minute ago (its id, 1, is a live process's now)
    const store = createFileSecretStore({ filePath, keyFilePath });
    await store.set('first', 'one');
    writeFileSync(`${filePath}.lock`, '1');
    const aMinuteAgo = new Date(Date.now() - 60_000);
    utimesSync(`${filePath}.lock`, aMinuteAgo, aMinuteAgo);
    // When six processes write at the same moment
    const prefixes = ['a', 'b', 'c', 'd', 'e', 'f'];
    const results = await Promise.all(prefixes.map((prefix) => writer(prefix, 3)));
    // Then each one's writes are all there: only one of them took the stale lock over
    for (const result of results) expect(result.exitCode, result.stderr).toBe(0);
    const reread = createFileSecretStore({ filePath, keyFilePath });
    expect(await reread.get('first')).toBe('one');
    for (const prefix of prefixes) {
      for (let n = 0; n < 3; n += 1) expect(await reread.get(`${prefix}.${n}`), `${prefix}.${n}`).toBe(`value of ${prefix}.${n}`);
    }
    expect(existsSync(`${filePath}.lock`)).toBe(false);
    expect(existsSync(`${filePath}.lock.takeover`)).toBe(false);
  });
});
