import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A render plus a type-check of every object takes seconds on an idle 2-core machine; the
    // bound is for a machine shared with other heavy work.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
