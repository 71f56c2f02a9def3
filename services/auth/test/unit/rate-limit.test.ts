import { createLocalWindows } from '@orderwire/platform';
import { describe, expect, it } from 'vitest';

// Auth's fallback limiter is the platform's shared one (shared/platform/src/rate-limit.ts).
describe('local fallback limiter', () => {
  it('counts per key within a window and resets after it', async () => {
    const windows = createLocalWindows();
    expect(windows.hit('a', 100).current).toBe(1);
    expect(windows.hit('a', 100).current).toBe(2);
    expect(windows.hit('b', 100).current).toBe(1);
    await new Promise((r) => setTimeout(r, 120));
    expect(windows.hit('a', 100).current).toBe(1);
  });

  it('stays bounded in size', () => {
    const windows = createLocalWindows(3);
    for (const k of ['a', 'b', 'c', 'd', 'e']) windows.hit(k, 60_000);
    // The oldest windows were evicted, so 'a' starts over.
    expect(windows.hit('a', 60_000).current).toBe(1);
  });
});
