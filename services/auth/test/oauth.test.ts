import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_AUDIENCE } from '@orderwire/contracts';
import {
  basic,
  decodeHeader,
  makeClient,
  readAudit,
  startAuth,
  startInfra,
  type Infra,
  type OAuthErrorBody,
  type TokenBody,
  type TestAuth,
} from './helpers.js';

let infra: Infra;
let t: TestAuth;
let client: { tenant: string; clientId: string; clientSecret: string };

beforeAll(async () => {
  infra = await startInfra();
  t = await startAuth(infra);
  client = await makeClient(t, ['orders:write', 'orders:read']);
});

afterAll(async () => {
  await t?.close();
  await infra?.dispose();
});

function tokenRequest(payload: unknown, headers: Record<string, string> = {}) {
  return t.auth.app.inject({ method: 'POST', url: '/v1/oauth/token', headers, payload: payload as string });
}

async function verify(token: string) {
  const jwks = createLocalJWKSet({ keys: t.auth.ctx.keys.jwks().keys });
  return jwtVerify(token, jwks, { issuer: t.config.issuer, audience: API_AUDIENCE, algorithms: ['ES256'] });
}

describe('POST /v1/oauth/token (client credentials)', () => {
  it('issues a token for form-encoded body credentials', async () => {
    const res = await tokenRequest(
      `grant_type=client_credentials&client_id=${client.clientId}&client_secret=${encodeURIComponent(client.clientSecret)}`,
      { 'content-type': 'application/x-www-form-urlencoded' },
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json<TokenBody>();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'orders:write orders:read' });
    const { payload, protectedHeader } = await verify(body.access_token);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: t.auth.ctx.keys.signer().kid });
    expect(payload).toMatchObject({
      typ: 'client',
      iss: 'orderwire-auth',
      aud: 'orderwire-api',
      sub: client.clientId,
      tid: client.tenant,
      scope: 'orders:write orders:read',
    });
    expect(typeof payload.jti).toBe('string');
    expect((payload.exp as number) - (payload.iat as number)).toBe(900);
  });

  it('accepts HTTP Basic client authentication (form-urlencoded credentials)', async () => {
    const res = await tokenRequest('grant_type=client_credentials&scope=orders:read', {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basic(client.clientId, client.clientSecret),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json<TokenBody>().scope).toBe('orders:read');
  });

  it('accepts a JSON body', async () => {
    const res = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
      scope: 'orders:write',
    });
    expect(res.statusCode).toBe(200);
    expect(decodeHeader(res.json<TokenBody>().access_token).kid).toBe(t.auth.ctx.keys.signer().kid);
    expect((await verify(res.json<TokenBody>().access_token)).payload.scope).toBe('orders:write');
  });

  it('answers a wrong secret and an unknown client with the same invalid_client error', async () => {
    const wrong = await tokenRequest({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: 'nope' });
    const unknown = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: 'owc_doesnotexist000000000',
      client_secret: 'nope',
    });
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic realm="orderwire"/);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    }
  });

  it('spends comparable time on unknown clients and wrong secrets (dummy hash)', async () => {
    const time = async (id: string) => {
      const t0 = performance.now();
      await tokenRequest({ grant_type: 'client_credentials', client_id: id, client_secret: 'nope' });
      return performance.now() - t0;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time(client.clientId));
      unknown.push(await time(`owc_unknown${i}xxxxxxxxxxxxxxx`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[2]!;
    // Both pay one scrypt evaluation; without the dummy hash the unknown path is ~100x faster.
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.4);
  });

  it('rejects a scope the client does not have with invalid_scope', async () => {
    const res = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
      scope: 'orders:read dlq:replay',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json<OAuthErrorBody>().error).toBe('invalid_scope');
    expect(res.json<OAuthErrorBody>().error_description).toContain('dlq:replay');
    const unknown = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
      scope: 'admin',
    });
    expect(unknown.json<OAuthErrorBody>().error).toBe('invalid_scope');
  });

  it('rejects other grant types with unsupported_grant_type and a missing one with invalid_request', async () => {
    const pw = await tokenRequest({ grant_type: 'password', client_id: client.clientId, client_secret: client.clientSecret });
    expect(pw.statusCode).toBe(400);
    expect(pw.json<OAuthErrorBody>().error).toBe('unsupported_grant_type');
    const none = await tokenRequest({ client_id: client.clientId, client_secret: client.clientSecret });
    expect(none.statusCode).toBe(400);
    expect(none.json()).toEqual({ error: 'invalid_request', error_description: 'grant_type is required' });
  });

  it('rejects two authentication methods, repeated parameters, missing credentials and unparsable bodies', async () => {
    const both = await tokenRequest(
      { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret },
      { authorization: basic(client.clientId, client.clientSecret) },
    );
    expect(both.json<OAuthErrorBody>().error).toBe('invalid_request');
    const repeated = await tokenRequest('grant_type=client_credentials&grant_type=client_credentials', {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basic(client.clientId, client.clientSecret),
    });
    expect(repeated.json<OAuthErrorBody>().error).toBe('invalid_request');
    const anonymous = await tokenRequest({ grant_type: 'client_credentials' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json<OAuthErrorBody>().error).toBe('invalid_client');
    const garbage = await tokenRequest('{not json', { 'content-type': 'application/json' });
    expect(garbage.statusCode).toBe(400);
    expect(garbage.json<OAuthErrorBody>().error).toBe('invalid_request');
  });

  it('stops issuing to a revoked client', async () => {
    const c = await makeClient(t, ['orders:read']);
    await t.auth.ctx.clients.revoke(c.clientId);
    const res = await tokenRequest({ grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret });
    expect(res.statusCode).toBe(401);
    expect(res.json<OAuthErrorBody>().error).toBe('invalid_client');
  });

  it('audits issuance and failures without secrets', async () => {
    const c = await makeClient(t, ['orders:read']);
    await tokenRequest({ grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret });
    await tokenRequest({ grant_type: 'client_credentials', client_id: c.clientId, client_secret: 'wrong-secret-value' });
    // Failures are aggregated: one `auth_failures` event per tenant/address/actor per window.
    await t.auth.ctx.failures.flush();
    const events = await readAudit(t.nc, c.tenant);
    const issued = events.find((e) => e.event === 'token_issued');
    const failed = events.find((e) => e.event === 'auth_failures');
    expect(issued).toMatchObject({ clientId: c.clientId, scope: 'orders:read', tenant: c.tenant });
    expect(failed).toMatchObject({
      aggregated: true,
      source: '127.0.0.1',
      tenant: c.tenant,
      actor: { type: 'anonymous' },
      count: 1,
      reasons: { bad_secret: 1 },
      samples: [c.clientId],
    });
    const raw = JSON.stringify(events);
    expect(raw).not.toContain(c.clientSecret);
    expect(raw).not.toContain('wrong-secret-value');
    expect(raw).not.toContain('eyJ');
  });

  it('counts issued tokens and failures in metrics', async () => {
    const text = await t.auth.metrics.text();
    expect(text).toMatch(/orderwire_auth_tokens_issued_total\{[^}]*kind="client"[^}]*\} [1-9]/);
    expect(text).toMatch(/orderwire_auth_failures_total\{[^}]*reason="bad_secret"[^}]*\} [1-9]/);
    expect(text).toMatch(/orderwire_auth_failures_total\{[^}]*reason="unknown_client"[^}]*\} [1-9]/);
  });
});
