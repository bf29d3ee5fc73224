/**
 * Starts one PostgreSQL server for the whole run in a temporary data directory (Debian's `postgresql` package, which
 * `.ci/run` installs), on a free loopback port with trust auth for the `lumen` superuser, fsync off (a test server
 * holds nothing worth an fsync). Stopped and removed at the end. Without the binaries, tests skip with the reason.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

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

export default async function setup(project: TestProject): Promise<() => void> {
  const skip = (reason: string) => {
    project.provide('postgresUrl', null);
    project.provide('postgresSkip', reason);
    return () => {};
  };
  if (process.env.LUMEN_TEST_PG === '0') return skip('LUMEN_TEST_PG=0');
  const bin = findBinDir();
  if (!bin) return skip('no PostgreSQL server binaries (install Debian\'s postgresql package; .ci/run does)');

  // initdb and postgres refuse to run as root: run them as the package's postgres user.
  const asRoot = process.getuid?.() === 0;
  let owner: { uid: number; gid: number } | undefined;
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) return skip('running as root and there is no postgres user to run the server as');
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
  try {
    run('initdb', ['-D', data, '-U', 'lumen', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    run('pg_ctl', [
      '-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '120', 'start',
      '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`,
    ]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim().split('\n').at(-1);
    return skip(`could not start a PostgreSQL server (${stderr || (error as Error).message}) as ${userInfo().username}`);
  }
  project.provide('postgresUrl', `postgres://lumen@127.0.0.1:${port}/postgres`);
  project.provide('postgresSkip', '');
  return () => {
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // Already gone.
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
