import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fastify, type FastifyInstance } from 'fastify';
import {
  GRANTED_SCOPES_MEMO_MAX,
  bearerAuth,
  createTokenVerifier,
  extractBearerToken,
  grantedScopes,
  parseScopes,
  requirePrincipal,
  type ClientPrincipal,
} from '../src/index.js';
import { createJwksKey, signJwt, startJwks, type JwksKey, type JwksServerHandle } from '@orderwire/test-harness';
import { ISSUER, clientPayload, displayPayload } from './jwks-fixture.js';

let key: JwksKey;
let jwks: JwksServerHandle;
let app: FastifyInstance;
let handlerCalls = 0;
const rejected: string[] = [];
const principals: ClientPrincipal[] = [];

beforeAll(async () => {
  key = await createJwksKey({ kid: 'es-1', alg: 'ES256' });
  jwks = await startJwks({ keys: [key] });
  const verifier = createTokenVerifier({ jwksUrl: jwks.url, issuer: ISSUER, audience: 'orderwire-api' });
  app = fastify({ logger: false });
  // An async onSend hook delays the end of the response: the route handler must still not run
  // after the hook has refused the request.
  app.addHook('onSend', async (_req, _reply, payload) => {
    await new Promise((r) => setTimeout(r, 5));
    return payload;
  });
  const auth = bearerAuth(verifier, { scopes: ['orders:write'], onReject: (err) => rejected.push(err.code) });
  app.post<{ Body: { n: number } }>('/v1/orders', { preHandler: auth }, async (request) => {
    handlerCalls += 1;
    const principal: ClientPrincipal = requirePrincipal(request);
    principals.push(principal);
    return { tenant: principal.tenant, clientId: principal.clientId, scopes: principal.scopes, n: request.body.n };
  });
  app.get('/open', async (request) => requirePrincipal(request).tenant);
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await jwks.dispose();
});

async function post(authorization?: string) {
  return app.inject({
    method: 'POST',
    url: '/v1/orders',
    headers: authorization === undefined ? {} : { authorization },
    payload: { n: 1 },
  });
}

describe('bearerAuth', () => {
  it('lets a token with the scope through and sets request.principal', async () => {
    const res = await post(`Bearer ${await signJwt(key, clientPayload())}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ tenant: 'tenant-1', clientId: 'pos-client', scopes: ['orders:write', 'orders:read'], n: 1 });
    expect(handlerCalls).toBe(1);
  });

  it('401 without a token, with a bare challenge', async () => {
    const before = handlerCalls;
    const res = await post();
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: { code: 'ORDERWIRE_ERR_TOKEN_MISSING', message: expect.any(String) as string } });
    expect(res.headers['www-authenticate']).toBe('Bearer realm="orderwire"');
    expect(rejected.at(-1)).toBe('ORDERWIRE_ERR_TOKEN_MISSING');
    expect(handlerCalls).toBe(before);
  });

  it('401 invalid_token for a bad token or a non-Bearer header', async () => {
    const before = handlerCalls;
    const expired = await signJwt(key, clientPayload({ iat: 1, exp: 2 }));
    for (const [header, code] of [
      [`Bearer ${expired}`, 'ORDERWIRE_ERR_TOKEN_EXPIRED'],
      [`Bearer ${await signJwt(key, displayPayload({ aud: 'orderwire-api' }))}`, 'ORDERWIRE_ERR_TOKEN_WRONG_TYPE'],
      ['Bearer not-a-jwt', 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      ['Basic dXNlcjpwYXNz', 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      ['Bearer', 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
    ] as const) {
      const res = await post(header);
      expect(res.statusCode).toBe(401);
      expect(res.json<{ error: { code: string } }>().error.code).toBe(code);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="orderwire", error="invalid_token", error_description="[^"]+"$/);
    }
    expect(handlerCalls).toBe(before);
  });

  it('403 insufficient_scope naming the required scope', async () => {
    const before = handlerCalls;
    const res = await post(`Bearer ${await signJwt(key, clientPayload({ scope: 'orders:read' }))}`);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({
      error: {
        code: 'ORDERWIRE_ERR_TOKEN_INSUFFICIENT_SCOPE',
        message: expect.any(String) as string,
        details: { required: ['orders:write'], missing: ['orders:write'] },
      },
    });
    expect(res.headers['www-authenticate']).toBe('Bearer realm="orderwire", error="insufficient_scope", scope="orders:write"');
    expect(handlerCalls).toBe(before);
  });

  it('503 with Retry-After when the JWKS cannot be fetched', async () => {
    const down = await startJwks({ keys: [key] });
    down.mode = 'error';
    const verifier = createTokenVerifier({ jwksUrl: down.url, issuer: ISSUER, audience: 'orderwire-api' });
    const local = fastify({ logger: false });
    let calls = 0;
    local.get('/x', { preHandler: bearerAuth(verifier) }, async () => {
      calls += 1;
      return 'ok';
    });
    try {
      const res = await local.inject({ method: 'GET', url: '/x', headers: { authorization: `Bearer ${await signJwt(key, clientPayload())}` } });
      expect(res.statusCode).toBe(503);
      expect(res.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE');
      expect(res.headers['retry-after']).toBe('5');
      expect(res.headers['www-authenticate']).toBeUndefined();
      expect(calls).toBe(0);
    } finally {
      await local.close();
      await down.dispose();
    }
  });

  it('parses a token\'s scopes once: every request of it gets the same frozen list', async () => {
    const token = await signJwt(key, clientPayload({ scope: 'orders:write orders:read orders:write unknown:scope' }));
    const before = principals.length;
    for (let i = 0; i < 3; i++) expect((await post(`Bearer ${token}`)).statusCode).toBe(200);
    const seen = principals.slice(before).map((p) => p.scopes);
    expect(seen).toHaveLength(3);
    expect(seen[0]).toEqual(['orders:write', 'orders:read']);
    // The same array each time: remembered, not parsed again (a fresh parse is a new array).
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toBe(seen[0]);
    expect(Object.isFrozen(seen[0])).toBe(true);
    // Each request still gets its own principal and claims.
    expect(principals[before + 1]).not.toBe(principals[before]);
    expect(principals[before + 1]!.claims).not.toBe(principals[before]!.claims);
  });

  it('requirePrincipal refuses on a route registered without the hook', async () => {
    const res = await app.inject({ method: 'GET', url: '/open' });
    expect(res.statusCode).toBe(401);
  });
});

describe('grantedScopes', () => {
  it('answers as parseScopes does, remembers by text, and stays bounded', () => {
    const texts = Array.from({ length: GRANTED_SCOPES_MEMO_MAX * 2 + 3 }, (_, i) => `orders:read x${i} orders:write orders:read`);
    const first = texts.map((t) => grantedScopes(t));
    for (const [i, t] of texts.entries()) {
      expect(first[i]).toEqual(parseScopes(t));
      expect(first[i]).toEqual(['orders:read', 'orders:write']);
    }
    // The most recent texts are remembered (same array); an evicted one is parsed again, equal.
    expect(grantedScopes(texts.at(-1)!)).toBe(first.at(-1));
    expect(grantedScopes(texts[0]!)).toEqual(first[0]);
    expect(() => grantedScopes(42)).toThrow(/scope must be a space-separated string/);
    expect(() => (grantedScopes('orders:read') as string[]).push('orders:write')).toThrow(TypeError);
  });
});

describe('extractBearerToken', () => {
  it.each<[string | undefined, string | undefined]>([
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer abc', 'abc'],
    ['Bearer  abc ', 'abc'],
    ['Bearer abc def', undefined],
    ['Bearer "abc"', undefined],
    ['Basic abc', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j → %j', (header, token) => {
    expect(extractBearerToken(header)).toBe(token);
  });
});
