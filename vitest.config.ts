import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two files at a time even on two cores: several suites mostly wait (the wall-clock CronJob
    // test sleeps through two minute boundaries).
    maxWorkers: 2,
  },
});
