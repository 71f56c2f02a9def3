/**
 * Proactive refresh timing, with vitest's fake clock (setTimeout + Date) driving the
 * TokenManager while the HTTP round trips to the auth double stay real.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTokenManager } from '../src/index.js';
import type { TokenInfo, TokenManager } from '../src/index.js';
import { startAuthDouble } from './helpers/auth-double.js';
import type { AuthDouble } from './helpers/auth-double.js';

/** Waits on real I/O (setImmediate is not faked) until `predicate` holds. */
async function until(what: string, predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 5_000; i++) {
    if (predicate()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what}`);
}

describe('proactive refresh timing', () => {
  let auth: AuthDouble | undefined;
  let tokens: TokenManager | undefined;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });

  afterEach(async () => {
    tokens?.close();
    vi.useRealTimers();
    await auth?.stop();
  });

  async function enrolled(accessTtlSec: number, refreshSkewMs?: number): Promise<{ info: TokenInfo; events: TokenInfo[] }> {
    auth = await startAuthDouble({ accessTtlSec });
    auth.addEnrollmentCode('code-1', 'display-1');
    tokens = createTokenManager({ development: true, authUrl: auth.url, ...(refreshSkewMs === undefined ? {} : { refreshSkewMs }) });
    const info = await tokens.enroll('code-1');
    const events: TokenInfo[] = [];
    tokens.on('tokens', (i) => void events.push(i));
    return { info, events };
  }

  it('refreshes refreshSkewMs (60 s) before expiry of a 5-minute token', async () => {
    const { info, events } = await enrolled(300);
    expect(info.accessExpiresAt - info.refreshAt).toBe(60_000);

    await vi.advanceTimersByTimeAsync(239_000);
    expect(auth!.refreshCount).toBe(0);

    await vi.advanceTimersByTimeAsync(1_500);
    await until('the proactive refresh', () => events.length === 1);
    expect(auth!.refreshCount).toBe(1);

    // The next refresh is scheduled from the new token: another 240 s later, not before.
    await vi.advanceTimersByTimeAsync(238_000);
    expect(auth!.refreshCount).toBe(1);
    await vi.advanceTimersByTimeAsync(3_000);
    await until('the second proactive refresh', () => events.length === 2);
    expect(auth!.refreshCount).toBe(2);
  });

  it('refreshes at least 20 % of the lifetime before expiry of a long token', async () => {
    const { info, events } = await enrolled(3_600);
    expect(info.accessExpiresAt - info.refreshAt).toBe(720_000);
    await vi.advanceTimersByTimeAsync(2_879_000);
    expect(auth!.refreshCount).toBe(0);
    await vi.advanceTimersByTimeAsync(1_500);
    await until('the proactive refresh', () => events.length === 1);
  });

  it('never refreshes earlier than half the lifetime of a token shorter than the skew', async () => {
    const { info, events } = await enrolled(20);
    expect(info.accessExpiresAt - info.refreshAt).toBe(10_000);
    await vi.advanceTimersByTimeAsync(9_000);
    expect(auth!.refreshCount).toBe(0);
    await vi.advanceTimersByTimeAsync(1_500);
    await until('the proactive refresh', () => events.length === 1);
    // And it does not spin: nothing more until the new token's half-life.
    await vi.advanceTimersByTimeAsync(8_000);
    expect(auth!.refreshCount).toBe(1);
  });

  it('a custom refreshSkewMs moves the schedule', async () => {
    const { info } = await enrolled(600, 200_000);
    expect(info.accessExpiresAt - info.refreshAt).toBe(200_000);
  });
});
