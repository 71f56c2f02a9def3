/**
 * Abuse controls of the auth service (issue 12, item 3): the display management routes are rate
 * limited per address before authentication, failed calls are audited in aggregate (not one
 * AUDIT event per request), and a tenant's display quota refuses the next registration with 429
 * while another tenant registers freely. Revoking a client writes the entry ingest and dlq watch.
 */
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KV_BUCKETS, type RevokedClientRecord } from '@orderwire/platform';
import { createTenant, parseQuota, revokeClient, updateTenantQuotas, type AdminContext } from '../src/admin.js';
import { clientToken, makeClient, newDisplayId, readAudit, registerDisplay, startAuth, startInfra, type ErrorBody, type Infra, type TestAuth } from './helpers.js';

/** Anonymous requests sent in the flood test. */
const FLOOD = 1_000;
/** AUTH_RATE_LIMIT_DISPLAYS_PER_IP in this suite. */
const PER_IP = 50;

let infra: Infra;
let t: TestAuth;

beforeAll(async () => {
  infra = await startInfra();
  t = await startAuth(infra, { AUTH_RATE_LIMIT_DISPLAYS_PER_IP: String(PER_IP), AUTH_TENANT_MAX_DISPLAYS: '3' });
});

afterAll(async () => {
  await t?.close();
  await infra?.dispose();
});

function admin(): AdminContext {
  const { config, tenants, clients, keys, audit, revokedClients } = t.auth.ctx;
  return { config, tenants, clients, keys, audit, revokedClients, operator: 'test' };
}

describe('anonymous flood on /v1/displays*', () => {
  it(`${FLOOD} anonymous requests from one address: 429 after ${PER_IP}, and at most 2 audit events (one per window; the run may straddle a window boundary)`, async () => {
    await t.auth.ctx.failures.flush(); // start from an empty window
    const statuses: number[] = [];
    const routes = ['/v1/displays', '/v1/displays/some-display'];
    for (let i = 0; i < FLOOD; i++) {
      const res = await t.auth.app.inject({
        method: i % 4 === 3 ? 'DELETE' : 'GET',
        url: routes[i % 2]!,
        remoteAddress: '203.0.113.7',
        headers: i % 2 === 0 ? {} : { authorization: 'Bearer forged.token.value' },
      });
      statuses.push(res.statusCode);
      if (res.statusCode === 429) {
        expect(res.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
        expect(res.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_AUTH_RATE_LIMITED');
      }
    }
    expect(statuses.slice(0, PER_IP).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(PER_IP).every((s) => s === 429)).toBe(true);

    await t.auth.ctx.failures.flush();
    const events = (await readAudit(t.nc, '_system')).filter((e) => e.event === 'auth_failures' && e.source === '203.0.113.7');
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.length).toBeLessThanOrEqual(2);
    const counted = events.reduce((n, e) => n + (e.count as number), 0);
    expect(counted).toBe(PER_IP);
    const reasons = events.reduce<Record<string, number>>((acc, e) => {
      for (const [r, n] of Object.entries(e.reasons as Record<string, number>)) acc[r] = (acc[r] ?? 0) + n;
      return acc;
    }, {});
    expect(reasons).toEqual({ missing_access_token: PER_IP / 2, invalid_access_token: PER_IP / 2 });
  });

  it('a flood from another address is counted on its own and does not throttle the first tenant’s operator', async () => {
    const op = await makeClient(t, ['displays:manage']);
    const token = await clientToken(t, op);
    const res = await t.auth.app.inject({ method: 'GET', url: '/v1/displays', remoteAddress: '198.51.100.9', headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(200);
  });
});

describe('display quota per tenant', () => {
  it('refuses the display past the quota with 429 while another tenant registers', async () => {
    const full = await makeClient(t, ['displays:manage']);
    const other = await makeClient(t, ['displays:manage']);
    const fullToken = await clientToken(t, full);
    const otherToken = await clientToken(t, other);
    for (let i = 0; i < 3; i++) expect((await registerDisplay(t, fullToken, { displayId: newDisplayId() })).statusCode).toBe(201);

    // The count comes from a watch of the registry: give it the moment a write takes to arrive.
    let refused = await registerDisplay(t, fullToken, { displayId: newDisplayId() });
    for (let i = 0; i < 20 && refused.statusCode === 201; i++) {
      await new Promise((r) => setTimeout(r, 50));
      refused = await registerDisplay(t, fullToken, { displayId: newDisplayId() });
    }
    expect(refused.statusCode).toBe(429);
    const body = refused.json as unknown as ErrorBody;
    expect(body.error.code).toBe('ORDERWIRE_ERR_AUTH_DISPLAY_QUOTA_EXCEEDED');
    expect(body.error.details).toMatchObject({ quota: 3 });

    expect((await registerDisplay(t, otherToken, { displayId: newDisplayId() })).statusCode).toBe(201);
  });

  it('a per-tenant override set with `tenant update` replaces the default; decommissioning frees a slot', async () => {
    const tenant = `quota${Date.now().toString(36)}`;
    await createTenant(admin(), tenant, undefined, { maxDisplays: 1 });
    const op = await makeClient(t, ['displays:manage'], tenant);
    const token = await clientToken(t, op);
    const first = newDisplayId();
    expect((await registerDisplay(t, token, { displayId: first })).statusCode).toBe(201);
    await new Promise((r) => setTimeout(r, 200));
    expect((await registerDisplay(t, token, { displayId: newDisplayId() })).statusCode).toBe(429);
    // Re-registering (reissue) the live display creates nothing and is not refused.
    expect((await registerDisplay(t, token, { displayId: first }, '?reissue=true')).statusCode).toBe(201);

    const updated = await updateTenantQuotas(admin(), tenant, { maxDisplays: 2 });
    expect(updated.quotas).toEqual({ maxDisplays: 2 });
    expect((await registerDisplay(t, token, { displayId: newDisplayId() })).statusCode).toBe(201);

    const cleared = await updateTenantQuotas(admin(), tenant, { maxDisplays: null });
    expect(cleared.quotas).toBeUndefined();
  });
});

describe('quota flags of the CLI', () => {
  it('accepts positive integers, "default" only where an override can be cleared, and names the bad flag', () => {
    expect(parseQuota('max-displays', '250', false)).toBe(250);
    expect(parseQuota('max-displays', undefined, true)).toBeUndefined();
    expect(parseQuota('orders-per-minute', 'default', true)).toBeNull();
    for (const bad of ['0', '-1', '1.5', '1e3', 'lots', '']) {
      expect(() => parseQuota('orders-per-minute', bad, true)).toThrow(/--orders-per-minute must be a positive integer/);
    }
    expect(() => parseQuota('max-displays', 'default', false)).toThrow(/--max-displays/);
  });

  it('refuses an update that changes nothing, and an unknown tenant', async () => {
    await expect(updateTenantQuotas(admin(), 'nobody-here', {})).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_AUTH_CLI_USAGE' });
    await expect(updateTenantQuotas(admin(), 'nobody-here', { maxDisplays: 3 })).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_AUTH_TENANT_NOT_FOUND' });
  });
});

describe('client revocation', () => {
  it('writes the revoked-clients entry that ingest and dlq watch', async () => {
    const c = await makeClient(t, ['orders:write']);
    await revokeClient(admin(), c.clientId);
    const kv = await new Kvm(t.nc).open(KV_BUCKETS.REVOKED_CLIENTS);
    const entry = await kv.get(c.clientId);
    expect(entry?.json<RevokedClientRecord>()).toMatchObject({ clientId: c.clientId, tenant: c.tenant });
    // Again: idempotent, and still written.
    await revokeClient(admin(), c.clientId);
    expect((await kv.get(c.clientId))?.operation).toBe('PUT');
  });
});
