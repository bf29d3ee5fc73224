import { readdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { openSecretStore, probeKeychain, secretKey } from '../../src/secrets/index.js';
import { makeHome, type LumenHome } from '../helpers/home.js';

const onLinux = process.platform === 'linux';

describe('choosing the secret store', () => {
  let home: LumenHome;
  let dir: string;
  let savedEnv: NodeJS.ProcessEnv;
  let warnings: string[];

  beforeEach(() => {
    home = makeHome();
    dir = home.dir;
    savedEnv = { ...process.env };
    warnings = [];
  });

  afterEach(() => {
    // The keyring library reads D-Bus settings from the real process environment.
    for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
    Object.assign(process.env, savedEnv);
    home.cleanup();
  });

  const open = (env: NodeJS.ProcessEnv, kind?: 'keychain' | 'file' | 'memory' | 'database') =>
    openSecretStore({
      env,
      secretsFile: path.join(dir, 'secrets.json'),
      keyFile: path.join(dir, 'secrets.key'),
      warn: (line) => warnings.push(line),
      kind,
    });

  async function rejection(promise: Promise<unknown>): Promise<UserError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }

  it('LUMEN_SECRET_STORE=file picks the encrypted file, silently', async () => {
    const store = await open({ LUMEN_SECRET_STORE: 'file' });
    expect(store.kind).toBe('file');
    expect(store.description).toContain(path.join(dir, 'secrets.json'));
    expect(warnings).toEqual([]);

    await store.set('k', 'v');
    expect(await store.get('k')).toBe('v');
  });

  it('passes LUMEN_MASTER_KEY to the file store', async () => {
    const store = await open({ LUMEN_SECRET_STORE: 'file', LUMEN_MASTER_KEY: 'passphrase' });
    expect(store.description).toContain('LUMEN_MASTER_KEY');
    await store.set('k', 'v');
    expect(readdirSync(dir)).toEqual(['secrets.json']); // no key file with a passphrase
  });

  it('rejects an unknown LUMEN_SECRET_STORE as a usage error', async () => {
    const error = await rejection(open({ LUMEN_SECRET_STORE: 'vault' }));
    expect(error.code).toBe('usage');
    expect(error.kind).toBe('usage');
    expect(error.message).toContain('LUMEN_SECRET_STORE');
    expect(error.message).toContain('"keychain", "file" or "database"');
    // also when the caller names the store (a connected number's recorded one)
    expect((await rejection(open({ LUMEN_SECRET_STORE: 'vault' }, 'file'))).code).toBe('usage');
  });

  it('refuses LUMEN_SECRET_STORE=database without a database URL or without LUMEN_MASTER_KEY, before connecting', async () => {
    const onSqlite = await rejection(open({ LUMEN_SECRET_STORE: 'database', LUMEN_MASTER_KEY: 'k' }));
    expect(onSqlite).toMatchObject({ code: 'secrets_database_unavailable', kind: 'usage' });
    const recorded = await rejection(open({}, 'database'));
    expect(recorded.kind).toBe('usage');
  });

  it('lets a recorded kind win over LUMEN_SECRET_STORE', async () => {
    expect((await open({ LUMEN_SECRET_STORE: 'keychain' }, 'file')).kind).toBe('file');
    expect((await open({ LUMEN_SECRET_STORE: 'file' }, 'memory')).kind).toBe('memory');
    // A recorded keychain is not probed: opening is instant, errors come on use.
    expect((await open({ LUMEN_SECRET_STORE: 'file' }, 'keychain')).kind).toBe('keychain');
    expect(warnings).toEqual([]);
  });

  describe.skipIf(!onLinux)('without a D-Bus session (Linux)', () => {
    it('falls back to the file with exactly one warning line, without waiting for a probe timeout', async () => {
      // Given a session bus address that points nowhere
      process.env.DBUS_SESSION_BUS_ADDRESS = 'unix:path=/nonexistent';

      // When no backend is chosen
      const store = await open({});

      // Then the file store is used, after one warning line whose reason is the failed connection (the probe
      // gave up on the error itself, not on its timeout)
      expect(store.kind).toBe('file');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).not.toContain('\n');
      expect(warnings[0]).toMatch(/^OS keychain unavailable \(cannot reach the D-Bus session bus \(no bus socket\)\); secrets go to the encrypted file /);
      expect(warnings[0]).toContain(path.join(dir, 'secrets.json'));
      expect(warnings[0]).toContain('LUMEN_SECRET_STORE=file');
    });

    it('warns once per LUMEN_HOME, not on every command', async () => {
      process.env.DBUS_SESSION_BUS_ADDRESS = 'unix:path=/nonexistent';
      expect((await open({})).kind).toBe('file');
      expect((await open({})).kind).toBe('file');
      expect(warnings).toHaveLength(1);
    });

    it('falls back without waiting for a probe timeout when no bus address is set at all', async () => {
      delete process.env.DBUS_SESSION_BUS_ADDRESS;
      process.env.XDG_RUNTIME_DIR = dir; // holds no "bus" socket
      const store = await open({});
      expect(store.kind).toBe('file');
      expect(warnings).toHaveLength(1);
      // The reason is the missing bus, not a timeout
      expect(warnings[0]).toMatch(/^OS keychain unavailable \(/);
      expect(warnings[0]).not.toMatch(/timed out|no answer|did not answer/);
    });

    it('LUMEN_SECRET_STORE=keychain fails with keychain_unavailable', async () => {
      process.env.DBUS_SESSION_BUS_ADDRESS = 'unix:path=/nonexistent';
      const error = await rejection(open({ LUMEN_SECRET_STORE: 'keychain' }));
      expect(error.code).toBe('keychain_unavailable');
      expect(error.hint).toContain('LUMEN_SECRET_STORE=file');
      expect(warnings).toEqual([]);
    });

    it('a recorded keychain fails on use with keychain_unavailable', async () => {
      process.env.DBUS_SESSION_BUS_ADDRESS = 'unix:path=/nonexistent';
      const store = await open({}, 'keychain');
      const error = await rejection(store.get(secretKey('abc', 'access_token')));
      expect(error.code).toBe('keychain_unavailable');
      expect(error.message).toContain('integration/abc/access_token');
    });
  });

  describe.skipIf(!onLinux)('with a D-Bus socket that accepts but never answers (Linux)', () => {
    let server: Server;
    const clients = new Set<Socket>();

    beforeEach(async () => {
      server = createServer((socket) => {
        clients.add(socket); // hold the connection open and say nothing, like a frozen dbus-daemon
        socket.on('error', () => undefined);
      });
      const socketPath = path.join(dir, 'silent-bus');
      await new Promise<void>((resolve) => server.listen(socketPath, resolve));
      process.env.DBUS_SESSION_BUS_ADDRESS = `unix:path=${socketPath},guid=0123456789abcdef`;
    });

    afterEach(async () => {
      for (const socket of clients) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('the probe gives up after its timeout instead of hanging', async () => {
      // (the test's own timeout is the safety net against a hang)
      const probe = await probeKeychain({ timeoutMs: 300 });
      // The reason names the timeout that ended it
      expect(probe).toMatchObject({ ok: false, reason: expect.stringMatching(/(did not answer|no answer) within 300 ms/) });
    });
  });
});

describe('secretKey', () => {
  it('names an integration secret', () => {
    expect(secretKey('wa_123', 'access_token')).toBe('integration/wa_123/access_token');
    expect(secretKey('wa_123', 'app_secret')).toBe('integration/wa_123/app_secret');
  });
});
