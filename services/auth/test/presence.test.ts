/**
 * `GET /v1/displays` with presence (written to Redis by the edges, read here) and backlog (the
 * display's JetStream consumer); and CORS for the display web app's origins.
 */
import { jetstream } from '@nats-io/jetstream';
import { presenceLiveKey, presenceSeenKey, stationSubject, type PresenceLive } from '@orderwire/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DisplayWithPresence } from '../src/presence.js';
import { clientToken, makeClient, newDisplayId, registerDisplay, startAuth, startInfra, type ErrorBody, type Infra, type TestAuth } from './helpers.js';

let infra: Infra;
let t: TestAuth;
let operator: { tenant: string; clientId: string; clientSecret: string };
let opToken: string;

interface ListBody {
  displays: DisplayWithPresence[];
  presence: 'ok' | 'unavailable';
}

async function list(query = ''): Promise<{ statusCode: number; body: ListBody }> {
  const res = await t.auth.app.inject({ method: 'GET', url: `/v1/displays${query}`, headers: { authorization: `Bearer ${opToken}` } });
  return { statusCode: res.statusCode, body: res.json<ListBody>() };
}

beforeAll(async () => {
  infra = await startInfra();
  t = await startAuth(infra);
  operator = await makeClient(t, ['displays:manage']);
  opToken = await clientToken(t, operator);
});

afterAll(async () => {
  await t?.close();
  await infra?.dispose();
});

describe('GET /v1/displays presence', () => {
  it('lists online/offline, the edge, connected since, last seen and the backlog; filters by store and online', async () => {
    const on = newDisplayId();
    const off = newDisplayId();
    const elsewhere = newDisplayId();
    expect((await registerDisplay(t, opToken, { displayId: on, storeId: 'store-p', stations: ['grill'] })).statusCode).toBe(201);
    expect((await registerDisplay(t, opToken, { displayId: off, storeId: 'store-p', stations: ['grill'] })).statusCode).toBe(201);
    expect((await registerDisplay(t, opToken, { displayId: elsewhere, storeId: 'store-q', stations: ['grill'] })).statusCode).toBe(201);

    // What an edge writes for a live session, and for one that ended.
    const connectedAt = Date.now() - 60_000;
    const live: PresenceLive = { edge: 'edge-2', socketId: 'sock', storeId: 'store-p', connectedAt };
    await t.redis.set(presenceLiveKey(operator.tenant, on), JSON.stringify(live), 'PX', 60_000);
    const lastSeen = Date.now() - 3_600_000;
    await t.redis.hset(presenceSeenKey(operator.tenant), off, JSON.stringify({ at: lastSeen, edge: 'edge-1' }));
    // Two orders wait in the offline display's mailbox (its consumer filters its stations).
    const js = jetstream(t.nc);
    for (let i = 0; i < 2; i++) await js.publish(stationSubject(operator.tenant, 'store-p', 'grill'), '{}');

    const res = await list('?storeId=store-p');
    expect(res.statusCode).toBe(200);
    expect(res.body.presence).toBe('ok');
    expect(res.body.displays.map((d) => d.displayId).sort()).toEqual([on, off].sort());
    const byId = new Map(res.body.displays.map((d) => [d.displayId, d]));
    expect(byId.get(on)).toMatchObject({ online: true, edge: 'edge-2', connectedSince: new Date(connectedAt).toISOString(), storeId: 'store-p' });
    expect(byId.get(off)).toMatchObject({
      online: false,
      edge: null,
      connectedSince: null,
      lastSeen: new Date(lastSeen).toISOString(),
      backlog: { pending: 2, ackPending: 0, total: 2 },
    });

    expect((await list('?storeId=store-p&online=false')).body.displays.map((d) => d.displayId)).toEqual([off]);
    expect((await list('?online=true')).body.displays.map((d) => d.displayId)).toEqual([on]);
  });

  it('refuses a malformed filter with a 400', async () => {
    const res = await list('?storeId=bad.store');
    expect(res.statusCode).toBe(400);
    expect((res.body as unknown as ErrorBody).error.code).toBe('ORDERWIRE_ERR_VALIDATION');
  });

  it('answers without presence when Redis is down (online: null), backlog still read', async () => {
    await infra.redis.stop();
    try {
      const res = await list('?storeId=store-q');
      expect(res.statusCode).toBe(200);
      expect(res.body.presence).toBe('unavailable');
      expect(res.body.displays).toHaveLength(1);
      expect(res.body.displays[0]).toMatchObject({ online: null, backlog: { pending: 0, ackPending: 0, total: 0 } });
    } finally {
      await infra.redis.start();
    }
  });
});

describe('CORS for the display web app', () => {
  it('allows the configured origins (local default: the app on 3005) and no others', async () => {
    for (const origin of ['http://127.0.0.1:3005', 'http://localhost:3005']) {
      const pre = await t.auth.app.inject({
        method: 'OPTIONS',
        url: '/v1/token/refresh',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      expect(pre.statusCode).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe(origin);
    }
    const foreign = await t.auth.app.inject({
      method: 'OPTIONS',
      url: '/v1/token/refresh',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
  });
});
