// A throw-away PostgreSQL server for the tests (test/global-postgres.ts) and the bench (scripts/bench/multi.mjs):
// Debian's `postgresql` package binaries, a temporary data directory, a free loopback port, trust auth for the
// `lumen` superuser, fsync off (nothing in it is worth an fsync;
// commits stay synchronous, so a server stopped as a crash keeps what it acknowledged). Plain JS: the bench runs it without a build.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/** The newest installed server's bin folder (or LUMEN_TEST_PG_BINDIR), or null. */
export function findPostgresBinDir(env = process.env) {
  const fromEnv = env.LUMEN_TEST_PG_BINDIR;
  if (fromEnv) return existsSync(join(fromEnv, 'initdb')) ? fromEnv : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Starts a server. Resolves with `{ url, port, dir, stop(), start(), remove() }` (`url` = the superuser's URL of
 * database "postgres"; `stop()` keeps the data for `start()`, `remove()` stops it and removes its folder), or with
 * `{ skip: reason }` when it cannot run here (no binaries, root without a postgres user, initdb or pg_ctl failing).
 * `settings` are extra `-c name=value` server settings.
 */
export async function startPostgresServer({ settings = {} } = {}) {
  const bin = findPostgresBinDir();
  if (!bin) return { skip: "no PostgreSQL server binaries (install Debian's postgresql package; .ci/run does)" };

  // initdb and postgres refuse to run as root: run them as the package's postgres user.
  const asRoot = process.getuid?.() === 0;
  let owner;
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) return { skip: 'running as root and there is no postgres user to run the server as' };
    owner = { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  const run = (file, args) => {
    const command = asRoot ? 'runuser' : join(bin, file);
    const full = asRoot ? ['-u', 'postgres', '--', join(bin, file), ...args] : args;
    execFileSync(command, full, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  };

  const dir = mkdtempSync(join(tmpdir(), 'lumen-pg-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const port = await freePort();
  const options = {
    listen_addresses: '127.0.0.1',
    fsync: 'off',
    full_page_writes: 'off',
    max_connections: '200',
    ...settings,
  };
  const serverArgs = [`-p ${port}`, `-k ${dir}`, ...Object.entries(options).map(([name, value]) => `-c ${name}=${value}`)].join(' ');
  const startServer = () => run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '120', 'start', '-o', serverArgs]);
  let running = false;
  try {
    run('initdb', ['-D', data, '-U', 'lumen', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    startServer();
    running = true;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = String(error?.stderr ?? '').trim().split('\n').at(-1);
    return { skip: `could not start a PostgreSQL server (${stderr || error.message}) as ${userInfo().username}` };
  }
  const stop = () => {
    if (!running) return;
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // Already gone.
    }
    running = false;
  };
  return {
    url: `postgres://lumen@127.0.0.1:${port}/postgres`,
    port,
    dir,
    /** Stops the server at once (as a crash or a pulled cable would); the data stays. */
    stop,
    /** Starts it again on the same port and data (nothing when it runs). */
    start() {
      if (running) return;
      startServer();
      running = true;
    },
    /** Stops it and removes its folder. */
    remove() {
      stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
