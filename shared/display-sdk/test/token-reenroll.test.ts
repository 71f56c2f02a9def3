import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, isDisplaySdkError, memoryTokenStore } from '../src/index.js';
import type { DisplaySdkError, ReenrollInfo, TokenManager, TokenStore } from '../src/index.js';
import { startAuthDouble } from './helpers/auth-double.js';
import type { AuthDouble } from './helpers/auth-double.js';

describe('TokenManager re-enrollment signal', () => {
  let auth: AuthDouble;
  const managers: TokenManager[] = [];

  afterEach(async () => {
    for (const m of managers.splice(0)) m.close();
    await auth.stop();
  });

  async function enrolled(store: TokenStore): Promise<TokenManager> {
    auth = await startAuthDouble();
    auth.addEnrollmentCode('code-1', 'display-1');
    auth.addEnrollmentCode('code-2', 'display-1');
    const tokens = createTokenManager({ development: true, authUrl: auth.url, store, retry: { baseMs: 10 } });
    managers.push(tokens);
    await tokens.enroll('code-1');
    return tokens;
  }

  it('a stolen refresh token replayed by someone else revokes the family: reenroll_required, store cleared', async () => {
    const store = memoryTokenStore();
    const tokens = await enrolled(store);
    const stolen = (await store.load())!.refreshToken;
    await tokens.refresh(); // the display rotates; `stolen` is now spent

    const replay = await fetch(`${auth.url}/v1/token/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: stolen }),
    });
    expect(replay.status).toBe(401);

    const events: ReenrollInfo[] = [];
    tokens.on('reenroll_required', (info) => void events.push(info));
    const err: unknown = await tokens.refresh().catch((e: unknown) => e);

    expect(isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_REENROLL_REQUIRED')).toBe(true);
    expect((err as DisplaySdkError).serverCode).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
    expect(events).toEqual([{ reason: 'ORDERWIRE_ERR_AUTH_REFRESH_REVOKED', message: expect.any(String) as string }]);
    expect(await store.load()).toBeUndefined();
    await expect(tokens.getAccessToken()).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_SDK_NOT_ENROLLED' });
    expect(auth.refreshCount).toBe(3); // rotate, replay, and the refused refresh — no retries of a 401
  });

  it('presenting a spent refresh token itself (restored backup) → reuse detected → reenroll_required', async () => {
    const store = memoryTokenStore();
    const tokens = await enrolled(store);
    const backup = (await store.load())!;
    await tokens.refresh();

    const restoredStore = memoryTokenStore(backup);
    const restored = createTokenManager({ development: true, authUrl: auth.url, store: restoredStore });
    managers.push(restored);
    const events: ReenrollInfo[] = [];
    restored.on('reenroll_required', (info) => void events.push(info));
    await expect(restored.refresh()).rejects.toMatchObject({
      code: 'ORDERWIRE_ERR_SDK_REENROLL_REQUIRED',
      serverCode: 'ORDERWIRE_ERR_AUTH_REFRESH_REUSED',
    });
    expect(events.map((e) => e.reason)).toEqual(['ORDERWIRE_ERR_AUTH_REFRESH_REUSED']);
    expect(await restoredStore.load()).toBeUndefined();
    // The whole family is dead, including the legitimate holder's current token.
    await expect(tokens.refresh()).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_SDK_REENROLL_REQUIRED' });
  });

  it('every concurrent caller of a refused refresh gets REENROLL_REQUIRED; the event fires once', async () => {
    const store = memoryTokenStore();
    const tokens = await enrolled(store);
    auth.fail('/v1/token/refresh', { status: 401, body: { error: { code: 'ORDERWIRE_ERR_AUTH_REFRESH_EXPIRED', message: 'expired' } } });
    let events = 0;
    tokens.on('reenroll_required', () => void events++);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => tokens.refresh()));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(events).toBe(1);
    expect(auth.refreshCount).toBe(1);
  });

  it('revoke() kills the family and clears the store; enrolling again works', async () => {
    const store = memoryTokenStore();
    const tokens = await enrolled(store);
    const family = (await store.load())!;
    await tokens.revoke();
    expect(await store.load()).toBeUndefined();
    expect(auth.count('/v1/token/revoke')).toBe(1);
    expect(auth.checkAccess(family.accessToken)).toBe('unauthorized');
    await tokens.enroll('code-2');
    expect(auth.checkAccess(await tokens.getAccessToken())).toBe('ok');
  });

  it('never puts a token in an error, an event or a message', async () => {
    const store = memoryTokenStore();
    const tokens = await enrolled(store);
    const secrets = await store.load();
    const seen: unknown[] = [];
    tokens.on('tokens', (info) => void seen.push(info));
    tokens.on('reenroll_required', (info) => void seen.push(info));
    tokens.on('error', (err) => void seen.push(err));
    tokens.on('retrying', (info) => void seen.push(info));
    auth.fail('/v1/token/refresh', { status: 503 });
    await tokens.refresh();
    const rotated = await store.load();
    auth.fail('/v1/token/refresh', { status: 401, body: { error: { code: 'ORDERWIRE_ERR_AUTH_REFRESH_REVOKED', message: 'revoked' } } });
    seen.push(await tokens.refresh().catch((e: unknown) => e));
    const text = seen.map((s) => (s instanceof Error ? `${s.message} ${JSON.stringify(s)}` : JSON.stringify(s))).join('\n');
    expect(seen.length).toBeGreaterThanOrEqual(4);
    for (const secret of [secrets!.accessToken, secrets!.refreshToken, rotated!.accessToken, rotated!.refreshToken]) {
      expect(text).not.toContain(secret);
    }
  });
});
