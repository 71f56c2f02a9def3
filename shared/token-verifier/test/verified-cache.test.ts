/**
 * The verified-token cache: a token seen before skips jose's signature check (counted by
 * wrapping jose's own `jwtVerify`), its times are still checked, failures are never cached and
 * the cache stays within its size.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { jwtVerify, type JWTPayload } from 'jose';
import { TokenError, createTokenVerifier, type TokenErrorCode, type TokenVerifierOptions } from '../src/index.js';
import { createVerifiedCache } from '../src/verified-cache.js';
import { createJwksKey, signJwt, startJwks, type JwksKey, type JwksServerHandle } from '@orderwire/test-harness';
import { ISSUER, b64url, clientPayload, displayPayload } from './jwks-fixture.js';

vi.mock('jose', async (importOriginal) => {
  const actual = await importOriginal<typeof import('jose')>();
  return { ...actual, jwtVerify: vi.fn(actual.jwtVerify) };
});

const joseCalls = (): number => vi.mocked(jwtVerify).mock.calls.length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function codeOf(promise: Promise<unknown>): Promise<TokenErrorCode> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof TokenError) return err.code;
    throw err;
  }
  throw new Error('expected the token to be refused');
}

let es: JwksKey;
let server: JwksServerHandle;

beforeAll(async () => {
  es = await createJwksKey({ kid: 'es-cache', alg: 'ES256' });
  server = await startJwks({ keys: [es] });
});
afterAll(async () => {
  await server.dispose();
});
afterEach(() => {
  vi.useRealTimers();
  vi.mocked(jwtVerify).mockClear();
});

function verifier(audience: 'edge' | 'orderwire-api', extra: Partial<TokenVerifierOptions> = {}) {
  return createTokenVerifier({ jwksUrl: server.url, issuer: ISSUER, audience, ...extra });
}

/** Freezes `Date` (jose's clock and ours) at `ms`; timers stay real for the JWKS server. */
function clockAt(ms: number): void {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(ms);
}

describe('verified-token cache', () => {
  it('a token presented again is not verified again; scopes are still checked on every call', async () => {
    const api = verifier('orderwire-api');
    const token = await signJwt(es, clientPayload({ scope: 'orders:write' }));
    await expect(api.verifyClientToken(token, ['orders:write'])).resolves.toMatchObject({ tid: 'tenant-1' });
    expect(joseCalls()).toBe(1);
    for (let i = 0; i < 5; i++) await expect(api.verifyClientToken(token, ['orders:write'])).resolves.toMatchObject({ sub: 'pos-client' });
    expect(joseCalls()).toBe(1);
    expect(await codeOf(api.verifyClientToken(token, ['orders:read']))).toBe('ORDERWIRE_ERR_TOKEN_INSUFFICIENT_SCOPE');
    // The claims still go through their shape check: a cached client token is no display token.
    expect(await codeOf(api.verifyDisplayToken(token))).toBe('ORDERWIRE_ERR_TOKEN_WRONG_TYPE');
    expect((await api.verify(token)).typ).toBe('client');
    expect(joseCalls()).toBe(1);

    // Another string (another signature over the same claims) is verified in full.
    await api.verifyClientToken(await signJwt(es, clientPayload({ scope: 'orders:write' })), ['orders:write']);
    expect(joseCalls()).toBe(2);
  });

  it('callers get their own copy of the claims: changing one does not change the cached token', async () => {
    const edge = verifier('edge');
    const token = await signJwt(es, displayPayload());
    const first = await edge.verifyDisplayToken(token);
    first.stn.push('evil');
    (first as { tid: string }).tid = 'tenant-2';
    const again = await edge.verifyDisplayToken(token);
    expect(again.stn).toEqual(['grill', 'fryer']);
    expect(again.tid).toBe('tenant-1');
    expect(joseCalls()).toBe(1);
  });

  it('honours exp on hits (with the clock tolerance) and re-verifies after the cache time', async () => {
    const t0 = Date.UTC(2030, 0, 1, 12, 0, 0);
    clockAt(t0);
    const exp = t0 / 1000 + 30;
    const token = await signJwt(es, clientPayload({ iat: t0 / 1000, exp }));
    const strict = verifier('orderwire-api', { clockToleranceSec: 0, verifiedTokenTtlMs: 60_000 });
    const tolerant = verifier('orderwire-api', { clockToleranceSec: 5, verifiedTokenTtlMs: 60_000 });
    await strict.verifyClientToken(token);
    await tolerant.verifyClientToken(token);
    expect(joseCalls()).toBe(2);

    vi.setSystemTime(t0 + 29_000);
    await strict.verifyClientToken(token);
    await tolerant.verifyClientToken(token);
    expect(joseCalls()).toBe(2);

    vi.setSystemTime(exp * 1000);
    expect(await codeOf(strict.verifyClientToken(token))).toBe('ORDERWIRE_ERR_TOKEN_EXPIRED');
    await expect(tolerant.verifyClientToken(token)).resolves.toBeDefined(); // inside the 5 s tolerance
    vi.setSystemTime(exp * 1000 + 5_000);
    expect(await codeOf(tolerant.verifyClientToken(token))).toBe('ORDERWIRE_ERR_TOKEN_EXPIRED');
    expect(await codeOf(strict.verifyClientToken(token))).toBe('ORDERWIRE_ERR_TOKEN_EXPIRED');

    // A long-lived token is verified in full again once the cache time (not its exp) is over.
    vi.setSystemTime(t0);
    const short = verifier('orderwire-api', { verifiedTokenTtlMs: 10_000 });
    const long = await signJwt(es, clientPayload({ iat: t0 / 1000, exp: t0 / 1000 + 3600 }));
    await short.verifyClientToken(long);
    const before = joseCalls();
    vi.setSystemTime(t0 + 9_999);
    await short.verifyClientToken(long);
    expect(joseCalls()).toBe(before);
    vi.setSystemTime(t0 + 10_000);
    await short.verifyClientToken(long);
    expect(joseCalls()).toBe(before + 1);
  });

  it('never caches a refused token', async () => {
    const edge = verifier('edge');
    const api = verifier('orderwire-api');
    const expired = await signJwt(es, displayPayload({ iat: Math.floor(Date.now() / 1000) - 600, exp: Math.floor(Date.now() / 1000) - 60 }));
    const [h, , s] = (await signJwt(es, displayPayload())).split('.');
    const tampered = `${h}.${b64url(JSON.stringify(displayPayload({ tid: 'tenant-2' })))}.${s}`;
    const badShape = await signJwt(es, displayPayload({ sub: 'a.b' }));
    const displayForApi = await signJwt(es, displayPayload({ aud: 'orderwire-api' }));
    const cases: Array<[() => Promise<unknown>, TokenErrorCode]> = [
      [() => edge.verifyDisplayToken(expired), 'ORDERWIRE_ERR_TOKEN_EXPIRED'],
      [() => edge.verifyDisplayToken(tampered), 'ORDERWIRE_ERR_TOKEN_INVALID_SIGNATURE'],
      // Signature fine, claims refused: still verified in full every time.
      [() => edge.verifyDisplayToken(badShape), 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      [() => api.verifyClientToken(displayForApi), 'ORDERWIRE_ERR_TOKEN_WRONG_TYPE'],
    ];
    for (const [call, code] of cases) {
      const before = joseCalls();
      for (let i = 0; i < 3; i++) expect(await codeOf(call())).toBe(code);
      expect(joseCalls()).toBe(before + 3);
    }
  });

  it('keeps at most verifiedTokenCacheSize tokens, dropping the oldest first', async () => {
    const edge = verifier('edge', { verifiedTokenCacheSize: 2 });
    const [a, b, c] = await Promise.all([1, 2, 3].map((i) => signJwt(es, displayPayload({ jti: `j-${i}` }))));
    for (const t of [a, b, c]) await edge.verifyDisplayToken(t);
    expect(joseCalls()).toBe(3);
    await edge.verifyDisplayToken(c); // cached
    await edge.verifyDisplayToken(b); // cached
    expect(joseCalls()).toBe(3);
    await edge.verifyDisplayToken(a); // dropped when c came in; re-verified, drops b
    expect(joseCalls()).toBe(4);
    await edge.verifyDisplayToken(c);
    expect(joseCalls()).toBe(4);
    await edge.verifyDisplayToken(b);
    expect(joseCalls()).toBe(5);
  });

  it.each<[string, Partial<TokenVerifierOptions>]>([
    ['verifiedTokenTtlMs: 0', { verifiedTokenTtlMs: 0 }],
    ['verifiedTokenCacheSize: 0', { verifiedTokenCacheSize: 0 }],
  ])('%s verifies every call in full', async (_name, off) => {
    const edge = verifier('edge', off);
    const token = await signJwt(es, displayPayload());
    for (let i = 0; i < 3; i++) await edge.verifyDisplayToken(token);
    expect(joseCalls()).toBe(3);
  });

  it('refuses a negative or fractional cache setting', () => {
    for (const bad of [{ verifiedTokenTtlMs: -1 }, { verifiedTokenCacheSize: 1.5 }]) {
      expect(() => verifier('edge', bad)).toThrow(expect.objectContaining({ code: 'ORDERWIRE_ERR_TOKEN_VERIFIER_CONFIG' }) as Error);
    }
  });

  it('the trade-off: a key withdrawn from the JWKS keeps verifying cached tokens, for at most the cache time', async () => {
    const s = await startJwks({ keys: [es] });
    try {
      const v = createTokenVerifier({ jwksUrl: s.url, issuer: ISSUER, audience: 'edge', cacheMaxAgeMs: 50, cooldownMs: 50, verifiedTokenTtlMs: 400 });
      const token = await signJwt(es, displayPayload());
      await v.verifyDisplayToken(token);
      const next = await createJwksKey({ kid: 'es-next', alg: 'ES256' });
      s.keys = [next];
      await sleep(100);
      // A new token by the withdrawn key is refused at once; the one verified before is not, yet.
      expect(await codeOf(v.verifyDisplayToken(await signJwt(es, displayPayload())))).toBe('ORDERWIRE_ERR_TOKEN_UNKNOWN_KEY');
      await expect(v.verifyDisplayToken(token)).resolves.toBeDefined();
      await sleep(400);
      expect(await codeOf(v.verifyDisplayToken(token))).toBe('ORDERWIRE_ERR_TOKEN_UNKNOWN_KEY');
    } finally {
      await s.dispose();
    }
  });
});

describe('createVerifiedCache', () => {
  const payload = (p: JWTPayload): JWTPayload => ({ iat: 1_000, exp: 2_000, ...p });

  it('re-checks nbf and exp on a hit with the tolerance (a clock stepped back finds a not-yet-valid token)', () => {
    const cache = createVerifiedCache({ maxTtlMs: 60_000, maxEntries: 10, clockToleranceSec: 5 })!;
    cache.set('t', payload({ nbf: 1_500 }), 1_500_000);
    expect(cache.get('t', 1_500_000)).toMatchObject({ nbf: 1_500 });
    expect(cache.get('t', 1_495_000)).toMatchObject({ nbf: 1_500 }); // 5 s back: within the tolerance
    expect(() => cache.get('t', 1_494_000)).toThrow(expect.objectContaining({ code: 'ORDERWIRE_ERR_TOKEN_NOT_YET_VALID' }) as Error);
  });

  it('never keeps a token past its exp, nor one that has no time left', () => {
    const cache = createVerifiedCache({ maxTtlMs: 60_000, maxEntries: 10, clockToleranceSec: 0 })!;
    cache.set('late', payload({ exp: 1_000 }), 1_000_000);
    cache.set('no-exp', { iat: 1_000 }, 1_000_000);
    expect(cache.size).toBe(0);
    cache.set('t', payload({ exp: 1_010 }), 1_000_000);
    expect(cache.get('t', 1_009_999)).toBeDefined();
    expect(cache.get('t', 1_010_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('is off when either limit is 0', () => {
    expect(createVerifiedCache({ maxTtlMs: 0, maxEntries: 10, clockToleranceSec: 0 })).toBeUndefined();
    expect(createVerifiedCache({ maxTtlMs: 10, maxEntries: 0, clockToleranceSec: 0 })).toBeUndefined();
  });
});
