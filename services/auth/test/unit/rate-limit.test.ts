import { describe, expect, it } from 'vitest';
import { createLocalWindows } from '../../src/rate-limit.js';

describe('local fallback limiter', () => {
  it('counts per key within a window and resets after it', async () => {
    const incr = createLocalWindows();
    expect(incr('a', 100).current).toBe(1);
    expect(incr('a', 100).current).toBe(2);
    expect(incr('b', 100).current).toBe(1);
    await new Promise((r) => setTimeout(r, 120));
    expect(incr('a', 100).current).toBe(1);
  });

  it('stays bounded in size', () => {
    const incr = createLocalWindows(3);
    for (const k of ['a', 'b', 'c', 'd', 'e']) incr(k, 60_000);
    // The oldest windows were evicted, so 'a' starts over.
    expect(incr('a', 60_000).current).toBe(1);
  });
});
