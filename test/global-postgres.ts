/**
 * Starts one PostgreSQL server for the whole run (scripts/postgres-server.mjs: Debian's `postgresql` package, which
 * `.ci/run` installs, in a temporary data directory on a free loopback port, trust auth for the `lumen` superuser,
 * fsync off). Stopped and removed at the end. Without the binaries, tests skip with the reason.
 */
import type { TestProject } from 'vitest/node';
import { startPostgresServer } from '../scripts/postgres-server.mjs';

export default async function setup(project: TestProject): Promise<() => void> {
  const skip = (reason: string) => {
    project.provide('postgresUrl', null);
    project.provide('postgresSkip', reason);
    return () => {};
  };
  if (process.env.LUMEN_TEST_PG === '0') return skip('LUMEN_TEST_PG=0');
  const server = await startPostgresServer();
  if (server.url === undefined) return skip(server.skip);
  project.provide('postgresUrl', server.url);
  project.provide('postgresSkip', '');
  return () => server.remove();
}
