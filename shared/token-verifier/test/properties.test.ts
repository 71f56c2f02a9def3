/**
 * Property-based tests of token-claim parsing: a validly signed token is still untrusted input,
 * and its ids become subject tokens and consumer names. Whatever the payload, the verifier either
 * refuses it with a TokenError or returns claims whose ids are valid, from which the subjects and
 * the mailbox name can be built, and whose scopes are exactly the known scopes named in it.
 */
import fc from 'fast-check';
import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SCOPES,
  displayConsumerName,
  displaySubject,
  isValidId,
  parseDisplayConsumerName,
  stationSubject,
} from '@orderwire/contracts';
import { clientClaims, displayClaims, parseScopes, requireScopes } from '../src/claims.js';
import { TokenError, createTokenVerifier } from '../src/index.js';
import { createJwksKey, signJwt, startJwks, type JwksKey, type JwksServerHandle } from '@orderwire/test-harness';
import { ISSUER, clientPayload, displayPayload } from './jwks-fixture.js';

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const idArb = fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 64 });
/** Hostile strings: subject metacharacters, whitespace, separators, long, non-ASCII. */
const hostile = fc.oneof(
  fc.string({ maxLength: 100 }),
  fc.string({ unit: fc.constantFrom('a', '.', '*', '>', ' ', '\n', '_', '-', '\u0000', 'ü', ':'), maxLength: 70 }),
  fc.constantFrom('', '*', '>', 'a.b', 'orders.>', 'x'.repeat(65), '__proto__', 'constructor'),
);
const anyValue: fc.Arbitrary<unknown> = fc.oneof(hostile, idArb, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.oneof(idArb, hostile, fc.integer()), { maxLength: 4 }), fc.object({ maxDepth: 1 }));

/** A display payload with any subset of its claims replaced by arbitrary values. */
const displayPayloadArb = fc
  .record({
    typ: fc.oneof(fc.constant('display'), anyValue),
    aud: fc.oneof(fc.constant('edge'), fc.constant(['edge', 'x']), anyValue),
    sub: fc.oneof(idArb, anyValue),
    tid: fc.oneof(idArb, anyValue),
    sid: fc.oneof(idArb, anyValue),
    stn: fc.oneof(fc.array(idArb, { maxLength: 5 }), anyValue),
    fam: fc.oneof(idArb, anyValue),
    jti: fc.oneof(idArb, anyValue),
  })
  .map((r) => displayPayload(r as Record<string, unknown>));

const RUNS = { numRuns: 3_000 };

function checkDisplayClaims(payload: JWTPayload): void {
  let claims;
  try {
    claims = displayClaims(payload);
  } catch (err) {
    expect(err).toBeInstanceOf(TokenError);
    return;
  }
  for (const v of [claims.tid, claims.sid, claims.sub, ...claims.stn]) expect(isValidId(v)).toBe(true);
  // Everything the edge derives from the claims builds, and the mailbox name maps back to them.
  expect(parseDisplayConsumerName(displayConsumerName(claims.tid, claims.sub))).toEqual({ tenant: claims.tid, displayId: claims.sub });
  expect(displaySubject(claims.tid, claims.sid, claims.sub).split('.')).toHaveLength(6);
  for (const s of claims.stn) expect(stationSubject(claims.tid, claims.sid, s).split('.')).toHaveLength(5);
  expect(claims.aud).toBe('edge');
  expect(claims.typ).toBe('display');
}

describe('claim parsing (pure)', () => {
  it('a display payload yields valid ids (usable as subject tokens and mailbox names) or a TokenError', () => {
    fc.assert(fc.property(displayPayloadArb, (p) => checkDisplayClaims(p)), RUNS);
  });

  it('a client payload yields valid ids or a TokenError; a display token is never a client token and vice versa', () => {
    const clientArb = fc
      .record({ typ: fc.oneof(fc.constant('client'), fc.constant('display'), anyValue), sub: fc.oneof(idArb, anyValue), tid: fc.oneof(idArb, anyValue), scope: fc.oneof(fc.constant('orders:write'), anyValue) })
      .map((r) => clientPayload(r as Record<string, unknown>));
    fc.assert(
      fc.property(clientArb, (p) => {
        try {
          const c = clientClaims(p);
          expect(isValidId(c.tid) && isValidId(c.sub)).toBe(true);
          expect(p.typ).toBe('client');
        } catch (err) {
          expect(err).toBeInstanceOf(TokenError);
        }
        expect(() => displayClaims({ ...p, aud: 'edge' })).toThrow(TokenError);
      }),
      RUNS,
    );
  });

  it('scopes granted are exactly the known scopes named as whole space-separated words', () => {
    const word = fc.oneof(fc.constantFrom(...SCOPES), fc.constantFrom('orders', 'write', 'orders:', ':write', 'ORDERS:WRITE', 'orders:write\t', 'dlq:*', '*'), hostile);
    fc.assert(
      fc.property(fc.array(word, { maxLength: 8 }), fc.constantFrom(' ', '  ', '\t', ','), (words, sep) => {
        const scope = words.join(sep);
        const granted = parseScopes(scope);
        const named = new Set(scope.split(' '));
        expect(new Set(granted)).toEqual(new Set(SCOPES.filter((s) => named.has(s))));
        for (const s of SCOPES) {
          const claims = clientClaims(clientPayload({ scope }));
          if (named.has(s)) expect(requireScopes(claims, [s])).toContain(s);
          else expect(() => requireScopes(claims, [s])).toThrow(TokenError);
        }
      }),
      RUNS,
    );
  });
});

describe('claim parsing through signature verification', () => {
  let key: JwksKey;
  let server: JwksServerHandle;

  beforeAll(async () => {
    key = await createJwksKey({ kid: 'prop-1', alg: 'ES256' });
    server = await startJwks({ keys: [key] });
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('a validly signed token with arbitrary claims is refused with a TokenError or yields safe claims', async () => {
    const edge = createTokenVerifier({ jwksUrl: server.url, issuer: ISSUER, audience: 'edge', verifiedTokenTtlMs: 0 });
    await fc.assert(
      fc.asyncProperty(displayPayloadArb, async (p) => {
        let claims;
        try {
          claims = await edge.verifyDisplayToken(await signJwt(key, p));
        } catch (err) {
          expect(err).toBeInstanceOf(TokenError);
          return;
        }
        checkDisplayClaims({ ...p, ...claims });
      }),
      { numRuns: 300 },
    );
  });
});
