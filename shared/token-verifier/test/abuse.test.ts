/**
 * The verifier under a flood of forged tokens (issue 12, item 7) and with revocation (item 8):
 * each bad token's cost is bounded — structural refusals before any key lookup, an unknown `kid`
 * refetches the JWKS at most once per cooldown — and a revoked client's token is refused even
 * when it sits in the verified-token cache.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenError, createTokenVerifier, type TokenErrorCode } from '../src/index.js';
import { createJwksKey, signJwt as sign, startJwks, type JwksKey, type JwksServerHandle } from '@orderwire/test-harness';
import { ISSUER, b64url, clientPayload, displayPayload } from './jwks-fixture.js';

let key: JwksKey;
let jwks: JwksServerHandle;

beforeAll(async () => {
  key = await createJwksKey({ kid: 'k-1', alg: 'ES256' });
  jwks = await startJwks({ keys: [key] });
});

afterAll(async () => {
  await jwks?.dispose();
});

async function codeOf(promise: Promise<unknown>): Promise<TokenErrorCode | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    if (err instanceof TokenError) return err.code;
    throw err;
  }
}

/** Forged tokens in the flood. */
const FLOOD = 2_000;

describe('a flood of forged tokens', () => {
  it(`${FLOOD} tokens with unknown kids cost at most 2 JWKS fetches (the first, and one per 30 s cooldown)`, async () => {
    const verifier = createTokenVerifier({ jwksUrl: jwks.url, issuer: ISSUER, audience: 'orderwire-api' });
    await verifier.prefetch();
    const before = jwks.requests;
    const started = performance.now();
    for (let i = 0; i < FLOOD; i++) {
      const forged = `${b64url(JSON.stringify({ alg: 'ES256', kid: `unknown-${i}` }))}.${b64url('{}')}.${b64url(new Uint8Array(64))}`;
      expect(await codeOf(verifier.verifyClientToken(forged))).toBe('ORDERWIRE_ERR_TOKEN_UNKNOWN_KEY');
    }
    const perTokenMs = (performance.now() - started) / FLOOD;
    expect(jwks.requests - before).toBeLessThanOrEqual(1);
    // A bound for a loaded 2-core box; measured ~0.05 ms per token.
    expect(perTokenMs).toBeLessThan(2);
  });

  it('refuses by structure before any key lookup: no JWKS fetch at all', async () => {
    const verifier = createTokenVerifier({ jwksUrl: jwks.url, issuer: ISSUER, audience: 'orderwire-api' });
    const before = jwks.requests;
    const header = (h: object) => b64url(JSON.stringify(h));
    const cases: Array<[string, TokenErrorCode]> = [
      ['a.b', 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      ['a.b.c.d', 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      ['a..c', 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      ['a b.c.d', 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      [`${header({ alg: 'ES256', kid: 'k-1', pad: 'x'.repeat(300) })}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      [`${b64url('[1,2]')}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      [`${b64url('{nope')}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      [`${header({ alg: 'HS256', kid: 'k-1' })}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_ALG_NOT_ALLOWED'],
      [`${header({ alg: 'none', kid: 'k-1' })}.e30.`, 'ORDERWIRE_ERR_TOKEN_ALG_NOT_ALLOWED'],
      [`${header({ alg: 'none', kid: 'k-1' })}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_ALG_NOT_ALLOWED'],
      [`${header({ alg: 'ES256' })}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      [`${header({ alg: 'ES256', kid: 7 })}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      [`${header({ alg: 'ES256', kid: 'k'.repeat(129) })}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
    ];
    for (const [token, code] of cases) expect(await codeOf(verifier.verifyClientToken(token)), token).toBe(code);
    expect(jwks.requests).toBe(before);
  });
});

describe('revocation', () => {
  it('refuses a revoked client’s token, cached or not, and leaves other clients and display tokens alone', async () => {
    const revoked = new Set<string>();
    const verifier = createTokenVerifier({
      jwksUrl: jwks.url,
      issuer: ISSUER,
      audience: 'orderwire-api',
      revocations: { isRevoked: ({ sub }) => revoked.has(sub) },
    });
    const victim = await sign(key, clientPayload({ sub: 'owc_victim', jti: 'j-victim' }));
    const other = await sign(key, clientPayload({ sub: 'owc_other', jti: 'j-other' }));
    expect(await codeOf(verifier.verifyClientToken(victim))).toBe('ok'); // now cached as verified
    revoked.add('owc_victim');
    expect(await codeOf(verifier.verifyClientToken(victim))).toBe('ORDERWIRE_ERR_TOKEN_REVOKED');
    expect(await codeOf(verifier.verify(victim))).toBe('ORDERWIRE_ERR_TOKEN_REVOKED');
    expect(await codeOf(verifier.verifyClientToken(other))).toBe('ok');
    const err = await verifier.verifyClientToken(victim).catch((e: unknown) => e as TokenError);
    expect(err).toMatchObject({ status: 401, reason: 'token_revoked' });

    // A display whose id happens to equal a revoked client id is not a client: untouched.
    const edgeVerifier = createTokenVerifier({
      jwksUrl: jwks.url,
      issuer: ISSUER,
      audience: 'edge',
      revocations: { isRevoked: ({ sub }) => revoked.has(sub) },
    });
    expect(await codeOf(edgeVerifier.verifyDisplayToken(await sign(key, displayPayload({ sub: 'owc_victim' }))))).toBe('ok');
  });
});
