import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, isDisplaySdkError, memoryTokenStore } from '../src/index.js';
import type { RetryInfo, TokenManager, TokenManagerOptions } from '../src/index.js';
import { startAuthDouble } from './helpers/auth-double.js';
import type { AuthDouble } from './helpers/auth-double.js';

const REFRESH = '/v1/token/refresh';
const ENROLL = '/v1/displays/enroll';

describe('TokenManager retries', () => {
  let auth: AuthDouble;
  const managers: TokenManager[] = [];

  async function enrolled(options: Partial<TokenManagerOptions> = {}): Promise<{ tokens: TokenManager; retries: RetryInfo[] }> {
    auth = await startAuthDouble();
    auth.addEnrollmentCode('code-1', 'display-1');
    // random() = 0 → each delay is exactly half the exponential step: deterministic and checkable.
    const tokens = createTokenManager({ development: true, authUrl: auth.url, random: () => 0, retry: { baseMs: 40, maxMs: 1_000 }, ...options });
    managers.push(tokens);
    await tokens.enroll('code-1');
    const retries: RetryInfo[] = [];
    tokens.on('retrying', (info) => void retries.push(info));
    return { tokens, retries };
  }

  afterEach(async () => {
    for (const m of managers.splice(0)) m.close();
    await auth.stop();
  });

  it('retries 503 with exponential backoff and succeeds', async () => {
    const { tokens, retries } = await enrolled();
    auth.fail(REFRESH, { status: 503 }, { status: 503 }, { status: 503 });
    const started = Date.now();
    await tokens.refresh();
    const elapsed = Date.now() - started;

    expect(auth.refreshCount).toBe(4);
    expect(retries.map((r) => [r.attempt, r.delayMs])).toEqual([
      [1, 20],
      [2, 40],
      [3, 80],
    ]);
    expect(retries[0]?.reason).toContain('HTTP 503');
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(auth.checkAccess(await tokens.getAccessToken())).toBe('ok');
  });

  it('spreads delays with jitter between half and all of the exponential step', async () => {
    const { tokens, retries } = await enrolled({ random: () => 0.999 });
    auth.fail(REFRESH, { status: 502 }, { status: 500 });
    await tokens.refresh();
    expect(retries.map((r) => r.delayMs)).toEqual([40, 80]);
  });

  it('caps the delay at retry.maxMs', async () => {
    const { tokens, retries } = await enrolled({ retry: { baseMs: 40, maxMs: 60 } });
    auth.fail(REFRESH, { status: 503 }, { status: 503 }, { status: 503 });
    await tokens.refresh();
    expect(retries.map((r) => r.delayMs)).toEqual([20, 30, 30]);
  });

  it('retries when the connection is cut without an answer', async () => {
    const { tokens, retries } = await enrolled();
    auth.fail(REFRESH, { destroy: true }, { destroy: true });
    await tokens.refresh();
    expect(auth.refreshCount).toBe(3);
    expect(retries).toHaveLength(2);
  });

  it('keeps retrying while the auth service is down and succeeds once it is back', async () => {
    const { tokens, retries } = await enrolled();
    await auth.stop();
    const refreshed = tokens.refresh();
    while (retries.length < 3) await new Promise((r) => setTimeout(r, 10));
    expect(retries[0]?.reason).toBe('ECONNREFUSED');
    await auth.restart();
    await refreshed;
    expect(auth.refreshCount).toBe(1); // the only request that reached a server
    expect(auth.checkAccess(await tokens.getAccessToken())).toBe('ok');
  });

  it('gives up after maxAttempts with ORDERWIRE_ERR_SDK_AUTH_UNAVAILABLE', async () => {
    const { tokens } = await enrolled({ retry: { baseMs: 10, maxMs: 20, maxAttempts: 3 } });
    await auth.stop();
    const err: unknown = await tokens.refresh().catch((e: unknown) => e);
    expect(isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_AUTH_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toMatch(/after 3 attempt\(s\): ECONNREFUSED/);
    // The tokens are kept: the family is not known to be dead.
    expect((await tokens.info())?.displayId).toBe('display-1');
  });

  it('does not retry a 400', async () => {
    const { tokens, retries } = await enrolled();
    auth.fail(REFRESH, { status: 400, body: { error: { code: 'ORDERWIRE_ERR_AUTH_VALIDATION', message: 'bad' } } });
    const err: unknown = await tokens.refresh().catch((e: unknown) => e);
    expect(isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_REFRESH_FAILED')).toBe(true);
    expect(err).toMatchObject({ status: 400, serverCode: 'ORDERWIRE_ERR_AUTH_VALIDATION' });
    expect(auth.refreshCount).toBe(1);
    expect(retries).toHaveLength(0);
  });

  it('retries a 429, waiting at least the Retry-After (capped at retry.maxMs)', async () => {
    const { tokens, retries } = await enrolled({ retry: { baseMs: 10, maxMs: 250 } });
    auth.fail(REFRESH, { status: 429, retryAfter: '5' });
    const started = Date.now();
    await tokens.refresh();
    expect(retries[0]?.delayMs).toBe(250);
    expect(Date.now() - started).toBeGreaterThanOrEqual(245);
    expect(auth.refreshCount).toBe(2);
  });

  it('times out a request that gets no answer and retries it', async () => {
    const { tokens, retries } = await enrolled({ requestTimeoutMs: 100 });
    auth.fail(REFRESH, { delayMs: 1_000 });
    await tokens.refresh();
    expect(retries[0]?.reason).toBe('no answer within 100 ms');
    expect(auth.refreshCount).toBe(2);
  });

  it('bounds enrollment attempts', async () => {
    auth = await startAuthDouble();
    auth.addEnrollmentCode('code-1', 'display-1');
    const tokens = createTokenManager({ development: true, authUrl: auth.url, retry: { baseMs: 10 }, enrollMaxAttempts: 2, store: memoryTokenStore() });
    managers.push(tokens);
    auth.fail(ENROLL, { status: 503 }, { status: 503 }, { status: 503 });
    await expect(tokens.enroll('code-1')).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_SDK_AUTH_UNAVAILABLE' });
    expect(auth.count(ENROLL)).toBe(2);
  });

  it('close() ends a refresh that is waiting to retry', async () => {
    const { tokens, retries } = await enrolled({ retry: { baseMs: 5_000 } });
    await auth.stop();
    const refreshed = tokens.refresh().catch((e: unknown) => e);
    while (retries.length < 1) await new Promise((r) => setTimeout(r, 10));
    tokens.close();
    expect(await refreshed).toMatchObject({ code: 'ORDERWIRE_ERR_SDK_CLOSED' });
  });
});
