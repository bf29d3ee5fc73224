/**
 * Starts one PostgreSQL server for the whole run (test/helpers/pg-server.ts: a temporary data directory from Debian's
 * `postgresql` package, which `.ci/run` installs, on a free loopback port). Stopped and removed at the end. Without the
 * binaries, tests skip with the reason.
 */
import type { TestProject } from 'vitest/node';
import { startPostgresServer } from './helpers/pg-server.js';

export default async function setup(project: TestProject): Promise<() => void> {
  const server = await startPostgresServer();
  if ('skip' in server) {
    project.provide('postgresUrl', null);
    project.provide('postgresSkip', server.skip);
    return () => {};
  }
  project.provide('postgresUrl', server.url);
  project.provide('postgresSkip', '');
  return () => server.remove();
}
