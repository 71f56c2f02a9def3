import { jetstreamManager, type ConsumerInfo, type JetStreamManager } from '@nats-io/jetstream';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISPLAY_AUDIENCE, SIGNALS, displayConsumerName, displayRegistryKey, type DisplayRecord } from '@orderwire/contracts';
import { KV_BUCKETS, listOrderStreams } from '@orderwire/platform';
import { Kvm } from '@nats-io/kv';
import { nanos } from '@nats-io/nats-core';
import { waitFor } from '@orderwire/test-harness';
import type { DisplayRevokedSignal } from '../src/revocation.js';
import {
  clientToken,
  decodeJwt,
  enroll,
  enrolledDisplay,
  makeClient,
  newDisplayId,
  readAudit,
  refresh,
  registerDisplay,
  startAuth,
  startInfra,
  type ErrorBody,
  type Infra,
  type TestAuth,
} from './helpers.js';

let infra: Infra;
let t: TestAuth;
let operator: { tenant: string; clientId: string; clientSecret: string };
let opToken: string;

beforeAll(async () => {
  infra = await startInfra();
  t = await startAuth(infra, { AUTH_ENROLLMENT_TTL: '1500ms' });
  operator = await makeClient(t, ['displays:manage', 'dlq:read']);
  opToken = await clientToken(t, operator);
});

afterAll(async () => {
  await t?.close();
  await infra?.dispose();
});

/** A display mailbox's info, on whichever order stream holds it (its store's partition). */
async function mailboxInfo(jsm: JetStreamManager, name: string): Promise<ConsumerInfo> {
  for (const stream of await listOrderStreams(jsm)) {
    const info = await jsm.consumers.info(stream, name).catch(() => undefined);
    if (info !== undefined) return info;
  }
  throw new Error(`consumer not found: ${name}`);
}

async function consumerExists(tenant: string, displayId: string): Promise<boolean> {
  const jsm = await jetstreamManager(t.nc);
  try {
    await mailboxInfo(jsm, displayConsumerName(tenant, displayId));
    return true;
  } catch {
    return false;
  }
}

/** Subscribes to revocation signals of one display; returns what arrived so far. */
function collectSignals(tenant: string, displayId: string): { signals: DisplayRevokedSignal[]; stop(): void } {
  const signals: DisplayRevokedSignal[] = [];
  const sub = t.nc.subscribe(SIGNALS.displayRevoked(tenant, displayId), {
    callback: (_err, msg) => {
      signals.push(msg.json<DisplayRevokedSignal>());
    },
  });
  return { signals, stop: () => sub.unsubscribe() };
}

describe('display registration', () => {
  it('registers a display: 201 with a one-time code, a registry record and a mailbox consumer', async () => {
    const displayId = newDisplayId();
    const res = await registerDisplay(t, opToken, { displayId, storeId: 'store-9', stations: ['grill'], label: 'Kitchen 1' });
    expect(res.statusCode).toBe(201);
    expect(res.json).toMatchObject({ displayId, expiresIn: 1 });
    const code = res.json.enrollmentCode as string;
    // 160 bits of Crockford base32 in groups of four.
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$/);

    const kv = await new Kvm(t.nc).open(KV_BUCKETS.DISPLAYS);
    const record = (await kv.get(displayRegistryKey(operator.tenant, displayId)))!.json<DisplayRecord>();
    expect(record).toMatchObject({
      v: 1,
      tenant: operator.tenant,
      displayId,
      storeId: 'store-9',
      stations: ['grill'],
      status: 'registered',
      consumer: displayConsumerName(operator.tenant, displayId),
      label: 'Kitchen 1',
    });
    expect(await consumerExists(operator.tenant, displayId)).toBe(true);

    // The code itself is stored only as a hash.
    const enrollments = await new Kvm(t.nc).open(KV_BUCKETS.ENROLLMENTS);
    const keys: string[] = [];
    for await (const k of await enrollments.keys()) keys.push(k);
    for (const k of keys) {
      const raw = (await enrollments.get(k))?.string() ?? '';
      expect(raw).not.toContain(code);
      expect(raw).not.toContain(code.replace(/-/g, ''));
    }
  });

  it('creates the consumer with the configured ack wait, limits and backoff, and re-registration applies new values', async () => {
    const displayId = newDisplayId();
    const jsm = await jetstreamManager(t.nc);
    const name = displayConsumerName(operator.tenant, displayId);
    const first = await startAuth(infra, { AUTH_CONSUMER_ACK_WAIT: '7s', AUTH_CONSUMER_MAX_ACK_PENDING: '9', AUTH_CONSUMER_MAX_DELIVER: '11' });
    try {
      expect((await registerDisplay(first, opToken, { displayId })).statusCode).toBe(201);
    } finally {
      await first.close();
    }
    expect((await mailboxInfo(jsm, name)).config).toMatchObject({ ack_wait: nanos(7_000), max_ack_pending: 9, max_deliver: 11 });

    const second = await startAuth(infra, { AUTH_CONSUMER_BACKOFF: '3s,30s', AUTH_CONSUMER_MAX_DELIVER: '6' });
    try {
      expect((await registerDisplay(second, opToken, { displayId }, '?reissue=true')).statusCode).toBe(201);
    } finally {
      await second.close();
    }
    const updated = (await mailboxInfo(jsm, name)).config;
    expect(updated).toMatchObject({ ack_wait: nanos(3_000), max_ack_pending: 256, max_deliver: 6, backoff: [nanos(3_000), nanos(30_000)] });
  });

  it('answers 409 for an existing display unless ?reissue=true, which invalidates the old code', async () => {
    const displayId = newDisplayId();
    const first = await registerDisplay(t, opToken, { displayId });
    const again = await registerDisplay(t, opToken, { displayId });
    expect(again.statusCode).toBe(409);
    expect((again.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_DISPLAY_EXISTS');
    const reissued = await registerDisplay(t, opToken, { displayId }, '?reissue=true');
    expect(reissued.statusCode).toBe(201);
    expect(reissued.json.enrollmentCode).not.toBe(first.json.enrollmentCode);
    const old = await enroll(t, first.json.enrollmentCode as string);
    expect(old.statusCode).toBe(400);
    expect((old.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_ENROLLMENT_INVALID');
    expect((await enroll(t, reissued.json.enrollmentCode as string)).statusCode).toBe(200);
  });

  it('lists and reads displays of the caller’s tenant only', async () => {
    const displayId = newDisplayId();
    await registerDisplay(t, opToken, { displayId });
    const other = await makeClient(t, ['displays:manage']);
    const otherToken = await clientToken(t, other);

    const list = await t.auth.app.inject({ method: 'GET', url: '/v1/displays', headers: { authorization: `Bearer ${opToken}` } });
    expect(list.statusCode).toBe(200);
    expect(list.json<{ displays: DisplayRecord[] }>().displays.map((d) => d.displayId)).toContain(displayId);
    const one = await t.auth.app.inject({ method: 'GET', url: `/v1/displays/${displayId}`, headers: { authorization: `Bearer ${opToken}` } });
    expect(one.json()).toMatchObject({ displayId, tenant: operator.tenant });

    const foreign = await t.auth.app.inject({
      method: 'GET',
      url: `/v1/displays/${displayId}`,
      headers: { authorization: `Bearer ${otherToken}` },
    });
    expect(foreign.statusCode).toBe(404);
    const otherList = await t.auth.app.inject({ method: 'GET', url: '/v1/displays', headers: { authorization: `Bearer ${otherToken}` } });
    expect(otherList.json<{ displays: DisplayRecord[] }>().displays).toEqual([]);
  });

  it('requires a bearer token with displays:manage', async () => {
    const none = await t.auth.app.inject({ method: 'POST', url: '/v1/displays', payload: { displayId: 'x', storeId: 's', stations: ['a'] } });
    expect(none.statusCode).toBe(401);
    expect(none.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_AUTH_UNAUTHENTICATED');
    const upstream = await makeClient(t, ['orders:write']);
    const res = await registerDisplay(t, await clientToken(t, upstream), { displayId: newDisplayId() });
    expect(res.statusCode).toBe(403);
    expect((res.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_FORBIDDEN');
    const tampered = `${opToken.slice(0, -4)}AAAA`;
    const bad = await registerDisplay(t, tampered, { displayId: newDisplayId() });
    expect(bad.statusCode).toBe(401);
    expect((bad.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_INVALID_TOKEN');
  });

  it('rejects invalid bodies with the error shape and field details', async () => {
    const cases = [
      { displayId: 'bad.id', storeId: 's', stations: ['a'] },
      { displayId: 'ok', storeId: 's', stations: [] },
      { displayId: 'ok', storeId: 's', stations: Array.from({ length: 21 }, (_, i) => `st${i}`) },
      { displayId: 'ok', storeId: 'store>', stations: ['a'] },
      { storeId: 's', stations: ['a'] },
    ];
    for (const payload of cases) {
      const res = await t.auth.app.inject({
        method: 'POST',
        url: '/v1/displays',
        headers: { authorization: `Bearer ${opToken}` },
        payload,
      });
      expect(res.statusCode).toBe(400);
      const body = res.json<ErrorBody>();
      expect(body.error.code).toBe('ORDERWIRE_ERR_VALIDATION');
      expect(typeof body.error.message).toBe('string');
      expect(Array.isArray(body.error.details?.issues)).toBe(true);
    }
    const enrollBad = await t.auth.app.inject({ method: 'POST', url: '/v1/displays/enroll', payload: {} });
    expect(enrollBad.statusCode).toBe(400);
    expect(enrollBad.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_VALIDATION');
    const refreshBad = await t.auth.app.inject({ method: 'POST', url: '/v1/token/refresh', payload: { refreshToken: { nested: true } } });
    expect(refreshBad.statusCode).toBe(400);
    expect(refreshBad.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_VALIDATION');
  });
});

describe('enrollment and refresh', () => {
  it('register → enroll → refresh → refresh: each step yields working, rotated tokens', async () => {
    const displayId = newDisplayId();
    const reg = await registerDisplay(t, opToken, { displayId, stations: ['grill', 'bar'] });
    const en = await enroll(t, (reg.json.enrollmentCode as string).toLowerCase()); // codes are case-insensitive
    expect(en.statusCode).toBe(200);
    expect(en.json).toMatchObject({ displayId, expiresIn: 900, refreshExpiresIn: 30 * 24 * 3600 });

    const jwks = createLocalJWKSet({ keys: t.auth.ctx.keys.jwks().keys });
    const { payload } = await jwtVerify(en.json.accessToken as string, jwks, {
      issuer: 'orderwire-auth',
      audience: DISPLAY_AUDIENCE,
      algorithms: ['ES256'],
    });
    expect(payload).toMatchObject({ typ: 'display', sub: displayId, tid: operator.tenant, sid: 'store-1', stn: ['grill', 'bar'] });
    const fam = payload.fam as string;
    expect((en.json.refreshToken as string).startsWith(`${fam}.`)).toBe(true);

    const r1 = await refresh(t, en.json.refreshToken as string);
    expect(r1.statusCode).toBe(200);
    expect(r1.json.refreshToken).not.toBe(en.json.refreshToken);
    expect(decodeJwt(r1.json.accessToken as string).fam).toBe(fam);
    const r2 = await refresh(t, r1.json.refreshToken as string);
    expect(r2.statusCode).toBe(200);
    expect(r2.json.refreshExpiresIn as number).toBeLessThanOrEqual(30 * 24 * 3600);

    const display = await t.auth.app.inject({ method: 'GET', url: `/v1/displays/${displayId}`, headers: { authorization: `Bearer ${opToken}` } });
    expect(display.json<DisplayRecord>().status).toBe('enrolled');
    expect(display.json<DisplayRecord>().enrolledAt).toBeTypeOf('string');

    // Refresh tokens are stored only as hashes.
    const kv = await new Kvm(t.nc).open(KV_BUCKETS.REFRESH_TOKENS);
    const raw = (await kv.get(`f.${fam}`))!.string();
    for (const tok of [en.json.refreshToken, r1.json.refreshToken, r2.json.refreshToken] as string[]) {
      expect(raw).not.toContain(tok.split('.')[1]);
    }
    const audit = await readAudit(t.nc, operator.tenant);
    expect(audit.filter((e) => e.displayId === displayId).map((e) => e.event)).toEqual(
      expect.arrayContaining(['display_registered', 'enrolled', 'refreshed']),
    );
  });

  it('a code works exactly once, even when redeemed concurrently', async () => {
    const reg = await registerDisplay(t, opToken, { displayId: newDisplayId() });
    const code = reg.json.enrollmentCode as string;
    const results = await Promise.all(Array.from({ length: 5 }, () => enroll(t, code)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    for (const r of results.filter((x) => x.statusCode !== 200)) {
      expect(r.statusCode).toBe(400);
      expect((r.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_ENROLLMENT_USED');
    }
    const later = await enroll(t, code);
    expect((later.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_ENROLLMENT_USED');
  });

  it('an expired code is refused with a clear code; an unknown one too', async () => {
    const reg = await registerDisplay(t, opToken, { displayId: newDisplayId() });
    await new Promise((r) => setTimeout(r, 1_700));
    const res = await enroll(t, reg.json.enrollmentCode as string);
    expect(res.statusCode).toBe(400);
    expect((res.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_ENROLLMENT_EXPIRED');
    const unknown = await enroll(t, 'AAAA-BBBB-CCCC-DDDD');
    expect((unknown.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_ENROLLMENT_INVALID');
  });

  it('reuse of a spent refresh token revokes the family, signals the edges and is audited', async () => {
    const en = await enrolledDisplay(t, opToken);
    const fam = decodeJwt(en.accessToken).fam as string;
    const sig = collectSignals(operator.tenant, en.displayId);
    try {
      const r1 = await refresh(t, en.refreshToken);
      expect(r1.statusCode).toBe(200);
      // The display uses its new token, so the first one is no longer eligible for the retry grace.
      const r2 = await refresh(t, r1.json.refreshToken as string);
      expect(r2.statusCode).toBe(200);
      // A thief replays the first token:
      const replay = await refresh(t, en.refreshToken);
      expect(replay.statusCode).toBe(401);
      expect((replay.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REUSED');
      // …and the legitimate newest token is dead too.
      const newest = await refresh(t, r2.json.refreshToken as string);
      expect(newest.statusCode).toBe(401);
      expect((newest.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');

      await waitFor(() => sig.signals.length > 0, { timeoutMs: 2_000, message: 'revocation signal' });
      expect(sig.signals[0]).toMatchObject({ tenant: operator.tenant, displayId: en.displayId, familyId: fam, reason: 'token_revoked' });
    } finally {
      sig.stop();
    }
    const audit = (await readAudit(t.nc, operator.tenant)).filter((e) => e.familyId === fam);
    expect(audit.map((e) => e.event)).toEqual(expect.arrayContaining(['refresh_reuse_detected', 'revoked']));
    expect(audit.find((e) => e.event === 'revoked')?.reason).toBe('reuse_detected');
    const text = await t.auth.metrics.text();
    expect(text).toMatch(/orderwire_auth_refresh_reuse_detected_total\{[^}]*\} [1-9]/);
    expect(text).toMatch(/orderwire_auth_revocations_total\{[^}]*reason="reuse_detected"[^}]*\} [1-9]/);
  });

  it('concurrent refreshes with the same token: exactly one succeeds (strict reuse policy)', async () => {
    const en = await enrolledDisplay(t, opToken);
    const results = await Promise.all(Array.from({ length: 4 }, () => refresh(t, en.refreshToken)));
    const ok = results.filter((r) => r.statusCode === 200);
    expect(ok).toHaveLength(1);
    for (const r of results.filter((x) => x.statusCode !== 200)) {
      expect(r.statusCode).toBe(401);
      expect(['ORDERWIRE_ERR_AUTH_REFRESH_REUSED', 'ORDERWIRE_ERR_AUTH_REFRESH_REVOKED']).toContain((r.json.error as { code: string }).code);
    }
  });

  it('a garbage or forged token with a real family id revokes nothing', async () => {
    const en = await enrolledDisplay(t, opToken);
    const fam = en.refreshToken.split('.')[0]!;
    const forged = await refresh(t, `${fam}.${'A'.repeat(43)}`);
    expect(forged.statusCode).toBe(401);
    expect((forged.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_REFRESH_INVALID');
    expect((await refresh(t, 'not-a-token')).statusCode).toBe(401);
    expect((await refresh(t, en.refreshToken)).statusCode).toBe(200);
  });

  it('POST /v1/token/revoke revokes the family (and answers 200 for unknown tokens)', async () => {
    const en = await enrolledDisplay(t, opToken);
    const sig = collectSignals(operator.tenant, en.displayId);
    try {
      const res = await t.auth.app.inject({ method: 'POST', url: '/v1/token/revoke', payload: { refreshToken: en.refreshToken } });
      expect(res.statusCode).toBe(200);
      const after = await refresh(t, en.refreshToken);
      expect((after.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
      await waitFor(() => sig.signals.length > 0, { timeoutMs: 2_000 });
      expect(sig.signals[0]!.reason).toBe('token_revoked');
    } finally {
      sig.stop();
    }
    const unknown = await t.auth.app.inject({ method: 'POST', url: '/v1/token/revoke', payload: { refreshToken: 'whatever.token' } });
    expect(unknown.statusCode).toBe(200);
  });

  it('re-enrolling a display supersedes its earlier family', async () => {
    const displayId = newDisplayId();
    const first = await enrolledDisplay(t, opToken, displayId);
    // Only the first code of a display never registered before is marked as having no families.
    expect((await t.auth.ctx.enrollments.forDisplay(operator.tenant, displayId))?.value.firstCode).toBe(true);
    const reg = await registerDisplay(t, opToken, { displayId }, '?reissue=true');
    expect((await enroll(t, reg.json.enrollmentCode as string)).statusCode).toBe(200);
    const old = await refresh(t, first.refreshToken);
    expect((old.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
  });
});

describe('decommission', () => {
  it('revokes every family, deletes the consumer, marks the record, signals and audits', async () => {
    const en = await enrolledDisplay(t, opToken);
    expect(await consumerExists(operator.tenant, en.displayId)).toBe(true);
    const sig = collectSignals(operator.tenant, en.displayId);
    try {
      const res = await t.auth.app.inject({
        method: 'DELETE',
        url: `/v1/displays/${en.displayId}`,
        headers: { authorization: `Bearer ${opToken}` },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ displayId: en.displayId, status: 'decommissioned', revokedFamilies: 1, consumerDeleted: true });
      await waitFor(() => sig.signals.some((s) => s.reason === 'display_decommissioned'), { timeoutMs: 2_000 });
    } finally {
      sig.stop();
    }
    expect(await consumerExists(operator.tenant, en.displayId)).toBe(false);
    const after = await refresh(t, en.refreshToken);
    expect(after.statusCode).toBe(401);
    expect((after.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
    const rec = await t.auth.app.inject({ method: 'GET', url: `/v1/displays/${en.displayId}`, headers: { authorization: `Bearer ${opToken}` } });
    expect(rec.json<DisplayRecord>().status).toBe('decommissioned');
    expect(rec.json<DisplayRecord>().decommissionedAt).toBeTypeOf('string');
    const audit = await readAudit(t.nc, operator.tenant);
    expect(audit.find((e) => e.event === 'display_decommissioned' && e.displayId === en.displayId)).toBeDefined();

    // Idempotent, and 404 for displays that never existed.
    const again = await t.auth.app.inject({ method: 'DELETE', url: `/v1/displays/${en.displayId}`, headers: { authorization: `Bearer ${opToken}` } });
    expect(again.statusCode).toBe(200);
    const missing = await t.auth.app.inject({ method: 'DELETE', url: '/v1/displays/nope', headers: { authorization: `Bearer ${opToken}` } });
    expect(missing.statusCode).toBe(404);
    expect(missing.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_AUTH_DISPLAY_NOT_FOUND');
  });

  it('a display registered again after a decommission that stopped half-way: enrolling it still supersedes the family left active', async () => {
    const en = await enrolledDisplay(t, opToken);
    // The decommission's first step only (registry flipped), as if the process died before revoking.
    await t.auth.ctx.displays.mutate(operator.tenant, en.displayId, (cur) => ({ ...cur, status: 'decommissioned' }));
    const reg = await registerDisplay(t, opToken, { displayId: en.displayId });
    expect(reg.statusCode).toBe(201);
    // Not the code of a display never registered before: redeeming it lists the display's families.
    const pending = await t.auth.ctx.enrollments.forDisplay(operator.tenant, en.displayId);
    expect(pending?.value.firstCode).toBeUndefined();
    expect((await enroll(t, reg.json.enrollmentCode as string)).statusCode).toBe(200);
    const old = await refresh(t, en.refreshToken);
    expect((old.json.error as { code: string }).code).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
  });

  it('a decommissioned display can be registered again with a fresh mailbox', async () => {
    const en = await enrolledDisplay(t, opToken);
    await t.auth.app.inject({ method: 'DELETE', url: `/v1/displays/${en.displayId}`, headers: { authorization: `Bearer ${opToken}` } });
    const reg = await registerDisplay(t, opToken, { displayId: en.displayId });
    expect(reg.statusCode).toBe(201);
    expect(await consumerExists(operator.tenant, en.displayId)).toBe(true);
  });
});
