/**
 * A tiny real JWKS endpoint and token signer standing in for the auth service (tested on its
 * own): tokens are signed with a real ES256 key and verified by the real verifier over HTTP.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

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
  const kid = randomUUID();
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const foreign: { privateKey: CryptoKey } = await generateKeyPair('ES256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const body = JSON.stringify({ keys: [jwk] });
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    async sign(id, o = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ typ: 'display', tid: id.tenant, sid: id.store, stn: id.stations, fam: o.familyId ?? `fam-${id.displayId}` })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setIssuer(o.issuer ?? TEST_ISSUER)
        .setAudience(o.audience ?? 'edge')
        .setSubject(id.displayId)
        .setJti(randomUUID())
        .setIssuedAt(now)
        .setExpirationTime(o.exp ?? now + (o.ttlSec ?? 600))
        .sign(o.foreignKey === true ? foreign.privateKey : privateKey);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
