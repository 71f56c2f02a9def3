import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each file starts its own stack of real processes; on 2 cores they run one file at a time
    // so timing-sensitive fault tests are not starved by a neighbour's stack.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
