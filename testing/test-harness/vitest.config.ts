import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // These files mostly wait (raft elections, the OS reaping orphans), not compute, so
    // run them side by side even on a 2-core box (the default there is one worker).
    maxWorkers: 3,
  },
});
