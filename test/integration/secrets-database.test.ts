/**
 * LUMEN_SECRET_STORE=database on the run's PostgreSQL server: secrets shared by hosts with the same database and
 * LUMEN_MASTER_KEY, never in plain text in a row, a clear error for another key (naming its id and rotate-key), and
 * `lumen secrets rotate-key` moving every row to the new key in one transaction, once.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openSecretStore, type SecretStore } from '../../src/secrets/index.js';
import { deriveMasterKey } from '../../src/secrets/database.js';
import { openPgDatabase, type PgDatabase } from '../../src/store/pg/db.js';
import { runLumen } from '../helpers/cli.js';
import { makeHome, type LumenHome } from '../helpers/home.js';
import { freshDatabase, pgRepositoriesMissing, postgres } from '../helpers/postgres.js';
import { startSandbox } from '../../src/sandbox/index.js';

const { skip } = postgres();
const noRepositories = await pgRepositoriesMissing();

const KEY_A = `old-${randomBytes(12).toString('hex')}`;
const KEY_B = `new-${randomBytes(12).toString('hex')}`;
const TOKEN = `EAADb${randomBytes(30).toString('base64url')}`;
const APP_SECRET = randomBytes(16).toString('hex');

/** Every way a value could sit in a row: as is, hex, base64 (each alignment, as the secrets scan does). */
function forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const out = new Set([secret, bytes.toString('hex')]);
  for (let pad = 0; pad < 3; pad++) {
    const text = Buffer.concat([Buffer.alloc(pad), bytes]).toString('base64').replace(/=+$/, '');
    out.add(text.slice(Math.ceil((pad * 8) / 6), text.length - 2));
  }
  return [...out];
}

describe.skipIf(!!skip)(skip ? `database secret store (${skip})` : 'database secret store', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: PgDatabase;
  let home: LumenHome;
  const opened: SecretStore[] = [];

  const envWith = (extra: Record<string, string>) => ({
    ...home.env,
    LUMEN_SECRET_STORE: 'database',
    LUMEN_DATABASE_URL: database.url,
    ...extra,
  });

  async function storeWith(masterKey: string | undefined, databaseUrl: string | null = database.url): Promise<SecretStore> {
    const store = await openSecretStore({
      env: { LUMEN_SECRET_STORE: 'database', ...(masterKey === undefined ? {} : { LUMEN_MASTER_KEY: masterKey }) },
      secretsFile: home.path('secrets.json'),
      keyFile: home.path('secrets.key'),
      warn: () => {},
      databaseUrl: databaseUrl ?? undefined,
    });
    opened.push(store);
    return store;
  }

  beforeAll(async () => {
    database = await freshDatabase();
    db = await openPgDatabase(database.url, { max: 1 });
    home = makeHome();
  });
  beforeEach(async () => {
    await db.run('DELETE FROM secrets');
  });
  afterAll(async () => {
    for (const store of opened) await store.close?.();
    await db?.close();
    await database?.drop();
    home?.cleanup();
  });

  it('shares secrets between hosts with the same key, and no row holds one in plain text', async () => {
    // Given two hosts with the same database and LUMEN_MASTER_KEY
    const hostA = await storeWith(KEY_A);
    const hostB = await storeWith(KEY_A);
    expect(hostA.kind).toBe('database');

    // When one stores the secrets
    await hostA.set('integration/ref1/access_token', TOKEN);
    await hostA.set('integration/ref1/app_secret', APP_SECRET);

    // Then the other reads them, and deletes one
    expect(await hostB.get('integration/ref1/access_token')).toBe(TOKEN);
    expect(await hostB.get('integration/ref1/app_secret')).toBe(APP_SECRET);
    expect(await hostB.get('integration/ref1/nothing')).toBeUndefined();

    const rows = await db.all<Record<string, unknown>>('SELECT * FROM secrets');
    expect(rows).toHaveLength(2);
    const { id } = await deriveMasterKey(KEY_A);
    for (const row of rows) {
      expect(row.key_id).toBe(id);
      const text = Object.values(row)
        .map((v) => (Buffer.isBuffer(v) ? `${v.toString('latin1')} ${v.toString('hex')} ${v.toString('base64')}` : String(v)))
        .join(' ');
      for (const secret of [TOKEN, APP_SECRET, KEY_A]) for (const form of forms(secret)) expect(text).not.toContain(form);
    }
    // The key id is a fingerprint, not the key.
    expect(id).toMatch(/^[0-9a-f]{12}$/);

    expect(await hostB.delete('integration/ref1/app_secret')).toBe(true);
    expect(await hostA.get('integration/ref1/app_secret')).toBeUndefined();
    expect(await hostA.delete('integration/ref1/app_secret')).toBe(false);
  });

  it('tells a host with another key which key id the secrets are under, and lets it write nothing', async () => {
    const hostA = await storeWith(KEY_A);
    await hostA.set('relay/signing_secret', 'whsec_x');
    const wrong = await storeWith(KEY_B);
    const { id: idA } = await deriveMasterKey(KEY_A);

    await expect(wrong.get('relay/signing_secret')).rejects.toMatchObject({
      code: 'secrets_key_mismatch',
      message: expect.stringContaining(idA),
      hint: expect.stringContaining('lumen secrets rotate-key'),
    });
    await expect(wrong.set('relay/local_api_key', 'lk_y')).rejects.toMatchObject({ code: 'secrets_key_mismatch' });
    expect(await db.get('SELECT 1 FROM secrets WHERE key = $1', ['relay/local_api_key'])).toBeUndefined();
  });

  it('refuses without LUMEN_MASTER_KEY, and on SQLite, in one line each', async () => {
    await expect(storeWith(undefined)).rejects.toMatchObject({ code: 'master_key_missing', kind: 'usage' });
    await expect(storeWith(KEY_A, null)).rejects.toMatchObject({ code: 'secrets_database_unavailable', kind: 'usage' });

    const noKey = await runLumen(['secrets', 'status'], { env: envWith({}) });
    expect(noKey.exitCode).toBe(2);
    expect(noKey.stderr).toMatch(/^Error: LUMEN_SECRET_STORE=database needs LUMEN_MASTER_KEY.*\nHint: .+$/);
    const sqlite = await runLumen(['secrets', 'status', '--json'], { env: { ...home.env, LUMEN_SECRET_STORE: 'database', LUMEN_MASTER_KEY: KEY_A } });
    expect(sqlite.exitCode).toBe(2);
    expect(JSON.parse(sqlite.stdout).error.code).toBe('secrets_database_unavailable');
  });

  it('rotate-key re-encrypts every secret from the previous key to the new one, once', async () => {
    // Given three secrets under key A
    const hostA = await storeWith(KEY_A);
    await hostA.set('integration/r/access_token', TOKEN);
    await hostA.set('integration/r/app_secret', APP_SECRET);
    await hostA.set('relay/signing_secret', 'whsec_z');
    const [idA, idB] = [(await deriveMasterKey(KEY_A)).id, (await deriveMasterKey(KEY_B)).id];

    // Without the previous key: a clear error naming the key id, nothing changed
    const missing = await runLumen(['secrets', 'rotate-key', '--json'], { env: envWith({ LUMEN_MASTER_KEY: KEY_B }) });
    expect(missing.exitCode).toBe(2);
    const error = JSON.parse(missing.stdout).error;
    expect(error.code).toBe('previous_master_key_missing');
    expect(error.message).toContain(idA);
    expect(error.hint).toContain('LUMEN_PREVIOUS_MASTER_KEY');

    // When it is run with the old key in LUMEN_PREVIOUS_MASTER_KEY and the new one in LUMEN_MASTER_KEY
    const env = envWith({ LUMEN_MASTER_KEY: KEY_B, LUMEN_PREVIOUS_MASTER_KEY: KEY_A });
    const first = await runLumen(['secrets', 'rotate-key', '--json'], { env });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ keyId: idB, previousKeyId: idA, rotated: 3, unchanged: 0 });
    // Then a second run has nothing left to do
    const again = await runLumen(['secrets', 'rotate-key', '--json'], { env });
    expect(JSON.parse(again.stdout)).toMatchObject({ rotated: 0, unchanged: 3 });
    const human = await runLumen(['secrets', 'rotate-key'], { env });
    expect(human.stdout).toContain(`under key id ${idB} already`);

    // And the new key reads them; the old one is told to rotate
    const hostB = await storeWith(KEY_B);
    expect(await hostB.get('integration/r/access_token')).toBe(TOKEN);
    expect(await hostB.get('integration/r/app_secret')).toBe(APP_SECRET);
    await expect(hostA.get('relay/signing_secret')).rejects.toMatchObject({ code: 'secrets_key_mismatch' });

    const status = await runLumen(['secrets', 'status', '--json'], { env });
    expect(JSON.parse(status.stdout)).toMatchObject({ backend: 'database', keyId: idB, keys: [{ keyId: idB, secrets: 3, current: true }] });
    for (const output of [first, again, human, status]) {
      for (const secret of [TOKEN, APP_SECRET, KEY_A, KEY_B]) expect(`${output.stdout}${output.stderr}`).not.toContain(secret);
    }
  });

  it('rotate-key reads the old key from the variable --previous-key-env names, and changes nothing when a row is under a third key', async () => {
    const hostA = await storeWith(KEY_A);
    await hostA.set('a', '1');
    await hostA.set('b', '2');
    // A row no given key wrote (as if a host with yet another key had slipped one in).
    const keyC = await deriveMasterKey('third');
    await db.run("UPDATE secrets SET key_id = $1 WHERE key = 'b'", [keyC.id]);

    const env = envWith({ LUMEN_MASTER_KEY: KEY_B, OLD_LUMEN_KEY: KEY_A });
    const refused = await runLumen(['secrets', 'rotate-key', '--previous-key-env', 'OLD_LUMEN_KEY'], { env });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(keyC.id);
    expect(refused.stderr).toContain('OLD_LUMEN_KEY');
    const ids = await db.all<{ key: string; key_id: string }>('SELECT key, key_id FROM secrets ORDER BY key');
    expect(ids).toEqual([
      { key: 'a', key_id: (await deriveMasterKey(KEY_A)).id },
      { key: 'b', key_id: keyC.id },
    ]);

    await db.run("DELETE FROM secrets WHERE key = 'b'");
    const done = await runLumen(['secrets', 'rotate-key', '--previous-key-env', 'OLD_LUMEN_KEY', '--json'], { env });
    expect(done.exitCode, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ rotated: 1 });

    const same = await runLumen(['secrets', 'rotate-key'], { env: envWith({ LUMEN_MASTER_KEY: KEY_B, LUMEN_PREVIOUS_MASTER_KEY: KEY_B }) });
    expect(same.exitCode).toBe(2);
    expect(same.stderr).toContain('the same passphrase');
  });

  it('secrets status on another store names it and prints no key id; rotate-key with no secrets file says so', async () => {
    const status = await runLumen(['secrets', 'status', '--json'], { env: home.env });
    expect(status.exitCode, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ backend: 'file', keyId: null, keys: null });
    const rotate = await runLumen(['secrets', 'rotate-key'], { env: home.env });
    expect(rotate.exitCode).toBe(2);
    expect(rotate.stderr).toContain('There is no encrypted secrets file');
    expect(rotate.stderr).toContain('With LUMEN_SECRET_STORE=database, rotate-key re-encrypts the secrets kept in PostgreSQL.');
  });

  it.skipIf(!!noRepositories)(
    noRepositories ? `a number connected on one host is used from another (${noRepositories})` : 'a number connected on one host is used from another',
    async () => {
      const sandbox = await startSandbox({});
      const hostA = makeHome({ sandbox, env: { LUMEN_SECRET_STORE: 'database', LUMEN_DATABASE_URL: database.url, LUMEN_MASTER_KEY: KEY_A } });
      // Host B has the database and the passphrase, and no Meta credentials of its own.
      const hostB = makeHome({ env: { LUMEN_SECRET_STORE: 'database', LUMEN_DATABASE_URL: database.url, LUMEN_MASTER_KEY: KEY_A, LUMEN_GRAPH_URL: sandbox.url } });
      try {
        const connect = await runLumen(
          ['whatsapp', 'connect', '--phone-number-id', sandbox.phoneNumberId, '--waba-id', sandbox.wabaId, '--no-input', '--json'],
          { env: hostA.env },
        );
        expect(connect.exitCode, connect.stderr).toBe(0);
        const check = await runLumen(['whatsapp', 'status', '--check', '--json'], { env: hostB.env });
        expect(check.exitCode, `${check.stdout}\n${check.stderr}`).toBe(0);
        expect(JSON.parse(check.stdout).integrations[0]).toMatchObject({ secretStore: 'database', check: { ok: true } });
        const rows = await db.all<{ key: string }>('SELECT key FROM secrets ORDER BY key');
        expect(rows.map((r) => r.key)).toEqual(expect.arrayContaining([expect.stringMatching(/access_token$/), expect.stringMatching(/app_secret$/)]));
        for (const output of [connect, check]) {
          for (const secret of [sandbox.accessToken, sandbox.appSecret, KEY_A]) expect(`${output.stdout}${output.stderr}`).not.toContain(secret);
        }
      } finally {
        hostA.cleanup();
        hostB.cleanup();
        await sandbox.close();
      }
    },
  );
});
