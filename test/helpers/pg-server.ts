/**
 * Starting and stopping a PostgreSQL server of one's own, from Debian's `postgresql` package: in a temporary data
 * directory, on a free loopback port, trust auth for the `lumen` superuser, fsync off (a test server holds nothing
 * worth an fsync) but synchronous commits (a server stopped with `-m immediate`, as a crash, keeps every commit it
 * acknowledged: the machine itself does not crash). Used once per run by test/global-postgres.ts (the shared server), and by a test that must stop and
 * start a server under a running relay, which it cannot do to the shared one. No vitest import: global setup uses it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface PostgresServer {
  /** The superuser's URL (database "postgres"). */
  url: string;
  port: number;
  /** Stops the server (immediately, as a crash or a pulled cable would); the data stays. */
  stop(): void;
  /** Starts it again on the same port and data (nothing when it runs). */
  start(): void;
  /** Stops it and removes its folder. */
  remove(): void;
}

function findBinDir(): string | null {
  const fromEnv = process.env.LUMEN_TEST_PG_BINDIR;
  if (fromEnv) return existsSync(join(fromEnv, 'initdb')) ? fromEnv : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A new server, started; or why one cannot be (no binaries, root without a postgres user, initdb failed). */
export async function startPostgresServer(): Promise<PostgresServer | { skip: string }> {
  if (process.env.LUMEN_TEST_PG === '0') return { skip: 'LUMEN_TEST_PG=0' };
  const bin = findBinDir();
  if (!bin) return { skip: 'no PostgreSQL server binaries (install Debian\'s postgresql package; .ci/run does)' };

  // initdb and postgres refuse to run as root: run them as the package's postgres user.
  const asRoot = process.getuid?.() === 0;
  let owner: { uid: number; gid: number } | undefined;
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) return { skip: 'running as root and there is no postgres user to run the server as' };
    owner = { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  const run = (file: string, args: string[]) => {
    const command = asRoot ? 'runuser' : join(bin, file);
    const full = asRoot ? ['-u', 'postgres', '--', join(bin, file), ...args] : args;
    execFileSync(command, full, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  };

  const dir = mkdtempSync(join(tmpdir(), 'lumen-pg-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const port = await freePort();
  let running = false;
  const start = () => {
    if (running) return;
    run('pg_ctl', [
      '-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '120', 'start',
      '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`,
    ]);
    running = true;
  };
  const stop = () => {
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // Already gone.
    }
    running = false;
  };
  try {
    run('initdb', ['-D', data, '-U', 'lumen', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim().split('\n').at(-1);
    return { skip: `could not start a PostgreSQL server (${stderr || (error as Error).message}) as ${userInfo().username}` };
  }
  return {
    url: `postgres://lumen@127.0.0.1:${port}/postgres`,
    port,
    stop,
    start,
    remove() {
      stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
