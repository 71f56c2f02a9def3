/**
 * Tokens at the edge: handshake verification, in-band refresh, expiry and revocation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNALS } from '@orderwire/contracts';
import { deleteDisplayConsumer } from '@orderwire/platform';
import { waitFor } from '@orderwire/test-harness';
import { TestDisplay, handshakeRefusal } from './support/display.js';
import { startEdge, type TestEdge } from './support/edge.js';
import { newDisplay, publishOrder, registerDisplay, startInfra, type Infra } from './support/infra.js';

let infra: Infra;
let edge: TestEdge;

beforeAll(async () => {
  infra = await startInfra();
  edge = await startEdge(infra);
});

afterAll(async () => {
  await edge?.close();
  await infra?.dispose();
});

describe('handshake', () => {
  it('refuses bad tokens with the reason the SDK understands', async () => {
    const d = newDisplay();
    await registerDisplay(infra, d);
    const now = Math.floor(Date.now() / 1000);
    expect(await handshakeRefusal(edge.url, '')).toBe('unauthorized');
    expect(await handshakeRefusal(edge.url, 'not-a-jwt')).toBe('unauthorized');
    expect(await handshakeRefusal(edge.url, await infra.jwks.sign(d, { exp: now - 60 }))).toBe('token_expired');
    expect(await handshakeRefusal(edge.url, await infra.jwks.sign(d, { audience: 'orderwire-api' }))).toBe('unauthorized');
    expect(await handshakeRefusal(edge.url, await infra.jwks.sign(d, { issuer: 'someone-else' }))).toBe('unauthorized');
    expect(await handshakeRefusal(edge.url, await infra.jwks.sign(d, { foreignKey: true }))).toBe('unauthorized');
    const good = await infra.jwks.sign(d);
    const [h, p, s] = good.split('.');
    const tampered = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    tampered.sub = 'someone-else';
    expect(await handshakeRefusal(edge.url, `${h}.${Buffer.from(JSON.stringify(tampered)).toString('base64url')}.${s}`)).toBe('unauthorized');
    expect(await handshakeRefusal(edge.url, good)).toBeUndefined();
    const text = await (await fetch(`${edge.url}/metrics`)).text();
    expect(text).toMatch(/orderwire_edge_handshakes_total\{outcome="token_expired"[^}]*\} [1-9]/);
  });

  it("reads the mailbox and the expired notices over the reply mux, not the client library's request()", async () => {
    // The library's request() builds three stack-capturing errors per call (4 % of the edge's CPU
    // while 10,000 displays connect): a handshake must not use it.
    const d = newDisplay();
    await registerDisplay(infra, d);
    const token = await infra.jwks.sign(d);
    const original = edge.nc.request.bind(edge.nc);
    const subjects: string[] = [];
    edge.nc.request = (subject, ...rest) => {
      subjects.push(subject);
      return original(subject, ...rest);
    };
    try {
      const display = new TestDisplay(token);
      await display.connect(edge.url);
      const { orderId } = await publishOrder(infra, d);
      await waitFor(() => display.shownOrderIds().includes(orderId), { timeoutMs: 5_000 });
      display.disconnect();
    } finally {
      Reflect.deleteProperty(edge.nc, 'request');
    }
    expect(subjects).toEqual([]);
  });

  it('rate-limits handshakes per client address and refuses foreign browser origins', async () => {
    const limited = await startEdge(infra, { EDGE_HANDSHAKE_RATE: '0.5', EDGE_HANDSHAKE_BURST: '3', EDGE_ALLOWED_ORIGINS: 'https://kds.example' });
    try {
      const d = newDisplay();
      await registerDisplay(infra, d);
      const token = await infra.jwks.sign(d);
      const reasons = [];
      for (let i = 0; i < 4; i++) reasons.push(await handshakeRefusal(limited.url, token));
      expect(reasons).toEqual([undefined, undefined, undefined, 'rate_limited']);
      const text = await (await fetch(`${limited.url}/metrics`)).text();
      expect(text).toMatch(/orderwire_rate_limited_total\{route="handshake"[^}]*\} 1/);
    } finally {
      await limited.close();
    }
    const strict = await startEdge(infra, { EDGE_ALLOWED_ORIGINS: 'https://kds.example' });
    try {
      const d = newDisplay();
      await registerDisplay(infra, d);
      const token = await infra.jwks.sign(d);
      expect(await handshakeRefusal(strict.url, token, { origin: 'https://evil.example' })).toBe('forbidden_origin');
      expect(await handshakeRefusal(strict.url, token, { origin: 'https://kds.example' })).toBeUndefined();
      expect(await handshakeRefusal(strict.url, token)).toBeUndefined(); // native client: no Origin
    } finally {
      await strict.close();
    }
  });

  it('refuses a display whose consumer does not exist (decommissioned)', async () => {
    const d = newDisplay();
    expect(await handshakeRefusal(edge.url, await infra.jwks.sign(d))).toBe('display_decommissioned');
  });

  it('only ever delivers the display its own consumer, whatever the token claims about stations', async () => {
    const a = newDisplay({ stations: ['grill'] });
    const b = newDisplay({ store: a.store, stations: ['fryer'] });
    await registerDisplay(infra, a);
    await registerDisplay(infra, b);
    // a's token claims b's station too: the consumer, not the claim, decides.
    const display = new TestDisplay(await infra.jwks.sign({ ...a, stations: ['grill', 'fryer'] }));
    await display.connect(edge.url);
    try {
      const mine = await publishOrder(infra, a, { station: 'grill' });
      await publishOrder(infra, b, { station: 'fryer' });
      await publishOrder(infra, b, { targeted: true });
      await waitFor(() => display.shown.size === 1, { timeoutMs: 5_000 });
      await new Promise((r) => setTimeout(r, 300));
      expect(display.shownOrderIds()).toEqual([mine.orderId]);
    } finally {
      display.disconnect();
    }
  });
});

describe('token lifecycle on a live socket', () => {
  it('disconnects with token_expired when the token expires unrefreshed', async () => {
    const d = newDisplay();
    await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d, { ttlSec: 2 }));
    await display.connect(edge.url);
    await waitFor(() => display.sessionEnds.length > 0, { timeoutMs: 5_000 });
    expect(display.sessionEnds[0]).toEqual({ reason: 'token_expired', reconnect: true });
    await waitFor(() => !display.connected);
  });

  it('auth:refresh in band keeps the socket past the old expiry; a token of another display is refused', async () => {
    const d = newDisplay();
    await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d, { ttlSec: 2 }));
    await display.connect(edge.url);
    try {
      const other = await display.refresh(await infra.jwks.sign(newDisplay({ tenant: d.tenant })));
      expect(other).toMatchObject({ ok: false, reason: 'unauthorized' });
      expect(await display.refresh('garbage')).toMatchObject({ ok: false, reason: 'unauthorized' });

      const fresh = await infra.jwks.sign(d, { ttlSec: 600 });
      const res = await display.refresh(fresh);
      expect(res.ok).toBe(true);
      expect(res.ok && res.expiresAt).toBeGreaterThan(Date.now() + 500_000);
      await new Promise((r) => setTimeout(r, 3_000));
      expect(display.connected).toBe(true);
      expect(display.sessionEnds).toEqual([]);
      // Still delivering on the refreshed socket.
      const { orderId } = await publishOrder(infra, d);
      await waitFor(() => display.shownOrderIds().includes(orderId), { timeoutMs: 5_000 });
    } finally {
      display.disconnect();
    }
  });

  it('a revocation signal disconnects the display within a second and its family stays refused', async () => {
    const d = newDisplay();
    await registerDisplay(infra, d);
    const token = await infra.jwks.sign(d, { familyId: 'fam-revoked' });
    const display = new TestDisplay(token);
    await display.connect(edge.url);
    const other = newDisplay({ tenant: d.tenant });
    await registerDisplay(infra, other);
    const bystander = new TestDisplay(await infra.jwks.sign(other));
    await bystander.connect(edge.url);
    try {
      const t0 = Date.now();
      infra.nc.publish(
        SIGNALS.displayRevoked(d.tenant, d.displayId),
        JSON.stringify({ tenant: d.tenant, displayId: d.displayId, familyId: 'fam-revoked', reason: 'token_revoked', at: new Date().toISOString() }),
      );
      await waitFor(() => !display.connected, { timeoutMs: 1_000, intervalMs: 10 });
      expect(Date.now() - t0).toBeLessThan(1_000);
      expect(display.sessionEnds).toEqual([{ reason: 'token_revoked', reconnect: false }]);
      expect(bystander.connected).toBe(true);
      expect(await handshakeRefusal(edge.url, token)).toBe('token_revoked');
      // A new family (re-enrolled display) is welcome.
      expect(await handshakeRefusal(edge.url, await infra.jwks.sign(d, { familyId: 'fam-new' }))).toBeUndefined();
    } finally {
      display.disconnect();
      bystander.disconnect();
    }
  });

  it('decommissioning (signal + consumer deleted) ends the session with display_decommissioned', async () => {
    const d = newDisplay();
    await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edge.url);
    await deleteDisplayConsumer(infra.jsm, d.tenant, d.displayId);
    infra.nc.publish(
      SIGNALS.displayRevoked(d.tenant, d.displayId),
      JSON.stringify({ tenant: d.tenant, displayId: d.displayId, reason: 'display_decommissioned', at: new Date().toISOString() }),
    );
    await waitFor(() => display.sessionEnds.length > 0, { timeoutMs: 1_000, intervalMs: 10 });
    expect(display.sessionEnds[0]).toEqual({ reason: 'display_decommissioned', reconnect: false });
    expect(await handshakeRefusal(edge.url, await infra.jwks.sign(d))).toBe('display_decommissioned');
  });

  it('a consumer deleted without a signal is noticed at the next pull', async () => {
    const d = newDisplay();
    await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edge.url);
    await deleteDisplayConsumer(infra.jsm, d.tenant, d.displayId);
    // An order on its subject rings the doorbell; the pull finds no consumer.
    await publishOrder(infra, d);
    await waitFor(() => display.sessionEnds.length > 0, { timeoutMs: 5_000 });
    expect(display.sessionEnds[0]).toEqual({ reason: 'display_decommissioned', reconnect: false });
  });
});
