/** Reconnect backoff delays. */
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/timing.js';

describe('backoffDelay', () => {
  const policy = { baseMs: 100, maxMs: 1_000 };
  it('doubles per failure within [d/2, d] and stops at maxMs', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, () => 1))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });
});
