/**
 * `lumen db status` / `lumen db migrate` on both backends, and what a user sees when the database URL is wrong, the
 * server refuses, the database is missing or the user may not create tables: one line and a hint, the right exit
 * code, never the password. `lumen doctor` says the same in its database check, with the fix.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations } from '../../src/store/db.js';
import { pgMigrations } from '../../src/store/pg/db.js';
import { runLumen, type CliResult } from '../helpers/cli.js';
import { makeHome, type LumenHome } from '../helpers/home.js';
import { freshDatabase, pgRepositoriesMissing, postgres } from '../helpers/postgres.js';

const { skip, url: serverUrl } = postgres();
const noRepositories = await pgRepositoriesMissing();
const PASSWORD = `pw${randomBytes(8).toString('hex')}`;

/** The URL with a password in it (the test server trusts loopback, so any password works): it must never show. */
function withPassword(url: string, user = 'lumen'): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = PASSWORD;
  return parsed.toString();
}

/** An error as the user sees it: one `Error:` line and one `Hint:` line on stderr, nothing else. */
function expectOneLineError(result: CliResult, exitCode: number, message: RegExp): void {
  expect(result.exitCode, result.stderr).toBe(exitCode);
  const lines = result.stderr.split('\n');
  expect(lines, result.stderr).toHaveLength(2);
  expect(lines[0]).toMatch(/^Error: /);
  expect(lines[0]).toMatch(message);
  expect(lines[1]).toMatch(/^Hint: /);
  expect(result.stdout).toBe('');
  expect(`${result.stdout}${result.stderr}`).not.toContain(PASSWORD);
}

let home: LumenHome;
beforeAll(() => {
  // An unreachable Graph API for doctor's clock check: no network but loopback.
  home = makeHome({ env: { LUMEN_GRAPH_URL: 'http://127.0.0.1:1' } });
});
afterAll(() => home.cleanup());

describe('lumen db on SQLite', () => {
  it('says what is pending, migrates it, and then nothing', async () => {
    const latest = loadMigrations().at(-1)!.version;
    const before = await runLumen(['db', 'status', '--json'], { env: home.env });
    expect(before.exitCode, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({ backend: 'sqlite', where: home.path('lumen.db'), version: 0, latest });
    expect(JSON.parse(before.stdout).pending).toHaveLength(loadMigrations().length);

    const migrated = await runLumen(['db', 'migrate', '--json'], { env: home.env });
    expect(migrated.exitCode, migrated.stderr).toBe(0);
    expect(JSON.parse(migrated.stdout)).toMatchObject({ version: latest, pending: [] });
    expect(JSON.parse(migrated.stdout).applied.map((m: { version: number }) => m.version)).toEqual(loadMigrations().map((m) => m.version));

    const again = await runLumen(['db', 'migrate'], { env: home.env });
    expect(again.stdout).toContain('nothing to apply');
    const human = await runLumen(['db', 'status'], { env: home.env });
    expect(human.stdout).toMatch(/Backend\s+SQLite/);
    expect(human.stdout).toMatch(/Pending\s+none/);
  });

  it('a bad `databaseUrl` in config.json is blamed on the file, and LUMEN_DATABASE_URL still wins over it', async () => {
    const other = makeHome();
    try {
      writeFileSync(other.path('config.json'), JSON.stringify({ databaseUrl: 'mysql://root@127.0.0.1/lumen' }));
      expectOneLineError(await runLumen(['db', 'status'], { env: other.env }), 2, /^Error: `databaseUrl` in .*config\.json is not a postgres:\/\/ URL\./);
      expectOneLineError(await runLumen(['db', 'status'], { env: { ...other.env, LUMEN_DATABASE_URL: 'not a url' } }), 2, /LUMEN_DATABASE_URL is not a URL/);
      // Blank is unset: the SQLite file
      writeFileSync(other.path('config.json'), JSON.stringify({ databaseUrl: '   ' }));
      expect(JSON.parse((await runLumen(['db', 'status', '--json'], { env: other.env })).stdout)).toMatchObject({ backend: 'sqlite' });
    } finally {
      other.cleanup();
    }
  });
});

describe.skipIf(!!skip)(skip ? `lumen db on PostgreSQL (${skip})` : 'lumen db on PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  const role = `lumen_nopriv_${randomBytes(4).toString('hex')}`;
  const env = (url: string, extra: Record<string, string> = {}) => ({ ...home.env, LUMEN_DATABASE_URL: url, ...extra });

  beforeAll(async () => {
    database = await freshDatabase();
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: serverUrl! });
    await admin.connect();
    // A user who may log in and nothing more (PostgreSQL 15 gives PUBLIC no CREATE on the public schema).
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.end();
  });
  afterAll(async () => {
    await database?.drop();
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: serverUrl! });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });

  it('status looks without migrating, migrate applies, both name the server without the password', async () => {
    const url = withPassword(database.url);
    const all = pgMigrations().map((m) => m.version);

    const before = await runLumen(['db', 'status', '--json'], { env: env(url) });
    expect(before.exitCode, before.stderr).toBe(0);
    const status = JSON.parse(before.stdout);
    expect(status).toMatchObject({ backend: 'postgres', version: 0, latest: all.at(-1) });
    expect(status.where).toContain('lumen:***@127.0.0.1');
    expect(status.pending.map((m: { version: number }) => m.version)).toEqual(all);
    // Looking did not migrate.
    expect(JSON.parse((await runLumen(['db', 'status', '--json'], { env: env(url) })).stdout).version).toBe(0);

    // doctor says what is pending and how to apply it
    const doctor = await runLumen(['doctor', '--json'], { env: env(url) });
    const check = JSON.parse(doctor.stdout).checks.find((c: { id: string }) => c.id === 'database');
    expect(check, JSON.stringify(check)).toMatchObject({ status: "fail", fix: expect.stringContaining("lumen db migrate") });
    expect(check.detail).toContain(`${all.length} migrations pending`);

    const migrated = await runLumen(['db', 'migrate', '--json'], { env: env(url) });
    expect(migrated.exitCode, migrated.stderr).toBe(0);
    expect(JSON.parse(migrated.stdout)).toMatchObject({ version: all.at(-1), pending: [] });
    expect(JSON.parse(migrated.stdout).applied.map((m: { version: number }) => m.version)).toEqual(all);

    if (!noRepositories) {
      const current = await runLumen(['doctor', '--json'], { env: env(url) });
      const database = JSON.parse(current.stdout).checks.find((c: { id: string }) => c.id === 'database');
      expect(database, JSON.stringify(database)).toMatchObject({ status: 'ok', fix: null });
      expect(database.detail).toMatch(new RegExp(`^PostgreSQL at postgres://lumen:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/\\w+: reachable, schema ${all.at(-1)} of ${all.at(-1)} \\(current\\)$`));
      // A host that only runs commands is normal with a shared database: no relay here is not a failure.
      const relay = JSON.parse(current.stdout).checks.find((c: { id: string }) => c.id === 'relay');
      expect(relay).toMatchObject({ status: 'skip', detail: expect.stringContaining('none on this host') });
    }

    const human = await runLumen(['db', 'status'], { env: env(url) });
    expect(human.stdout).toMatch(/Backend\s+PostgreSQL/);
    expect(human.stdout).toMatch(/Pending\s+none/);
    const again = await runLumen(['db', 'migrate'], { env: env(url) });
    expect(again.stdout).toContain('nothing to apply');
    for (const result of [before, doctor, migrated, human, again]) expect(`${result.stdout}${result.stderr}`).not.toContain(PASSWORD);
  });

  it('a refused connection, a missing database and a URL that is not PostgreSQL are one line each', async () => {
    expectOneLineError(
      await runLumen(['db', 'status'], { env: env(`postgres://lumen:${PASSWORD}@127.0.0.1:1/lumen`) }),
      1,
      /Cannot reach PostgreSQL at postgres:\/\/lumen:\*\*\*@127\.0\.0\.1:1\/lumen: connection refused/,
    );
    const missing = new URL(withPassword(database.url));
    missing.pathname = '/lumen_no_such_db';
    expectOneLineError(await runLumen(['db', 'migrate'], { env: env(missing.toString()) }), 1, /database "lumen_no_such_db" does not exist/);
    expectOneLineError(await runLumen(['db', 'status'], { env: env('mysql://root@127.0.0.1/lumen') }), 2, /must be a postgres:\/\/ URL/);
    expectOneLineError(await runLumen(['db', 'status'], { env: env('not a url') }), 2, /LUMEN_DATABASE_URL is not a URL/);

    const json = await runLumen(['db', 'status', '--json'], { env: env(`postgres://lumen:${PASSWORD}@127.0.0.1:1/lumen`) });
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'database_unavailable', hint: expect.any(String) });
  });

  it('a user without the right to create tables is told so in one line, by db migrate and by doctor', async () => {
    const other = await freshDatabase();
    try {
      const url = withPassword(other.url, role);
      expectOneLineError(await runLumen(['db', 'migrate'], { env: env(url) }), 4, /refused: permission denied for schema public/);
      // The owner migrates; the user still may not read or write lumen's tables, and doctor says so.
      expect((await runLumen(['db', 'migrate'], { env: env(other.url) })).exitCode).toBe(0);

      const doctor = await runLumen(['doctor', '--json'], { env: env(url) });
      expect(doctor.exitCode).toBe(1);
      const check = JSON.parse(doctor.stdout).checks.find((c: { id: string }) => c.id === 'database');
      expect(check).toMatchObject({ status: 'fail', detail: expect.stringContaining('permission denied'), fix: expect.stringContaining('CREATE') });
      const human = await runLumen(['doctor'], { env: env(url) });
      expect(human.stdout).toMatch(/✗ Database: PostgreSQL at .+ refused: permission denied for .+\n\s+fix: .*CREATE/);
      expect(`${doctor.stdout}${human.stdout}${human.stderr}`).not.toContain(PASSWORD);
    } finally {
      await other.drop();
    }
  });
});
