/**
 * A real JWKS endpoint on a loopback port and a token signer, standing in for the auth service
 * wherever a test needs tokens the real verifier accepts: keys are generated with jose, published
 * at `/.well-known/jwks.json`, and tokens are signed with them. The one copy for every package.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type JwksKeyAlg = 'ES256' | 'EdDSA';

export interface JwksKey {
  kid: string;
  alg: JwksKeyAlg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public JWK as the JWKS publishes it (`kid`, `alg`, `use: sig`). */
  jwk: JWK;
}

/** A fresh signing key; `kid` defaults to a random UUID. */
export async function createJwksKey(options: { kid?: string; alg?: JwksKeyAlg } = {}): Promise<JwksKey> {
  const alg = options.alg ?? 'ES256';
  const kid = options.kid ?? randomUUID();
  const { privateKey, publicKey } = await generateKeyPair(alg === 'ES256' ? 'ES256' : 'Ed25519', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk };
}

/**
 * Signs `payload` exactly as given (the caller sets every claim; `undefined` values are dropped),
 * with a protected header `{ alg, kid, typ: 'JWT' }` plus `header`.
 */
export async function signJwt(key: JwksKey, payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const clean = Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
  return new SignJWT(clean).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
}

/** How the endpoint answers: the JWKS, a 500, never, or a body that is not a JWKS. */
export type JwksMode = 'ok' | 'error' | 'hang' | 'garbage';

export interface JwksServerOptions {
  /** Keys published (the first one signs by default). @default one fresh ES256 key */
  keys?: JwksKey[];
}

export interface JwksServerHandle {
  /** `http://127.0.0.1:<port>/.well-known/jwks.json` */
  readonly url: string;
  /** Requests served so far, in any mode. */
  readonly requests: number;
  /** Published keys; assign to rotate. */
  keys: JwksKey[];
  mode: JwksMode;
  /** Signs with `key`, by default the first published key (see {@link signJwt}). */
  sign(payload: JWTPayload, options?: { key?: JwksKey; header?: Record<string, unknown> }): Promise<string>;
  /** Closes the server and every open connection. */
  dispose(): Promise<void>;
}

export async function startJwks(options: JwksServerOptions = {}): Promise<JwksServerHandle> {
  const state = { requests: 0, keys: options.keys ?? [await createJwksKey()], mode: 'ok' as JwksMode };
  const sockets = new Set<Socket>();
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
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys.map((k) => k.jwk) }));
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
    set keys(k: JwksKey[]) {
      state.keys = k;
    },
    get mode() {
      return state.mode;
    },
    set mode(m: JwksMode) {
      state.mode = m;
    },
    sign(payload, signOptions = {}) {
      const key = signOptions.key ?? state.keys[0];
      if (key === undefined) return Promise.reject(new TypeError('the JWKS publishes no key to sign with; pass options.key'));
      return signJwt(key, payload, signOptions.header);
    },
    dispose: () =>
      new Promise<void>((resolve, reject) => {
        for (const s of sockets) s.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
