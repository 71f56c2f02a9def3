/**
 * The token lifecycle across auth, edge, ingest and the display SDK, as real processes (issue 3).
 * Display access tokens live 4 s here, so the SDK refreshes every ~2 s and expiry is observable.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@orderwire/test-harness';
import {
  httpJson,
  makeOrder,
  metricValue,
  rawSocket,
  startStack,
  waitValue,
  type ClientCredentials,
  type DisplayEvent,
  type Stack,
  type TestDisplay,
} from '../src/stack.js';
import { readStream } from '../src/streams.js';

/** 4 s display access tokens: refreshed in band at ~2 s, expired at 4 s. */
const DISPLAY_TTL_S = 4;
/** How late after `exp` the edge may end an unrefreshed socket (timer + load on a 2-core box). */
const EXPIRY_SLACK_MS = 1_500;
/** "Within a second" for revocation, with room for a loaded CI box. */
const REVOCATION_BOUND_MS = 1_500;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    edges: 2,
    dlq: false,
    // The retry grace (a lost refresh response may be retried once) must fit in the token's life.
    env: { auth: { AUTH_DISPLAY_TOKEN_TTL: `${DISPLAY_TTL_S}s`, AUTH_REFRESH_RETRY_GRACE: '2s' } },
  });
});

afterAll(async () => {
  await stack?.dispose();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function eventsAfter(d: TestDisplay, at: number, type?: DisplayEvent['type']): DisplayEvent[] {
  return d.events.filter((e) => e.at >= at && (type === undefined || e.type === type));
}

/** Sum of a metric over every edge. */
async function edgeMetric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const scraped = await stack.scrape();
  return scraped.filter((s) => s.service === 'edge').reduce((sum, s) => sum + metricValue(s.text, name, labels), 0);
}

async function edgeFailures(): Promise<{ refreshes: number; handshakes: number }> {
  const scraped = (await stack.scrape()).filter((s) => s.service === 'edge');
  const sumNotOk = (name: string): number =>
    scraped.reduce((sum, s) => sum + metricValue(s.text, name) - metricValue(s.text, name, { outcome: 'ok' }), 0);
  return { refreshes: sumNotOk('orderwire_edge_token_refreshes_total'), handshakes: sumNotOk('orderwire_edge_handshakes_total') };
}

async function freshClientToken(scopes: string, client: ClientCredentials = stack.credentials.upstream): Promise<string> {
  const res = await httpJson<{ access_token: string }>('POST', `${stack.auth.url}/v1/oauth/token`, {
    body: { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret, scope: scopes },
  });
  expect(res.status).toBe(200);
  return res.body.access_token;
}

const kidOf = (jwt: string): string | undefined => decodeProtectedHeader(jwt).kid;
const latestAccess = (d: TestDisplay): string => d.tokenHistory.at(-1)!.accessToken;

describe('display token lifecycle', () => {
  it('register → enroll → connect → in-band refresh: the socket outlives its first token without reconnecting', async () => {
    const d = await stack.newDisplay({ displayId: 'lc-inband', storeId: 'st-lc', stations: ['grill'] });
    const socketId = d.socketId();
    expect(socketId).toBeDefined();
    const firstExp = decodeJwt(d.tokenHistory[0]!.accessToken).exp! * 1000;
    const refreshedOk0 = await edgeMetric('orderwire_edge_token_refreshes_total', { outcome: 'ok' });

    // Past the first token's expiry: only in-band refreshes can have kept this socket alive.
    await waitFor(() => Date.now() > firstExp + EXPIRY_SLACK_MS, { timeoutMs: (DISPLAY_TTL_S + 3) * 1000 });
    expect(d.tokenHistory.length, 'tokens rotated by the SDK').toBeGreaterThanOrEqual(3);
    expect(d.socketId(), 'same socket').toBe(socketId);
    expect(d.count('connected')).toBe(1);
    expect(d.count('disconnected')).toBe(0);
    expect(d.events.filter((e) => e.type === 'error')).toEqual([]);
    expect(await edgeMetric('orderwire_edge_token_refreshes_total', { outcome: 'ok' })).toBeGreaterThanOrEqual(refreshedOk0 + 2);

    const res = await stack.postOrder(makeOrder('lc-inband-1', 'st-lc', 'grill'));
    expect(res.status).toBe(202);
    await waitFor(() => d.shownIds().has('lc-inband-1'), { timeoutMs: 5_000, message: 'order shown on the refreshed socket' });
    expect(d.socketId()).toBe(socketId);
  });

  it('the edge ends a socket whose token expires unrefreshed, with token_expired', async () => {
    const code = await stack.registerDisplay({ displayId: 'lc-raw', storeId: 'st-raw', stations: ['grill'] });
    const { accessToken } = await stack.enroll(code);
    const exp = decodeJwt(accessToken).exp! * 1000;
    const raw = rawSocket(stack.edgeUrls[0]!, accessToken);
    try {
      await raw.connected;
      const end = await waitValue(() => raw.events.find((e) => e.type === 'session:end'), {
        timeoutMs: (DISPLAY_TTL_S + 3) * 1000,
        message: () => `session:end on the unrefreshed socket (events ${JSON.stringify(raw.events)})`,
      });
      expect(end.detail).toMatchObject({ reason: 'token_expired', reconnect: true });
      expect(end.at).toBeGreaterThanOrEqual(exp - 50);
      expect(end.at).toBeLessThanOrEqual(exp + EXPIRY_SLACK_MS);
      await waitFor(() => raw.events.some((e) => e.type === 'disconnect'), { timeoutMs: 2_000, message: 'disconnected' });
    } finally {
      raw.close();
    }
  });

  it('an SDK whose refresh could not happen in time is ended with token_expired and reconnects with a fresh token', async () => {
    const d = await stack.newDisplay({ displayId: 'lc-expire', storeId: 'st-lc2', stations: ['grill'] });
    const firstSocket = d.socketId();
    d.blockRefresh(true); // auth unreachable for this display: its token runs out on the live socket
    const blockedAt = Date.now();
    const ended = await waitValue(() => eventsAfter(d, blockedAt, 'session_end')[0], {
      timeoutMs: (DISPLAY_TTL_S + 3) * 1000,
      message: () => `session_end (events ${JSON.stringify(d.events.slice(-6))})`,
    });
    expect(ended).toMatchObject({ reason: 'token_expired', reconnect: true });
    await sleep(300);
    d.blockRefresh(false);

    await d.waitConnected({ timeoutMs: 10_000 });
    expect(d.socketId()).not.toBe(firstSocket);
    const reconnected = eventsAfter(d, ended.at, 'connected');
    expect(reconnected.length).toBeGreaterThanOrEqual(1);
    // The reconnect carried a token minted after the expiry, not the dead one.
    const fresh = latestAccess(d);
    expect(decodeJwt(fresh).iat! * 1000).toBeGreaterThanOrEqual(Math.floor(ended.at / 1000) * 1000);
    expect(eventsAfter(d, blockedAt, 'reenroll_required')).toEqual([]);

    const res = await stack.postOrder(makeOrder('lc-expire-1', 'st-lc2', 'grill'));
    expect(res.status).toBe(202);
    await waitFor(() => d.shownIds().has('lc-expire-1'), { timeoutMs: 5_000, message: 'order shown after the reconnect' });
  });

  it('100 concurrent SDK callers cause exactly one refresh', async () => {
    const d = await stack.newDisplay({ displayId: 'lc-single', storeId: 'st-single', stations: ['grill'] });
    // Start right after a proactive refresh, so the next one is ~2 s away.
    const tokensSoFar = d.count('tokens');
    await waitFor(() => d.count('tokens') > tokensSoFar, { timeoutMs: (DISPLAY_TTL_S + 2) * 1000 });
    const calls0 = d.refreshCalls();
    const audit0 = (await refreshAudits('lc-single')).length;
    const socketId = d.socketId();

    const results = await Promise.all(Array.from({ length: 100 }, () => d.tokens.refresh()));

    expect(d.refreshCalls() - calls0, 'HTTP refreshes').toBe(1);
    expect(new Set(results.map((r) => JSON.stringify(r))).size, 'every caller got the same result').toBe(1);
    await waitFor(async () => (await refreshAudits('lc-single')).length === audit0 + 1, {
      timeoutMs: 3_000,
      message: 'one refreshed audit event',
    });
    const reuse = await readStream<{ displayId?: string }>(stack.nats.url, 'AUDIT', `audit.${stack.tenant}.refresh_reuse_detected`);
    expect(reuse.filter((e) => e.displayId === 'lc-single')).toEqual([]);
    // The new token went in band to the live socket.
    await sleep(300);
    expect(d.socketId()).toBe(socketId);
    expect(d.count('disconnected')).toBe(0);
  });

  it('key rotation while displays stay connected: no disconnect, no failed verification, new keys verify at ingest and edge', async () => {
    const [e1, e2] = stack.edgeUrls as [string, string];
    const a = await stack.newDisplay({ displayId: 'lc-rot-a', storeId: 'st-rot', stations: ['grill'], edgeUrls: [e1, e2] });
    const b = await stack.newDisplay({ displayId: 'lc-rot-b', storeId: 'st-rot', stations: ['grill'], edgeUrls: [e2, e1] });
    const sockets = [a.socketId(), b.socketId()];
    const oldKid = kidOf(latestAccess(a));
    const failures0 = await edgeFailures();
    const since = Date.now();

    const rotated = await stack.authCli(['keys', 'rotate']);
    expect(rotated).toBeDefined();
    const jwks = await httpJson<{ keys: { kid: string }[] }>('GET', `${stack.auth.url}/.well-known/jwks.json`);
    expect(jwks.body.keys.map((k) => k.kid)).toContain(oldKid);

    // Both displays move to tokens signed by the new key through in-band refresh...
    await waitFor(() => kidOf(latestAccess(a)) !== oldKid && kidOf(latestAccess(b)) !== oldKid, {
      timeoutMs: (DISPLAY_TTL_S + 4) * 1000,
      message: 'display tokens signed with the new key',
    });
    const newKid = kidOf(latestAccess(a))!;
    expect(jwks.body.keys.map((k) => k.kid), 'the new key was published before it signed').toContain(newKid);
    // ...and keep refreshing past the old tokens' lifetime on the same sockets.
    await sleep((DISPLAY_TTL_S + 1) * 1000);
    for (const d of [a, b]) {
      expect(eventsAfter(d, since).filter((e) => e.type !== 'tokens'), `${d.displayId}: no disconnect or error`).toEqual([]);
    }
    expect([a.socketId(), b.socketId()]).toEqual(sockets);

    // A client token from the new key is accepted by ingest; a display enrolled now connects.
    const clientToken = await freshClientToken('orders:write');
    expect(kidOf(clientToken)).toBe(newKid);
    const c = await stack.newDisplay({ displayId: 'lc-rot-c', storeId: 'st-rot', stations: ['grill'], edgeUrls: [e1] });
    expect(kidOf(latestAccess(c))).toBe(newKid);
    const res = await stack.postOrder(makeOrder('lc-rot-1', 'st-rot', 'grill'), { token: clientToken });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await waitFor(() => [a, b, c].every((d) => d.shownIds().has('lc-rot-1')), { timeoutMs: 5_000, message: 'shown on all three' });

    const failures = await edgeFailures();
    expect(failures, 'refused refreshes / handshakes at the edges during rotation').toEqual(failures0);
  });

  it('reusing a spent refresh token revokes the family and disconnects the live socket within a second', async () => {
    const d = await stack.newDisplay({ displayId: 'lc-reuse', storeId: 'st-reuse', stations: ['grill'] });
    // Two rotations: the enrollment's refresh token is then two generations old — reuse, beyond
    // the retry grace that only the immediately previous token of a lost response gets.
    await waitFor(() => d.tokenHistory.length >= 3, { timeoutMs: (DISPLAY_TTL_S * 2 + 2) * 1000, message: 'two rotations' });
    const spent = d.tokenHistory[0]!.refreshToken;

    const at = Date.now();
    const res = await httpJson<{ error: { code: string } }>('POST', `${stack.auth.url}/v1/token/refresh`, { body: { refreshToken: spent } });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REUSED');

    const ended = await waitValue(() => eventsAfter(d, at, 'session_end')[0], {
      timeoutMs: 5_000,
      message: () => `session_end after reuse (events ${JSON.stringify(d.events.slice(-6))})`,
    });
    expect(ended).toMatchObject({ reason: 'token_revoked', reconnect: false });
    expect(ended.at - at, 'ms from reuse to disconnect').toBeLessThanOrEqual(REVOCATION_BOUND_MS);
    await waitFor(() => eventsAfter(d, at, 'reenroll_required').some((e) => e.type === 'reenroll_required' && e.source === 'client'), {
      timeoutMs: 5_000,
      message: () => `reenroll_required (events ${JSON.stringify(d.events.slice(-6))})`,
    });
    expect(d.client.state).toBe('stopped');

    // The newest token of the family is dead too, and the access token no longer opens a socket.
    const newest = d.tokenHistory.at(-1)!;
    const again = await httpJson<{ error: { code: string } }>('POST', `${stack.auth.url}/v1/token/refresh`, {
      body: { refreshToken: newest.refreshToken },
    });
    expect(again.status).toBe(401);
    for (const url of stack.edgeUrls) {
      const raw = rawSocket(url, newest.accessToken);
      await expect(raw.connected).rejects.toMatchObject({ data: { reason: 'token_revoked' } });
      raw.close();
    }
    const audits = await readStream<{ displayId?: string }>(stack.nats.url, 'AUDIT', `audit.${stack.tenant}.refresh_reuse_detected`);
    expect(audits.filter((e) => e.displayId === 'lc-reuse')).toHaveLength(1);
  });

  it('decommissioning a display disconnects its live socket and its token opens no new one', async () => {
    const d = await stack.newDisplay({ displayId: 'lc-decom', storeId: 'st-decom', stations: ['grill'] });
    const access = latestAccess(d);
    const token = await stack.clientToken(['displays:manage']);
    const at = Date.now();
    const res = await stack.request('DELETE', `${stack.auth.url}/v1/displays/lc-decom`, { token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);

    const ended = await waitValue(() => eventsAfter(d, at, 'session_end')[0], {
      timeoutMs: 5_000,
      message: () => `session_end after decommission (events ${JSON.stringify(d.events.slice(-6))})`,
    });
    expect(ended).toMatchObject({ reason: 'display_decommissioned', reconnect: false });
    expect(ended.at - at).toBeLessThanOrEqual(REVOCATION_BOUND_MS);
    await waitFor(() => eventsAfter(d, at, 'reenroll_required').length > 0, { timeoutMs: 5_000, message: 'reenroll_required' });
    expect(d.client.state).toBe('stopped');

    const raw = rawSocket(stack.edgeUrls[1]!, access);
    await expect(raw.connected).rejects.toMatchObject({ data: { reason: 'display_decommissioned' } });
    raw.close();
  });

  it("a token of another tenant reads no order status of this tenant and its displays receive none of its orders", async () => {
    await stack.authCli(['tenant', 'create', 'other-co']);
    const created = (await stack.authCli([
      'client',
      'create',
      '--tenant',
      'other-co',
      '--scopes',
      'orders:write,orders:read,displays:manage',
    ])) as ClientCredentials;
    const other: ClientCredentials = { clientId: created.clientId, clientSecret: created.clientSecret };

    const mine = await stack.newDisplay({ displayId: 'lc-tenant', storeId: 'st-shared', stations: ['grill'] });
    // Same display, store and station ids in the other tenant: only the tenant tells them apart.
    const theirs = await stack.newDisplay({ displayId: 'lc-tenant', storeId: 'st-shared', stations: ['grill'], operator: other });
    const res = await stack.postOrder(makeOrder('tenant-order-1', 'st-shared', 'grill'));
    expect(res.status).toBe(202);
    await waitFor(() => mine.shownIds().has('tenant-order-1'), { timeoutMs: 5_000, message: 'shown in the own tenant' });
    expect(mine.socketId(), 'the other tenant did not replace this session').toBeDefined();

    const otherRead = await freshClientToken('orders:read', other);
    const status = await stack.orderStatus('tenant-order-1', otherRead);
    expect(status.status).toBe(404);
    const own = await stack.orderStatus('tenant-order-1');
    expect(own.status).toBe(200);
    expect(own.body.displays.map((x) => x.displayId)).toEqual(['lc-tenant']);

    // The other tenant's same order id is its own order, delivered only to its display.
    const otherWrite = await freshClientToken('orders:write', other);
    const theirsPost = await stack.postOrder(makeOrder('tenant-order-1', 'st-shared', 'grill'), { token: otherWrite });
    expect(theirsPost.status).toBe(202);
    expect(theirsPost.body.duplicate).toBe(false);
    await waitFor(() => theirs.shownIds().has('tenant-order-1'), { timeoutMs: 5_000, message: 'shown in the other tenant' });
    await sleep(500);
    expect(theirs.shown).toHaveLength(1);
    expect(mine.shown).toHaveLength(1);
  });
});

async function refreshAudits(displayId: string): Promise<unknown[]> {
  const events = await readStream<{ displayId?: string }>(stack.nats.url, 'AUDIT', `audit.${stack.tenant}.refreshed`);
  return events.filter((e) => e.displayId === displayId);
}
