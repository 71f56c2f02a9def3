/**
 * The delivery path on one edge node, against real nats-server and redis-server:
 * publish → `orders` batch → display ack → JetStream ack (floor advances) → receipt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiptSubject, type Receipt } from '@orderwire/contracts';
import { STREAMS } from '@orderwire/platform';
import { waitFor } from '@orderwire/test-harness';
import { TestDisplay } from './support/display.js';
import { startEdge, type TestEdge } from './support/edge.js';
import { consumerState, newDisplay, publishOrder, registerDisplay, startInfra, type Infra } from './support/infra.js';

let infra: Infra;
let edge: TestEdge;
const BATCH_MAX = 8;

beforeAll(async () => {
  infra = await startInfra();
  edge = await startEdge(infra, { EDGE_BATCH_MAX: String(BATCH_MAX) });
});

afterAll(async () => {
  await edge?.close();
  await infra?.dispose();
});

describe('delivery', () => {
  it('an ack followed at once by the display disconnecting is honoured: acked in JetStream, never handed back', async () => {
    // The ack and the disconnect arrive in one read: the answer must claim its deliveries before
    // the session's close hands back what is still held (a lost ack here meant a duplicate on a
    // restarted display).
    for (let round = 0; round < 5; round++) {
      const d = newDisplay();
      const consumer = await registerDisplay(infra, d);
      const display = new TestDisplay(await infra.jwks.sign(d), { disconnectAfterAnswer: true });
      await display.connect(edge.url);
      const { seq } = await publishOrder(infra, d);
      await waitFor(() => display.shown.size === 1 && !display.connected, { timeoutMs: 5_000 });
      await waitFor(async () => (await consumerState(infra, consumer)).ackFloor === seq, {
        timeoutMs: 5_000,
        message: `round ${round}: the acked delivery was handed back instead of acked`,
      });
      const state = await consumerState(infra, consumer);
      expect(state).toMatchObject({ ackPending: 0, pending: 0 });
    }
  });

  it('delivers an order, acks it in JetStream and writes a delivered receipt', async () => {
    const d = newDisplay();
    const consumer = await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edge.url);
    try {
      const before = Date.now();
      const { orderId, stream, seq } = await publishOrder(infra, d);
      await waitFor(() => display.shown.size === 1, { timeoutMs: 5_000 });
      const [delivery] = display.received;
      expect(delivery).toMatchObject({ deliveryId: `${stream}:${seq}`, orderId, seq, deliveryCount: 1 });
      expect(delivery!.acceptedAt).toBeGreaterThanOrEqual(before);
      expect(delivery!.order).toMatchObject({ orderId, storeId: d.store, station: 'grill' });

      await waitFor(async () => (await consumerState(infra, consumer)).ackFloor === seq, { timeoutMs: 5_000 });
      expect((await consumerState(infra, consumer)).ackPending).toBe(0);

      const receipt = await waitFor(
        async () => {
          try {
            return (await infra.jsm.streams.getMessage(STREAMS.RECEIPTS, { last_by_subj: receiptSubject(d.tenant, orderId, d.displayId) }))?.json<Receipt>();
          } catch {
            return undefined;
          }
        },
        { timeoutMs: 5_000 },
      );
      expect(receipt).toMatchObject({ tenant: d.tenant, orderId, displayId: d.displayId, status: 'delivered', stream, seq, edge: edge.instanceId, deliveryCount: 1 });
    } finally {
      display.disconnect();
    }
  });

  it('delivers targeted orders on the display subject too, and nothing of other stations', async () => {
    const d = newDisplay({ stations: ['grill'] });
    await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edge.url);
    try {
      await publishOrder(infra, d, { station: 'fryer' }); // not this display's station
      const targeted = await publishOrder(infra, d, { targeted: true });
      const station = await publishOrder(infra, d);
      await waitFor(() => display.shown.size === 2, { timeoutMs: 5_000 });
      expect(display.shownOrderIds().sort()).toEqual([targeted.orderId, station.orderId].sort());
    } finally {
      display.disconnect();
    }
  });

  it('batches a burst: 50 orders arrive in batches of at most EDGE_BATCH_MAX, in stream order', async () => {
    const d = newDisplay();
    const consumer = await registerDisplay(infra, d);
    // Publish before connecting, so the backlog is there at the first pull.
    const published: { seq: number }[] = [];
    for (let i = 0; i < 50; i++) published.push(await publishOrder(infra, d));
    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edge.url);
    try {
      await waitFor(() => display.shown.size === 50, { timeoutMs: 10_000 });
      expect(Math.max(...display.batches)).toBeLessThanOrEqual(BATCH_MAX);
      expect(display.batches.filter((n) => n === BATCH_MAX).length).toBeGreaterThanOrEqual(5);
      expect(display.received.map((r) => r.seq)).toEqual(published.map((p) => p.seq));
      await waitFor(async () => (await consumerState(infra, consumer)).ackFloor === published.at(-1)!.seq, { timeoutMs: 5_000 });
    } finally {
      display.disconnect();
    }
  });

  it('delivers orders published while connected promptly (doorbell), not at the sweep', async () => {
    const d = newDisplay();
    await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edge.url);
    try {
      await waitFor(() => edge.app.engine.stats().mailboxes > 0);
      for (let i = 0; i < 20; i++) {
        const { orderId } = await publishOrder(infra, d);
        const t0 = Date.now();
        await waitFor(() => display.shownOrderIds().includes(orderId), { timeoutMs: 2_000, intervalMs: 2 });
        expect(Date.now() - t0).toBeLessThan(1_000);
      }
      // Each of those orders rang this node on a subject the display listens on.
      const text = await (await fetch(`${edge.url}/metrics`)).text();
      const matched = Number(/orderwire_edge_doorbell_rings_total\{outcome="matched"[^}]*\} (\d+)/.exec(text)?.[1]);
      expect(matched).toBeGreaterThanOrEqual(20);
      expect(Number(/orderwire_edge_doorbell_subscriptions(?:\{[^}]*\})? (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    } finally {
      display.disconnect();
    }
  });

  it('serves probes and metrics on the same port', async () => {
    expect((await fetch(`${edge.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${edge.url}/readyz`)).status).toBe(200);
    const text = await (await fetch(`${edge.url}/metrics`)).text();
    expect(text).toMatch(/orderwire_edge_deliveries_total\{outcome="acked"[^}]*\} \d+/);
    expect(text).toContain('orderwire_delivery_e2e_latency_seconds_bucket');
    expect(text).toMatch(/orderwire_edge_handshakes_total\{outcome="ok"[^}]*\} [1-9]/);
    expect(text).toMatch(/orderwire_edge_pulls_total\{outcome="complete"[^}]*\} [1-9]/);
    expect(text).toMatch(/orderwire_edge_pull_wakeups_total\{reason="doorbell"[^}]*\} [1-9]/);
    expect(text).toMatch(/orderwire_nats_connected\{[^}]*\} 1/);
    expect(text).toMatch(/orderwire_redis_connected\{[^}]*\} 1/);
    expect(text).toMatch(/orderwire_rate_limited_total\{route="handshake"[^}]*\} 0/);
    expect(text).toContain('orderwire_edge_connections');
    expect(text).toContain('orderwire_edge_displays_with_backlog');
    expect(text).toContain('orderwire_edge_oldest_unacked_age_seconds');
    expect(text).not.toMatch(/displayId=/);
  });
});
