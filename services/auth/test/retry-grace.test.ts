/**
 * The refresh retry grace (AUTH_REFRESH_RETRY_GRACE): a display whose refresh response was lost
 * may present its previous token once, shortly after the rotation, before anyone used the
 * successor. Everything else that presents a spent token is still reuse and revokes the family.
 * A "lost response" here is a refresh whose answer the test simply never hands to the display.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientToken,
  decodeJwt,
  enrolledDisplay,
  makeClient,
  readAudit,
  refresh,
  startAuth,
  startInfra,
  type EnrollResult,
  type Infra,
  type TestAuth,
} from './helpers.js';

let infra: Infra;
/** Default grace (30s). */
let t: TestAuth;
/** A second replica with the default grace, on the same NATS (shares the family records). */
let t2: TestAuth;
/** Grace 1s. */
let short: TestAuth;
/** Grace 0: today's strict policy. */
let strict: TestAuth;

beforeAll(async () => {
  infra = await startInfra();
  t = await startAuth(infra);
  t2 = await startAuth(infra);
  short = await startAuth(infra, { AUTH_REFRESH_RETRY_GRACE: '1s' });
  strict = await startAuth(infra, { AUTH_REFRESH_RETRY_GRACE: '0' });
});

afterAll(async () => {
  await strict?.close();
  await short?.close();
  await t2?.close();
  await t?.close();
  await infra?.dispose();
});

/** The display's retry after a lost response comes at least a network round trip later. */
const RETRY_DELAY_MS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Answer = Awaited<ReturnType<typeof refresh>>;
const code = (r: Answer): string | undefined => (r.json.error as { code: string } | undefined)?.code;
const refreshToken = (r: Answer): string => r.json.refreshToken as string;

async function enrolledOn(a: TestAuth): Promise<{ tenant: string; en: EnrollResult; familyId: string }> {
  const op = await makeClient(a, ['displays:manage']);
  const en = await enrolledDisplay(a, await clientToken(a, op));
  return { tenant: op.tenant, en, familyId: decodeJwt(en.accessToken).fam as string };
}

/** Refreshes once and drops the answer, as flaky Wi-Fi does; returns the token the display never saw. */
async function refreshLost(a: TestAuth, token: string): Promise<string> {
  const lost = await refresh(a, token);
  expect(lost.statusCode).toBe(200);
  await sleep(RETRY_DELAY_MS);
  return refreshToken(lost);
}

async function familyAudit(a: TestAuth, tenant: string, familyId: string) {
  return (await readAudit(a.nc, tenant)).filter((e) => e.familyId === familyId);
}

describe('refresh retry grace', () => {
  it('lost response: the retry with the old token succeeds once, both older tokens die, the new one works', async () => {
    const { tenant, en, familyId } = await enrolledOn(t);
    const lost = await refreshLost(t, en.refreshToken);

    const retry = await refresh(t, en.refreshToken);
    expect(retry.statusCode).toBe(200);
    expect(refreshToken(retry)).not.toBe(lost);
    expect(refreshToken(retry).startsWith(`${familyId}.`)).toBe(true);
    expect(decodeJwt(retry.json.accessToken as string)).toMatchObject({ sub: en.displayId, fam: familyId });

    const fam = (await t.auth.ctx.families.get(familyId))!.value;
    expect(fam).toMatchObject({ status: 'active', generation: 3, rotation: 'retry_grace' });

    // The new pair is the live one: it refreshes normally.
    const next = await refresh(t, refreshToken(retry));
    expect(next.statusCode).toBe(200);

    const events = await familyAudit(t, tenant, familyId);
    const grace = events.filter((e) => e.event === 'refresh_retry_grace');
    expect(grace).toHaveLength(1);
    expect(grace[0]).toMatchObject({
      displayId: en.displayId,
      actor: { type: 'display', id: en.displayId },
      details: { generation: 3, presentedGeneration: 1, lostGeneration: 2 },
    });
    const raw = JSON.stringify(events);
    for (const tok of [en.refreshToken, lost, refreshToken(retry), refreshToken(next)]) expect(raw).not.toContain(tok.split('.')[1]);
    expect(await t.auth.metrics.text()).toMatch(/orderwire_auth_refresh_total\{[^}]*outcome="retry_grace"[^}]*\} [1-9]/);

    // The token of the lost response died with the grace rotation.
    const stale = await refresh(t, lost);
    expect(code(stale)).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REUSED');
    expect(code(await refresh(t, refreshToken(next)))).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
  });

  it('the lost token is dead as soon as the grace retry happened (no grace for it)', async () => {
    const { tenant, en, familyId } = await enrolledOn(t);
    const lost = await refreshLost(t, en.refreshToken);
    const retry = await refresh(t, en.refreshToken);
    expect(retry.statusCode).toBe(200);

    const stale = await refresh(t, lost);
    expect(stale.statusCode).toBe(401);
    expect(code(stale)).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REUSED');
    expect(code(await refresh(t, refreshToken(retry)))).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
    const reuse = (await familyAudit(t, tenant, familyId)).find((e) => e.event === 'refresh_reuse_detected');
    expect(reuse?.details).toMatchObject({ presentedGeneration: 2, retryGrace: 'already_used' });
  });

  it('a second retry with the same old token is reuse: the family is revoked, the newest token too', async () => {
    const { tenant, en, familyId } = await enrolledOn(t);
    await refreshLost(t, en.refreshToken);
    const retry = await refresh(t, en.refreshToken);
    expect(retry.statusCode).toBe(200);

    const again = await refresh(t, en.refreshToken);
    expect(again.statusCode).toBe(401);
    expect(code(again)).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REUSED');
    expect(code(await refresh(t, refreshToken(retry)))).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');

    expect((await t.auth.ctx.families.get(familyId))!.value).toMatchObject({ status: 'revoked', revokeReason: 'reuse_detected' });
    const events = await familyAudit(t, tenant, familyId);
    expect(events.find((e) => e.event === 'refresh_reuse_detected')?.details).toMatchObject({
      generation: 3,
      presentedGeneration: 1,
      retryGrace: 'not_previous',
    });
    expect(events.find((e) => e.event === 'revoked')?.reason).toBe('reuse_detected');
  });

  it('a retry after the successor was used is reuse', async () => {
    const { tenant, en, familyId } = await enrolledOn(t);
    const r1 = await refresh(t, en.refreshToken);
    const r2 = await refresh(t, refreshToken(r1));
    expect(r2.statusCode).toBe(200);

    const late = await refresh(t, en.refreshToken);
    expect(code(late)).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REUSED');
    expect(code(await refresh(t, refreshToken(r2)))).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
    const reuse = (await familyAudit(t, tenant, familyId)).find((e) => e.event === 'refresh_reuse_detected');
    expect(reuse?.details).toMatchObject({ presentedGeneration: 1, retryGrace: 'not_previous' });
  });

  it('a retry after the grace has passed is reuse (grace 1s)', async () => {
    // Within the grace this replica does grant it…
    const quick = await enrolledOn(short);
    await refreshLost(short, quick.en.refreshToken);
    expect((await refresh(short, quick.en.refreshToken)).statusCode).toBe(200);

    // …but not after it.
    const { tenant, en, familyId } = await enrolledOn(short);
    const lost = await refreshLost(short, en.refreshToken);
    await sleep(1_100);
    const late = await refresh(short, en.refreshToken);
    expect(late.statusCode).toBe(401);
    expect(code(late)).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REUSED');
    expect(code(await refresh(short, lost))).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
    const reuse = (await familyAudit(short, tenant, familyId)).find((e) => e.event === 'refresh_reuse_detected');
    expect(reuse?.details).toMatchObject({ presentedGeneration: 1, retryGrace: 'expired' });
  });

  it('grace 0 is the strict policy: the retry after a lost response revokes the family', async () => {
    const { tenant, en, familyId } = await enrolledOn(strict);
    const lost = await refreshLost(strict, en.refreshToken);
    const retry = await refresh(strict, en.refreshToken);
    expect(retry.statusCode).toBe(401);
    expect(code(retry)).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REUSED');
    expect(code(await refresh(strict, lost))).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
    const events = await familyAudit(strict, tenant, familyId);
    expect(events.find((e) => e.event === 'refresh_reuse_detected')?.details).toMatchObject({ retryGrace: 'disabled' });
    expect(events.some((e) => e.event === 'refresh_retry_grace')).toBe(false);
  });

  it('concurrent grace retries on two replicas: exactly one succeeds, the rest is reuse, one rotation', async () => {
    const { tenant, en, familyId } = await enrolledOn(t);
    const lost = await refreshLost(t, en.refreshToken);

    const results = await Promise.all([t, t2, t, t2, t, t2].map((a) => refresh(a, en.refreshToken)));
    const ok = results.filter((r) => r.statusCode === 200);
    expect(ok).toHaveLength(1);
    for (const r of results.filter((x) => x.statusCode !== 200)) {
      expect(r.statusCode).toBe(401);
      expect(['ORDERWIRE_ERR_AUTH_REFRESH_REUSED', 'ORDERWIRE_ERR_AUTH_REFRESH_REVOKED']).toContain(code(r));
    }

    // Exactly one grace rotation (1 → 2 lost → 3), then revoked by the duplicates: no live pair.
    expect((await t.auth.ctx.families.get(familyId))!.value).toMatchObject({
      status: 'revoked',
      generation: 3,
      rotation: 'retry_grace',
      revokeReason: 'reuse_detected',
    });
    for (const tok of [refreshToken(ok[0]!), lost, en.refreshToken]) {
      expect(code(await refresh(t2, tok))).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
    }
    const events = await familyAudit(t, tenant, familyId);
    expect(events.filter((e) => e.event === 'refresh_retry_grace')).toHaveLength(1);
    expect(events.filter((e) => e.event === 'revoked')).toHaveLength(1);
  });

  it('concurrent duplicates of the current token stay strict: one wins, the other is reuse, not a grace retry', async () => {
    const { tenant, en, familyId } = await enrolledOn(t);
    const results = await Promise.all([refresh(t, en.refreshToken), refresh(t2, en.refreshToken)]);
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    const loser = results.find((r) => r.statusCode !== 200)!;
    expect(code(loser)).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REUSED');
    expect((await t.auth.ctx.families.get(familyId))!.value).toMatchObject({ status: 'revoked', generation: 2 });
    const events = await familyAudit(t, tenant, familyId);
    expect(events.some((e) => e.event === 'refresh_retry_grace')).toBe(false);
    expect(events.find((e) => e.event === 'refresh_reuse_detected')?.details).toMatchObject({ retryGrace: 'concurrent' });
  });
});
