/**
 * A real JWKS endpoint on a loopback port, keys generated with jose, and a token signer:
 * what the auth service does, reduced to what verification needs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export const ISSUER = 'orderwire-auth';

export interface TestKey {
  kid: string;
  alg: 'ES256' | 'EdDSA';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

export async function makeKey(kid: string, alg: 'ES256' | 'EdDSA'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg === 'ES256' ? 'ES256' : 'Ed25519', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk };
}

export type JwksMode = 'ok' | 'error' | 'hang' | 'garbage';

export interface JwksServer {
  url: string;
  /** Requests served so far (any mode). */
  readonly requests: number;
  keys: TestKey[];
  mode: JwksMode;
  close(): Promise<void>;
}

export async function startJwksServer(keys: TestKey[]): Promise<JwksServer> {
  const sockets = new Set<Socket>();
  const state = { requests: 0, keys, mode: 'ok' as JwksMode };
  const server: Server = createServer((req, res) => {
    state.requests += 1;
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    switch (state.mode) {
      case 'hang':
        return; // never answers: the verifier's timeout must fire
      case 'error':
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"down"}');
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": 42');
        return;
      case 'ok':
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ keys: state.keys.map((k) => k.jwk) }));
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return state.requests;
    },
    get keys() {
      return state.keys;
    },
    set keys(k: TestKey[]) {
      state.keys = k;
    },
    get mode() {
      return state.mode;
    },
    set mode(m: JwksMode) {
      state.mode = m;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const s of sockets) s.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

export const nowSec = (): number => Math.floor(Date.now() / 1000);

export function displayPayload(overrides: Record<string, unknown> = {}): JWTPayload {
  return {
    typ: 'display',
    iss: ISSUER,
    aud: 'edge',
    sub: 'display-1',
    tid: 'tenant-1',
    sid: 'store-1',
    stn: ['grill', 'fryer'],
    fam: 'fam-1',
    jti: 'jti-1',
    iat: nowSec(),
    exp: nowSec() + 300,
    ...overrides,
  };
}

export function clientPayload(overrides: Record<string, unknown> = {}): JWTPayload {
  return {
    typ: 'client',
    iss: ISSUER,
    aud: 'orderwire-api',
    sub: 'pos-client',
    tid: 'tenant-1',
    scope: 'orders:write orders:read',
    jti: 'jti-2',
    iat: nowSec(),
    exp: nowSec() + 300,
    ...overrides,
  };
}

/** Signs `payload` as is (claims set by the caller, undefined values dropped). */
export async function sign(key: TestKey, payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const clean = Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
  return new SignJWT(clean).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
}

export const b64url = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url');
