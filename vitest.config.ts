import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One real PostgreSQL server for the run (skipped with the reason where it cannot start).
    globalSetup: ['./test/global-postgres.ts'],
    // Safety nets against a hang, not expectations: on a loaded 2-core machine a spawned relay or CLI takes seconds.
    // Waits inside tests time out at 60 s (test/helpers/async.ts) with a clearer message.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // A process per file (better-sqlite3 and the relays' signals are at home in a process of their own). Three at a
    // time on two cores: most files spend their time waiting on loopback HTTP, a relay or a sandbox's webhooks, and
    // the default (cores - 1 = one file at a time) leaves a core idle.
    pool: 'forks',
    maxWorkers: 3,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
