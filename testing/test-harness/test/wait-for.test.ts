import { describe, expect, it } from 'vitest';
import { HarnessError, HarnessErrorCode, waitFor } from '../src/index.js';

describe('waitFor', () => {
  it('resolves with the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { intervalMs: 1 });
    expect(value).toEqual({ calls: 3 });
  });

  it('treats throws and rejections as "not yet"', async () => {
    let calls = 0;
    const value = await waitFor(
      async () => {
        calls++;
        if (calls < 3) throw new Error('not ready');
        return 'ready';
      },
      { intervalMs: 1 },
    );
    expect(value).toBe('ready');
  });

  it('times out with a coded error naming the condition and the last failure', async () => {
    const started = Date.now();
    const err = await waitFor(
      () => {
        throw new Error('broker says no');
      },
      { timeoutMs: 150, intervalMs: 10, message: 'stream ORDERS to have 5 messages' },
    ).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(err).toBeInstanceOf(HarnessError);
    const e = err as HarnessError;
    expect(e.code).toBe(HarnessErrorCode.WaitTimeout);
    expect(e.message).toMatch(/^ORDERWIRE_ERR_HARNESS_WAIT_TIMEOUT: waitFor timed out after 150 ms/);
    expect(e.message).toContain('stream ORDERS to have 5 messages');
    expect(e.message).toContain('last error: broker says no');
    expect((e.cause as Error).message).toBe('broker says no');
  });

  it('evaluates a message function only on timeout', async () => {
    let rendered = 0;
    const err = await waitFor(() => 0, {
      timeoutMs: 50,
      intervalMs: 5,
      message: () => `count is ${++rendered}`,
    }).catch((e: unknown) => e as Error);
    expect(rendered).toBe(1);
    expect((err as Error).message).toContain('count is 1');
  });

  it('does not let a hanging condition stretch the deadline', async () => {
    const started = Date.now();
    const err = await waitFor(() => new Promise<boolean>(() => undefined), { timeoutMs: 100 }).catch((e: unknown) => e);
    expect((err as HarnessError).code).toBe(HarnessErrorCode.WaitTimeout);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
