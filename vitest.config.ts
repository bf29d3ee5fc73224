import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Safety nets against a hang, not expectations: many tests spawn the built CLI, and on a loaded 2-core machine
    // one spawn takes seconds. Waits inside tests time out at 60 s (test/helpers/async.ts) with a clearer message.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
