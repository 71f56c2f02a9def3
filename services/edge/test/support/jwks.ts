/**
 * Display tokens for the edge's tests, signed by the test harness's JWKS endpoint (standing in for
 * the auth service, tested on its own) and verified by the real verifier over HTTP.
 */
import { randomUUID } from 'node:crypto';
import { createJwksKey, startJwks as startHarnessJwks } from '@orderwire/test-harness';

export const TEST_ISSUER = 'orderwire-auth-test';

export interface DisplayIdentity {
  tenant: string;
  store: string;
  displayId: string;
  stations: string[];
}

export interface SignOptions {
  /** Lifetime in seconds. @default 600 */
  ttlSec?: number;
  /** Absolute exp (epoch seconds), overrides ttlSec. */
  exp?: number;
  audience?: string;
  issuer?: string;
  familyId?: string;
  /** Sign with a key the JWKS does not publish. */
  foreignKey?: boolean;
}

export interface TestJwks {
  url: string;
  sign(identity: DisplayIdentity, options?: SignOptions): Promise<string>;
  close(): Promise<void>;
}

export async function startJwks(): Promise<TestJwks> {
  const jwks = await startHarnessJwks();
  // Signs tokens the JWKS does not publish, under the published key's kid.
  const foreign = await createJwksKey({ kid: jwks.keys[0]!.kid });

  return {
    url: jwks.url,
    async sign(id, o = {}) {
      const now = Math.floor(Date.now() / 1000);
      return jwks.sign(
        {
          typ: 'display',
          tid: id.tenant,
          sid: id.store,
          stn: id.stations,
          fam: o.familyId ?? `fam-${id.displayId}`,
          iss: o.issuer ?? TEST_ISSUER,
          aud: o.audience ?? 'edge',
          sub: id.displayId,
          jti: randomUUID(),
          iat: now,
          exp: o.exp ?? now + (o.ttlSec ?? 600),
        },
        o.foreignKey === true ? { key: foreign } : {},
      );
    },
    close: () => jwks.dispose(),
  };
}
