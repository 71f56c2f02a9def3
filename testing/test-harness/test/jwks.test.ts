import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createJwksKey, startJwks, type JwksServerHandle } from '../src/jwks.js';

const handles: JwksServerHandle[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.dispose();
});

async function start(...args: Parameters<typeof startJwks>): Promise<JwksServerHandle> {
  const h = await startJwks(...args);
  handles.push(h);
  return h;
}

const payload = () => ({ iss: 'test-issuer', aud: 'edge', sub: 'd1', exp: Math.floor(Date.now() / 1000) + 60 });

describe('startJwks: a JWKS endpoint and signer a real verifier accepts', () => {
  it('tokens it signs verify against the keys it publishes, for ES256 and EdDSA', async () => {
    const es = await createJwksKey({ kid: 'es' });
    const ed = await createJwksKey({ kid: 'ed', alg: 'EdDSA' });
    const jwks = await start({ keys: [es, ed] });
    const keySet = createRemoteJWKSet(new URL(jwks.url));
    for (const key of [es, ed]) {
      const token = await jwks.sign(payload(), { key });
      const { payload: claims, protectedHeader } = await jwtVerify(token, keySet, { issuer: 'test-issuer', audience: 'edge' });
      expect(protectedHeader).toMatchObject({ kid: key.kid, alg: key.alg, typ: 'JWT' });
      expect(claims.sub).toBe('d1');
    }
    expect(jwks.requests).toBeGreaterThan(0);
  });

  it('a key it does not publish signs tokens the verifier refuses', async () => {
    const jwks = await start();
    const foreign = await createJwksKey({ kid: jwks.keys[0]!.kid });
    const token = await jwks.sign(payload(), { key: foreign });
    await expect(jwtVerify(token, createRemoteJWKSet(new URL(jwks.url)))).rejects.toThrow();
  });

  it('answers 500, garbage or nothing when told to', async () => {
    const jwks = await start();
    jwks.mode = 'error';
    expect((await fetch(jwks.url)).status).toBe(500);
    jwks.mode = 'garbage';
    await expect((await fetch(jwks.url)).json()).rejects.toThrow();
    jwks.mode = 'hang';
    await expect(fetch(jwks.url, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
    jwks.mode = 'ok';
    expect(((await (await fetch(jwks.url)).json()) as { keys: unknown[] }).keys).toHaveLength(1);
    expect((await fetch(jwks.url.replace('/.well-known/jwks.json', '/other'))).status).toBe(404);
  });
});
