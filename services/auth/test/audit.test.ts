import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAMS, ensureTopology } from '@orderwire/platform';
import {
  clientToken,
  enrolledDisplay,
  makeClient,
  readAudit,
  refresh,
  startAuth,
  startInfra,
  type ErrorBody,
  type Infra,
  type TestAuth,
} from './helpers.js';

let infra: Infra;
let t: TestAuth;

beforeAll(async () => {
  infra = await startInfra();
  t = await startAuth(infra);
});

afterAll(async () => {
  await t?.close();
  await infra?.dispose();
});

describe('audit stream', () => {
  it('records events on audit.<tenant>.<event> and refuses deletes and purges', async () => {
    const op = await makeClient(t, ['displays:manage']);
    const token = await clientToken(t, op);
    await enrolledDisplay(t, token);
    const events = await readAudit(t.nc, op.tenant);
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['token_issued', 'display_registered', 'enrolled']));
    for (const e of events) {
      expect(e).toMatchObject({ v: 1, tenant: op.tenant, service: 'auth' });
      expect(e.id).toBeTypeOf('string');
    }

    const jsm = await jetstreamManager(t.nc);
    const info = await jsm.streams.info(STREAMS.AUDIT);
    expect(info.config.deny_delete).toBe(true);
    expect(info.config.deny_purge).toBe(true);
    const seq = info.state.last_seq;
    await expect(jsm.streams.deleteMessage(STREAMS.AUDIT, seq)).rejects.toThrow();
    await expect(jsm.streams.purge(STREAMS.AUDIT)).rejects.toThrow();
    expect((await jsm.streams.info(STREAMS.AUDIT)).state.last_seq).toBe(seq);
    expect((await jsm.streams.getMessage(STREAMS.AUDIT, { seq }))?.subject).toMatch(/^audit\./);
  });

  it('without a working audit log: no client token (503), but committed state changes still answer', async () => {
    const op = await makeClient(t, ['displays:manage']);
    const token = await clientToken(t, op);
    const display = await enrolledDisplay(t, token);
    // Take the AUDIT stream away (an operator error or a broken stream): publishes get no ack.
    const jsm = await jetstreamManager(t.nc);
    await jsm.streams.delete(STREAMS.AUDIT);
    try {
      const res = await t.auth.app.inject({
        method: 'POST',
        url: '/v1/oauth/token',
        payload: { grant_type: 'client_credentials', client_id: op.clientId, client_secret: op.clientSecret },
      });
      expect(res.statusCode).toBe(503);
      expect(res.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_AUTH_AUDIT_UNAVAILABLE');
      // A refresh already committed in KV must not be failed (the retry would look like reuse).
      const r = await refresh(t, display.refreshToken);
      expect(r.statusCode).toBe(200);
      expect(await t.auth.metrics.text()).toMatch(/orderwire_auth_audit_write_failures_total\{[^}]*\} [2-9]/);
    } finally {
      await ensureTopology(t.nc, { streams: [STREAMS.AUDIT], buckets: [] });
    }
  });
});
