import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportSPKI } from 'jose';
import { pino } from 'pino';
import {
  TOKEN_ERRORS,
  TOKEN_ERROR_CODES,
  TokenError,
  createTokenVerifier,
  type TokenErrorCode,
  type TokenVerifier,
  type TokenVerifierOptions,
  type VerifierLogger,
} from '../src/index.js';
import { createJwksKey, signJwt, startJwks, type JwksKey, type JwksServerHandle } from '@orderwire/test-harness';
import { ISSUER, b64url, clientPayload, displayPayload, nowSec } from './jwks-fixture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejection(promise: Promise<unknown>): Promise<TokenError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof TokenError) return err;
    throw err;
  }
  throw new Error('expected the token to be refused');
}

async function expectCode(promise: Promise<unknown>, code: TokenErrorCode): Promise<TokenError> {
  const err = await rejection(promise);
  expect(err.code).toBe(code);
  return err;
}

function recordingLogger(): VerifierLogger & { warns: string[]; infos: string[] } {
  const warns: string[] = [];
  const infos: string[] = [];
  return {
    warns,
    infos,
    warn: (_obj, msg) => warns.push(msg),
    info: (_obj, msg) => infos.push(msg),
  };
}

let es: JwksKey;
let ed: JwksKey;
let server: JwksServerHandle;
const servers: JwksServerHandle[] = [];

beforeAll(async () => {
  es = await createJwksKey({ kid: 'es-1', alg: 'ES256' });
  ed = await createJwksKey({ kid: 'ed-1', alg: 'EdDSA' });
  server = await startJwks({ keys: [es, ed] });
});

afterAll(async () => {
  await server.dispose();
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.dispose()));
});

async function freshServer(keys: JwksKey[]): Promise<JwksServerHandle> {
  const s = await startJwks({ keys: keys });
  servers.push(s);
  return s;
}

function verifierFor(s: JwksServerHandle, audience: string, extra: Partial<TokenVerifierOptions> = {}): TokenVerifier {
  return createTokenVerifier({ jwksUrl: s.url, issuer: ISSUER, audience, ...extra });
}

describe('valid tokens', () => {
  it('verifies a display token (ES256) and returns exactly the typed claims', async () => {
    const edge = verifierFor(server, 'edge');
    const payload = displayPayload({ extra: 'ignored' });
    const claims = await edge.verifyDisplayToken(await signJwt(es, payload));
    expect(claims).toEqual({
      typ: 'display',
      iss: ISSUER,
      aud: 'edge',
      sub: 'display-1',
      tid: 'tenant-1',
      sid: 'store-1',
      stn: ['grill', 'fryer'],
      fam: 'fam-1',
      jti: 'jti-1',
      iat: payload.iat,
      exp: payload.exp,
    });
  });

  it('verifies a client token (EdDSA) with its scopes, and `verify` dispatches on typ', async () => {
    const api = verifierFor(server, 'orderwire-api');
    const token = await signJwt(ed, clientPayload({ aud: ['orderwire-api', 'other'] }));
    const claims = await api.verifyClientToken(token, ['orders:write']);
    expect(claims).toMatchObject({ typ: 'client', sub: 'pos-client', tid: 'tenant-1', scope: 'orders:write orders:read', aud: 'orderwire-api' });
    expect((await api.verify(token)).typ).toBe('client');
    const edge = verifierFor(server, 'edge');
    expect((await edge.verify(await signJwt(es, displayPayload()))).typ).toBe('display');
  });

  it('accepts a pino logger', async () => {
    const logger: VerifierLogger = pino({ level: 'silent' });
    const v = verifierFor(server, 'edge', { logger });
    await expect(v.verifyDisplayToken(await signJwt(es, displayPayload()))).resolves.toMatchObject({ sub: 'display-1' });
  });
});

describe('every bad token is refused with its code', () => {
  const edge = () => verifierFor(server, 'edge');
  const api = () => verifierFor(server, 'orderwire-api');

  it('alg none → ALG_NOT_ALLOWED', async () => {
    const header = b64url(JSON.stringify({ alg: 'none', kid: es.kid, typ: 'JWT' }));
    const token = `${header}.${b64url(JSON.stringify(displayPayload()))}.`;
    const err = await expectCode(edge().verifyDisplayToken(token), 'ORDERWIRE_ERR_TOKEN_ALG_NOT_ALLOWED');
    expect(err.status).toBe(401);
    expect(err.reason).toBe('unauthorized');
  });

  it('HS256 signed with the public key → ALG_NOT_ALLOWED (both the JWK and the PEM as secret)', async () => {
    for (const secret of [new TextEncoder().encode(JSON.stringify(es.jwk)), new TextEncoder().encode(await exportSPKI(es.publicKey))]) {
      const token = await new SignJWT(displayPayload()).setProtectedHeader({ alg: 'HS256', kid: es.kid }).sign(secret);
      await expectCode(edge().verifyDisplayToken(token), 'ORDERWIRE_ERR_TOKEN_ALG_NOT_ALLOWED');
    }
  });

  it('an algorithm outside the allowlist, even asymmetric → ALG_NOT_ALLOWED', async () => {
    const v = verifierFor(server, 'edge', { algorithms: ['ES256'] });
    await expectCode(v.verifyDisplayToken(await signJwt(ed, displayPayload())), 'ORDERWIRE_ERR_TOKEN_ALG_NOT_ALLOWED');
  });

  it('wrong aud → WRONG_AUDIENCE', async () => {
    await expectCode(edge().verifyDisplayToken(await signJwt(es, displayPayload({ aud: 'orderwire-api' }))), 'ORDERWIRE_ERR_TOKEN_WRONG_AUDIENCE');
    await expectCode(edge().verifyDisplayToken(await signJwt(es, displayPayload({ aud: undefined }))), 'ORDERWIRE_ERR_TOKEN_WRONG_AUDIENCE');
    // A display token minted for the API audience is still refused by an API verifier's display check.
    await expectCode(api().verifyDisplayToken(await signJwt(es, displayPayload({ aud: 'orderwire-api' }))), 'ORDERWIRE_ERR_TOKEN_WRONG_AUDIENCE');
  });

  it('wrong iss → WRONG_ISSUER', async () => {
    await expectCode(edge().verifyDisplayToken(await signJwt(es, displayPayload({ iss: 'evil' }))), 'ORDERWIRE_ERR_TOKEN_WRONG_ISSUER');
  });

  it('expired → EXPIRED with reason token_expired; within the clock tolerance → accepted', async () => {
    const err = await expectCode(
      edge().verifyDisplayToken(await signJwt(es, displayPayload({ iat: nowSec() - 600, exp: nowSec() - 60 }))),
      'ORDERWIRE_ERR_TOKEN_EXPIRED',
    );
    expect(err.reason).toBe('token_expired');
    expect(err.status).toBe(401);
    await expect(edge().verifyDisplayToken(await signJwt(es, displayPayload({ iat: nowSec() - 600, exp: nowSec() - 2 })))).resolves.toBeDefined();
    const strict = verifierFor(server, 'edge', { clockToleranceSec: 0 });
    await expectCode(strict.verifyDisplayToken(await signJwt(es, displayPayload({ exp: nowSec() - 2 }))), 'ORDERWIRE_ERR_TOKEN_EXPIRED');
  });

  it('not yet valid beyond the tolerance → NOT_YET_VALID; within it → accepted', async () => {
    await expectCode(edge().verifyDisplayToken(await signJwt(es, displayPayload({ nbf: nowSec() + 60 }))), 'ORDERWIRE_ERR_TOKEN_NOT_YET_VALID');
    const claims = await edge().verifyDisplayToken(await signJwt(es, displayPayload({ nbf: nowSec() + 3 })));
    expect(claims.nbf).toBeGreaterThan(nowSec());
  });

  it('tampered payload → INVALID_SIGNATURE', async () => {
    const [h, , s] = (await signJwt(es, displayPayload())).split('.');
    const forged = `${h}.${b64url(JSON.stringify(displayPayload({ tid: 'tenant-2' })))}.${s}`;
    await expectCode(edge().verifyDisplayToken(forged), 'ORDERWIRE_ERR_TOKEN_INVALID_SIGNATURE');
    // Signed by a key that is not the one its kid names.
    const other = await createJwksKey({ kid: es.kid, alg: 'ES256' });
    await expectCode(edge().verifyDisplayToken(await signJwt(other, displayPayload())), 'ORDERWIRE_ERR_TOKEN_INVALID_SIGNATURE');
  });

  it('wrong typ → WRONG_TYPE', async () => {
    await expectCode(api().verifyClientToken(await signJwt(es, displayPayload({ aud: 'orderwire-api' }))), 'ORDERWIRE_ERR_TOKEN_WRONG_TYPE');
    await expectCode(edge().verifyDisplayToken(await signJwt(es, clientPayload({ aud: 'edge' }))), 'ORDERWIRE_ERR_TOKEN_WRONG_TYPE');
    await expectCode(edge().verify(await signJwt(es, displayPayload({ typ: 'refresh' }))), 'ORDERWIRE_ERR_TOKEN_WRONG_TYPE');
  });

  it('missing scope → INSUFFICIENT_SCOPE (403) naming what is missing', async () => {
    const token = await signJwt(es, clientPayload({ scope: 'orders:read dlq:read' }));
    const err = await expectCode(api().verifyClientToken(token, ['orders:read', 'orders:write']), 'ORDERWIRE_ERR_TOKEN_INSUFFICIENT_SCOPE');
    expect(err.status).toBe(403);
    expect(err.details).toEqual({ required: ['orders:read', 'orders:write'], missing: ['orders:write'] });
    // Scope tokens must match exactly, not as substrings.
    const sneaky = await signJwt(es, clientPayload({ scope: 'orders:writeX xorders:write' }));
    await expectCode(api().verifyClientToken(sneaky, ['orders:write']), 'ORDERWIRE_ERR_TOKEN_INSUFFICIENT_SCOPE');
    await expect(api().verifyClientToken(token, ['dlq:read'])).resolves.toBeDefined();
  });

  it.each<[string, Record<string, unknown>]>([
    ['tenant with a dot', { tid: 'tenant.1' }],
    ['display id with a wildcard', { sub: 'display-*' }],
    ['store id with a space', { sid: 'store 1' }],
    ['station with >', { stn: ['grill', '>'] }],
    ['stations not an array', { stn: 'grill' }],
    ['missing jti', { jti: undefined }],
    ['missing tid', { tid: undefined }],
    ['missing exp', { exp: undefined }],
    ['missing fam', { fam: undefined }],
    ['exp not a number', { exp: 'soon' }],
  ])('display claim shape: %s → MALFORMED', async (_name, overrides) => {
    await expectCode(edge().verifyDisplayToken(await signJwt(es, displayPayload(overrides))), 'ORDERWIRE_ERR_TOKEN_MALFORMED');
  });

  it('client claim shape: non-string scope or bad client id → MALFORMED', async () => {
    await expectCode(api().verifyClientToken(await signJwt(es, clientPayload({ scope: ['orders:write'] }))), 'ORDERWIRE_ERR_TOKEN_MALFORMED');
    await expectCode(api().verifyClientToken(await signJwt(es, clientPayload({ sub: 'a.b' }))), 'ORDERWIRE_ERR_TOKEN_MALFORMED');
  });

  it('a token without kid → MALFORMED', async () => {
    await expectCode(edge().verifyDisplayToken(await signJwt(es, displayPayload(), { kid: undefined })), 'ORDERWIRE_ERR_TOKEN_MALFORMED');
  });

  it('garbage → MALFORMED, nothing → MISSING', async () => {
    const v = edge();
    for (const garbage of ['x', 'a.b.c', '..', 'a.b', `${b64url('{"alg":"ES256"')}.${b64url('{}')}.sig`, `${b64url('[]')}.e30.sig`, 'x'.repeat(9000)]) {
      await expectCode(v.verifyDisplayToken(garbage), 'ORDERWIRE_ERR_TOKEN_MALFORMED');
    }
    const header = b64url(JSON.stringify({ alg: 'ES256', kid: es.kid }));
    const [, , sig] = (await signJwt(es, displayPayload())).split('.');
    await expectCode(v.verifyDisplayToken(`${header}.${b64url('not json')}.${sig}`), 'ORDERWIRE_ERR_TOKEN_INVALID_SIGNATURE');
    for (const nothing of ['', undefined, null, 42]) await expectCode(v.verifyDisplayToken(nothing), 'ORDERWIRE_ERR_TOKEN_MISSING');
  });
});

describe('JWKS fetching', () => {
  it('an unknown kid is refused and refetches the JWKS at most once per cooldown', async () => {
    const s = await freshServer([es]);
    const v = verifierFor(s, 'edge', { cooldownMs: 1_000 });
    await v.verifyDisplayToken(await signJwt(es, displayPayload()));
    expect(s.requests).toBe(1);

    const stranger = await createJwksKey({ kid: 'unknown-kid', alg: 'ES256' });
    const strangerToken = await signJwt(stranger, displayPayload());
    // Within the cooldown of the first fetch: no refetch at all.
    for (let i = 0; i < 3; i++) await expectCode(v.verifyDisplayToken(strangerToken), 'ORDERWIRE_ERR_TOKEN_UNKNOWN_KEY');
    expect(s.requests).toBe(1);

    await sleep(1_100);
    // Cooldown over: a flood of unknown kids, concurrent and sequential, costs exactly one fetch.
    const burst = await Promise.all(Array.from({ length: 10 }, () => rejection(v.verifyDisplayToken(strangerToken))));
    expect(burst.every((e) => e.code === 'ORDERWIRE_ERR_TOKEN_UNKNOWN_KEY')).toBe(true);
    for (let i = 0; i < 5; i++) await expectCode(v.verifyDisplayToken(strangerToken), 'ORDERWIRE_ERR_TOKEN_UNKNOWN_KEY');
    expect(s.requests).toBe(2);
    // Known keys keep verifying from the cache.
    await v.verifyDisplayToken(await signJwt(es, displayPayload()));
    expect(s.requests).toBe(2);
  });

  it('key rotation: a new key is picked up on its first token, the old key verifies while published', async () => {
    const s = await freshServer([es]);
    const v = verifierFor(s, 'edge', { cooldownMs: 100, cacheMaxAgeMs: 60_000 });
    const oldToken = await signJwt(es, displayPayload());
    await v.verifyDisplayToken(oldToken);
    expect(s.requests).toBe(1);

    const next = await createJwksKey({ kid: 'es-2', alg: 'ES256' });
    s.keys = [es, next];
    await sleep(150);
    await expect(v.verifyDisplayToken(await signJwt(next, displayPayload({ jti: 'new' })))).resolves.toMatchObject({ jti: 'new' });
    expect(s.requests).toBe(2);
    await expect(v.verifyDisplayToken(oldToken)).resolves.toBeDefined();
    expect(s.requests).toBe(2);

    // The old key retires; once the cache ages out, its tokens stop verifying.
    s.keys = [next];
    const short = verifierFor(s, 'edge', { cooldownMs: 50, cacheMaxAgeMs: 100 });
    await expectCode(short.verifyDisplayToken(oldToken), 'ORDERWIRE_ERR_TOKEN_UNKNOWN_KEY');
  });

  it('JWKS server down (nothing listening) → JWKS_UNAVAILABLE 503', async () => {
    const s = await freshServer([es]);
    const url = s.url;
    await s.dispose();
    servers.splice(servers.indexOf(s), 1);
    const v = createTokenVerifier({ jwksUrl: url, issuer: ISSUER, audience: 'edge' });
    const err = await expectCode(v.verifyDisplayToken(await signJwt(es, displayPayload())), 'ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE');
    expect(err.status).toBe(503);
    expect(err.reason).toBe('internal_error');
    expect(err.cause).toBeDefined();
    await expectCode(v.prefetch(), 'ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE');
  });

  it.each<['error' | 'garbage' | 'hang']>([['error'], ['garbage'], ['hang']])('JWKS answering %s → JWKS_UNAVAILABLE', async (mode) => {
    const s = await freshServer([es]);
    s.mode = mode;
    const v = verifierFor(s, 'edge', { timeoutMs: 200 });
    const started = Date.now();
    await expectCode(v.verifyDisplayToken(await signJwt(es, displayPayload())), 'ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(2_000);
    s.mode = 'ok';
    await expect(v.verifyDisplayToken(await signJwt(es, displayPayload()))).resolves.toBeDefined();
  });

  it('an expired cache keeps verifying known keys while the JWKS is down, bounded by staleIfErrorMs', async () => {
    const s = await freshServer([es]);
    const logger = recordingLogger();
    const v = verifierFor(s, 'edge', { cacheMaxAgeMs: 100, cooldownMs: 1_000, staleIfErrorMs: 60_000, logger });
    await v.verifyDisplayToken(await signJwt(es, displayPayload()));
    expect(s.requests).toBe(1);

    s.mode = 'error';
    await sleep(150);
    await expect(v.verifyDisplayToken(await signJwt(es, displayPayload()))).resolves.toBeDefined();
    expect(s.requests).toBe(2);
    // Backed off: the next calls within the cooldown do not hit the failing endpoint.
    for (let i = 0; i < 5; i++) await v.verifyDisplayToken(await signJwt(es, displayPayload()));
    expect(s.requests).toBe(2);
    // A kid we never saw cannot be checked while the JWKS is down: retryable 503, not 401.
    const stranger = await createJwksKey({ kid: 'es-new', alg: 'ES256' });
    await expectCode(v.verifyDisplayToken(await signJwt(stranger, displayPayload())), 'ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE');
    expect(logger.warns).toEqual(['jwks fetch failed']);

    s.mode = 'ok';
    s.keys = [es, stranger];
    await sleep(1_050);
    await expect(v.verifyDisplayToken(await signJwt(stranger, displayPayload()))).resolves.toBeDefined();
    expect(logger.infos).toEqual(['jwks reachable again']);

    const strict = verifierFor(s, 'edge', { cacheMaxAgeMs: 100, staleIfErrorMs: 0 });
    await strict.verifyDisplayToken(await signJwt(es, displayPayload()));
    s.mode = 'error';
    await sleep(150);
    await expectCode(strict.verifyDisplayToken(await signJwt(es, displayPayload())), 'ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE');
  });

  it('prefetch loads the JWKS so the first token needs no fetch', async () => {
    const s = await freshServer([es]);
    const v = verifierFor(s, 'edge');
    await v.prefetch();
    expect(s.requests).toBe(1);
    await v.verifyDisplayToken(await signJwt(es, displayPayload()));
    expect(s.requests).toBe(1);
  });
});

describe('configuration and catalogue', () => {
  it.each<[string, Partial<TokenVerifierOptions>]>([
    ['an HMAC algorithm', { algorithms: ['HS256' as 'ES256'] }],
    ['alg none', { algorithms: ['none' as 'ES256'] }],
    ['no algorithms', { algorithms: [] }],
    ['a non-URL', { jwksUrl: 'not a url' }],
    ['a file URL', { jwksUrl: 'file:///etc/passwd' }],
    ['an empty issuer', { issuer: '' }],
    ['a negative cooldown', { cooldownMs: -1 }],
    ['a fractional timeout', { timeoutMs: 1.5 }],
  ])('refuses %s', (_name, bad) => {
    expect(() => createTokenVerifier({ jwksUrl: server.url, issuer: ISSUER, audience: 'edge', ...bad })).toThrow(
      expect.objectContaining({ code: 'ORDERWIRE_ERR_TOKEN_VERIFIER_CONFIG' }) as Error,
    );
  });

  it('every code has a status and a socket reason; only scope is 403 and only JWKS is 503', () => {
    for (const code of TOKEN_ERROR_CODES) {
      const spec = TOKEN_ERRORS[code];
      expect(code).toMatch(/^ORDERWIRE_ERR_TOKEN_[A-Z_]+$/);
      const err = new TokenError(code);
      expect([err.status, err.statusCode, err.reason]).toEqual([spec.status, spec.status, spec.reason]);
    }
    const non401 = TOKEN_ERROR_CODES.filter((c) => TOKEN_ERRORS[c].status !== 401);
    expect(non401.sort()).toEqual([
      'ORDERWIRE_ERR_TOKEN_INSUFFICIENT_SCOPE',
      'ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE',
      'ORDERWIRE_ERR_TOKEN_VERIFIER_CONFIG',
    ]);
    expect(TOKEN_ERRORS.ORDERWIRE_ERR_TOKEN_EXPIRED.reason).toBe('token_expired');
  });
});
