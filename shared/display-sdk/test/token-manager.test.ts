import { afterEach, describe, expect, it } from 'vitest';
import {
  createDisplayClient,
  createTokenManager,
  isDisplaySdkError,
  type DisplaySdkError,
  memoryTokenStore,
  webStorageTokenStore,
} from '../src/index.js';
import type { StorageLike, TokenInfo, TokenManager, TokenManagerOptions } from '../src/index.js';
import { startAuthDouble } from './helpers/auth-double.js';
import type { AuthDouble, AuthDoubleOptions } from './helpers/auth-double.js';

describe('TokenManager against an HTTP auth double', () => {
  let auth: AuthDouble;
  const managers: TokenManager[] = [];

  async function setup(
    authOptions: AuthDoubleOptions = {},
    managerOptions: Partial<TokenManagerOptions> = {},
  ): Promise<TokenManager> {
    auth = await startAuthDouble(authOptions);
    auth.addEnrollmentCode('code-1', 'display-1');
    const manager = createTokenManager({ development: true, authUrl: auth.url, ...managerOptions });
    managers.push(manager);
    return manager;
  }

  afterEach(async () => {
    for (const m of managers.splice(0)) m.close();
    await auth.stop();
  });

  it('enrolls, stores the tokens and hands out the access token without refreshing', async () => {
    const store = memoryTokenStore();
    const tokens = await setup({}, { store });
    const info = await tokens.enroll('code-1');
    expect(info.displayId).toBe('display-1');
    const stored = await store.load();
    expect(stored?.displayId).toBe('display-1');
    expect(await tokens.getAccessToken()).toBe(stored?.accessToken);
    expect(auth.refreshCount).toBe(0);
    expect(await tokens.info()).toEqual(info);
  });

  it('100 concurrent getAccessToken() calls on an expired token cause exactly one refresh', async () => {
    let clock = Date.now();
    const tokens = await setup({ accessTtlSec: 300, delayMs: 50 }, { now: () => clock });
    await tokens.enroll('code-1');
    const before = await tokens.getAccessToken();
    clock += 301_000;

    const results = await Promise.all(Array.from({ length: 100 }, () => tokens.getAccessToken()));

    expect(auth.refreshCount).toBe(1);
    expect(new Set(results).size).toBe(1);
    expect(results[0]).not.toBe(before);
    expect(auth.checkAccess(results[0])).toBe('ok');
  });

  it('100 concurrent refresh() calls share one HTTP refresh and its result', async () => {
    const tokens = await setup({ delayMs: 50 });
    await tokens.enroll('code-1');
    const infos = await Promise.all(Array.from({ length: 100 }, () => tokens.refresh()));
    expect(auth.refreshCount).toBe(1);
    expect(new Set(infos.map((i) => i.accessExpiresAt)).size).toBe(1);
    // A later call is a new flight.
    await tokens.refresh();
    expect(auth.refreshCount).toBe(2);
  });

  it('returns a still-valid token at once when only the proactive refresh is due, and refreshes behind it', async () => {
    let clock = Date.now();
    const tokens = await setup({ accessTtlSec: 300, delayMs: 100 }, { now: () => clock });
    await tokens.enroll('code-1');
    const old = await tokens.getAccessToken();
    const refreshed = new Promise<TokenInfo>((resolve) => tokens.on('tokens', resolve));
    clock += 250_000; // due (refresh at 240 s) but 50 s of validity left

    expect(await tokens.getAccessToken()).toBe(old);
    await refreshed;
    expect(auth.refreshCount).toBe(1);
    expect(await tokens.getAccessToken()).not.toBe(old);
  });

  it('schedules from the JWT exp when it is earlier than expiresIn', async () => {
    const tokens = await setup({ accessTtlSec: 120, reportedExpiresIn: 3600 });
    const start = Date.now();
    const info = await tokens.enroll('code-1');
    expect(info.accessExpiresAt).toBeGreaterThan(start + 118_000);
    expect(info.accessExpiresAt).toBeLessThanOrEqual(Date.now() + 120_000);
  });

  it('falls back to expiresIn when the access token is not a JWT', async () => {
    const tokens = await setup({ opaqueTokens: true, accessTtlSec: 90 });
    const start = Date.now();
    const info = await tokens.enroll('code-1');
    expect(info.accessExpiresAt).toBeGreaterThanOrEqual(start + 90_000);
    expect(info.accessExpiresAt).toBeLessThanOrEqual(Date.now() + 90_000);
  });

  it('corrects for a server clock that runs an hour ahead (exp shifted by iat)', async () => {
    const tokens = await setup({ clockOffsetMs: 3_600_000, accessTtlSec: 300, reportedExpiresIn: 10_000 });
    const start = Date.now();
    const info = await tokens.enroll('code-1');
    // Without the correction the token would look valid for 65 minutes.
    expect(info.accessExpiresAt).toBeGreaterThan(start + 298_000);
    expect(info.accessExpiresAt).toBeLessThan(Date.now() + 302_000);
  });

  it('throws NOT_ENROLLED before enrollment', async () => {
    const tokens = await setup();
    await expect(tokens.getAccessToken()).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_SDK_NOT_ENROLLED' });
    await expect(tokens.refresh()).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_SDK_NOT_ENROLLED' });
    expect(auth.refreshCount).toBe(0);
  });

  it('reports a refused enrollment code with the server code', async () => {
    const tokens = await setup();
    await tokens.enroll('code-1');
    const err: unknown = await tokens.enroll('code-1').catch((e: unknown) => e);
    expect(isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_ENROLL_FAILED')).toBe(true);
    expect(err).toMatchObject({ status: 400, serverCode: 'ORDERWIRE_ERR_AUTH_ENROLLMENT_USED' });
    expect(auth.count('/v1/displays/enroll')).toBe(2);
  });

  it('restores tokens from a web storage and survives a restart', async () => {
    const storage = mapStorage();
    const first = await setup({}, { store: webStorageTokenStore(storage, 'k') });
    await first.enroll('code-1');
    const token = await first.getAccessToken();
    first.close();

    const second = createTokenManager({ development: true, authUrl: auth.url, store: webStorageTokenStore(storage, 'k') });
    managers.push(second);
    expect(await second.getAccessToken()).toBe(token);
    expect((await second.info())?.displayId).toBe('display-1');
  });

  it('drops a corrupt web-storage entry instead of failing forever', async () => {
    const storage = mapStorage();
    storage.setItem('k', '{"accessToken":');
    const tokens = await setup({}, { store: webStorageTokenStore(storage, 'k') });
    await expect(tokens.getAccessToken()).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_SDK_NOT_ENROLLED' });
    expect(storage.getItem('k')).toBeNull();
  });

  it('adopts tokens another tab rotated instead of replaying the spent refresh token', async () => {
    const storage = mapStorage();
    const tabA = await setup({}, { store: webStorageTokenStore(storage, 'k') });
    await tabA.enroll('code-1');
    const tabB = createTokenManager({ development: true, authUrl: auth.url, store: webStorageTokenStore(storage, 'k') });
    managers.push(tabB);
    await tabB.getAccessToken(); // loaded the pre-rotation tokens

    await tabA.refresh();
    await tabB.refresh();

    expect(auth.refreshCount).toBe(1); // tab B adopted instead of refreshing
    expect(await tabB.getAccessToken()).toBe(await tabA.getAccessToken());
    expect(auth.checkAccess(await tabB.getAccessToken())).toBe('ok');
  });

  it('rejects bad options with ORDERWIRE_ERR_SDK_INVALID_OPTIONS', () => {
    expect(() => createTokenManager({ development: true, authUrl: 'not a url' })).toThrow(/authUrl/);
    expect(() => createTokenManager({ development: true, authUrl: 'http://x', retry: { baseMs: 0 } })).toThrow(/retry.baseMs/);
    expect(() => createTokenManager({ development: true, authUrl: 'http://x', retry: { maxAttempts: 1.5 } })).toThrow(/maxAttempts/);
  });

  it('refuses a plain-http auth URL unless told it is in development', () => {
    const err = (() => {
      try {
        createTokenManager({ authUrl: 'http://auth.example.com' });
      } catch (e) {
        return e as DisplaySdkError;
      }
      return undefined;
    })();
    expect(err?.code).toBe('ORDERWIRE_ERR_SDK_INVALID_OPTIONS');
    expect(err?.message).toMatch(/not encrypted.*development: true/);
    expect(() => createTokenManager({ authUrl: 'http://auth.example.com', development: false })).toThrow(/not encrypted/);
    expect(() => createTokenManager({ authUrl: 'https://auth.example.com' }).close()).not.toThrow();
    expect(() => createTokenManager({ authUrl: 'http://127.0.0.1:3001', development: true }).close()).not.toThrow();
  });
});

describe('edge URLs', () => {
  it('refuses http: and ws: edges unless told it is in development; https: and wss: always pass', () => {
    const tokens = createTokenManager({ authUrl: 'https://auth.example.com' });
    for (const url of ['http://edge.example.com', 'ws://edge.example.com']) {
      expect(() => createDisplayClient({ edgeUrls: [url], tokens }), url).toThrow(/not encrypted.*development: true/);
      expect(() => createDisplayClient({ edgeUrls: [url], tokens, development: true }), url).not.toThrow();
    }
    // One plain URL among encrypted ones is still refused.
    expect(() => createDisplayClient({ edgeUrls: ['wss://a.example.com', 'ws://b.example.com'], tokens })).toThrow(/b\.example\.com/);
    expect(() => createDisplayClient({ edgeUrls: ['https://a.example.com', 'wss://b.example.com'], tokens })).not.toThrow();
    tokens.close();
  });
});

function mapStorage(): StorageLike {
  const map = new Map<string, string>();
  return {
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}
