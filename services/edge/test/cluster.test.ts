/**
 * Two edge nodes sharing NATS and Redis: the display's consumer is its mailbox, whichever
 * node it reaches; one live session per display across nodes; Redis and NATS outages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@orderwire/test-harness';
import { TestDisplay } from './support/display.js';
import { startEdge, type TestEdge } from './support/edge.js';
import { consumerState, newDisplay, publishOrder, registerDisplay, startInfra, type Infra } from './support/infra.js';

let infra: Infra;
let edgeA: TestEdge;
let edgeB: TestEdge;

beforeAll(async () => {
  infra = await startInfra();
  [edgeA, edgeB] = await Promise.all([startEdge(infra), startEdge(infra)]);
});

afterAll(async () => {
  await Promise.all([edgeA?.close(), edgeB?.close()]);
  await infra?.dispose();
});

describe('two edge nodes', () => {
  it('a display offline for a while, reconnecting to the other node, gets everything in order', async () => {
    const d = newDisplay();
    const consumer = await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edgeA.url);
    const first = await publishOrder(infra, d);
    await waitFor(() => display.shown.size === 1, { timeoutMs: 5_000 });
    display.disconnect();

    const whileOffline = [];
    for (let i = 0; i < 40; i++) whileOffline.push(await publishOrder(infra, d));
    await new Promise((r) => setTimeout(r, 300));
    // Offline: nothing is pulled, nothing is in flight.
    expect(await consumerState(infra, consumer)).toMatchObject({ ackPending: 0, pending: 40 });

    await display.connect(edgeB.url);
    try {
      await waitFor(() => display.shown.size === 41, { timeoutMs: 10_000 });
      expect(display.shownOrderIds()).toEqual([first, ...whileOffline].map((p) => p.orderId));
      expect(display.received.every((r) => r.deliveryCount === 1)).toBe(true);
    } finally {
      display.disconnect();
    }
  });

  it('a newer connection on another node replaces the older session (session_replaced, no reconnect)', async () => {
    const d = newDisplay();
    await registerDisplay(infra, d);
    const token = await infra.jwks.sign(d);
    const older = new TestDisplay(token);
    const newer = new TestDisplay(token);
    await older.connect(edgeA.url);
    await newer.connect(edgeB.url);
    try {
      await waitFor(() => !older.connected, { timeoutMs: 3_000 });
      expect(older.sessionEnds).toEqual([{ reason: 'session_replaced', reconnect: false }]);
      expect(newer.connected).toBe(true);
      const { orderId } = await publishOrder(infra, d);
      await waitFor(() => newer.shownOrderIds().includes(orderId), { timeoutMs: 5_000 });
      expect(older.received).toEqual([]);
      const metrics = await (await fetch(`${edgeA.url}/metrics`)).text();
      expect(metrics).toMatch(/orderwire_edge_session_replaced_total\{[^}]*\} [1-9]/);
      // The takeover notice went through the autopipelined publisher.
      expect(edgeB.app.redis?.pub.options.enableAutoPipelining).toBe(true);
    } finally {
      older.disconnect();
      newer.disconnect();
    }
  });

  it('a late takeover notice never ends a session newer than the one that sent it', async () => {
    const d = newDisplay();
    const consumer = await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edgeA.url);
    try {
      const subject = `ow.edge.takeover.${consumer}`;
      infra.nc.publish(subject, JSON.stringify({ socketId: 'elsewhere', instance: 'edge-x', at: Date.now() - 60_000 }));
      await infra.nc.flush();
      await new Promise((r) => setTimeout(r, 300));
      expect(display.connected).toBe(true);
      infra.nc.publish(subject, JSON.stringify({ socketId: 'elsewhere', instance: 'edge-x', at: Date.now() + 1 }));
      await waitFor(() => !display.connected, { timeoutMs: 2_000 });
      expect(display.sessionEnds).toEqual([{ reason: 'session_replaced', reconnect: false }]);
    } finally {
      display.disconnect();
    }
  });

  it('a takeover hands the older session\'s in-flight batch to the newer one at once', async () => {
    const d = newDisplay();
    const consumer = await registerDisplay(infra, d);
    const token = await infra.jwks.sign(d);
    const orders = [];
    for (let i = 0; i < 5; i++) orders.push(await publishOrder(infra, d));
    const older = new TestDisplay(token, { policy: () => 'silent' }); // holds the batch it gets
    await older.connect(edgeA.url);
    await waitFor(() => older.received.length === 5, { timeoutMs: 5_000 });
    expect((await consumerState(infra, consumer)).ackPending).toBe(5);

    const newer = new TestDisplay(token);
    const t0 = Date.now();
    await newer.connect(edgeB.url);
    try {
      await waitFor(() => newer.shown.size === 5, { timeoutMs: 5_000 });
      expect(Date.now() - t0).toBeLessThan(3_000); // not ack_wait (20 s)
      expect(newer.shownOrderIds()).toEqual(orders.map((o) => o.orderId));
    } finally {
      older.disconnect();
      newer.disconnect();
    }
  });

  it('Redis down: deliveries go on, and takeover still works over NATS', async () => {
    const d = newDisplay();
    await registerDisplay(infra, d);
    const token = await infra.jwks.sign(d);
    const display = new TestDisplay(token);
    await display.connect(edgeA.url);
    const extra = await startEdge(infra);
    try {
      await infra.redis.kill();
      const during = [];
      for (let i = 0; i < 10; i++) during.push(await publishOrder(infra, d));
      await waitFor(() => display.shown.size === 10, { timeoutMs: 5_000 });
      expect(display.shownOrderIds()).toEqual(during.map((o) => o.orderId));
      // Redis is not critical for readiness.
      expect((await fetch(`${edgeA.url}/readyz`)).status).toBe(200);

      const newer = new TestDisplay(token);
      await newer.connect(edgeB.url);
      await waitFor(() => !display.connected, { timeoutMs: 3_000 });
      expect(display.sessionEnds).toEqual([{ reason: 'session_replaced', reconnect: false }]);
      const after = await publishOrder(infra, d);
      await waitFor(() => newer.shownOrderIds().includes(after.orderId), { timeoutMs: 5_000 });
      newer.disconnect();
      // A node shuts down cleanly while Redis is gone (no hang, no unhandled rejection).
      const t0 = Date.now();
      await extra.close();
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      display.disconnect();
      await extra.close();
      await infra.redis.start();
    }
  });

  it('NATS killed and restarted: deliveries resume, nothing accepted is lost', async () => {
    const d = newDisplay();
    // A SIGKILLed server may lose acks it had not flushed; those messages come back after
    // ack_wait (short here) and the edge pulls them then without any publish.
    const consumer = await registerDisplay(infra, d, { ackWaitMs: 3_000 });
    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edgeA.url);
    try {
      const before = [];
      for (let i = 0; i < 5; i++) before.push(await publishOrder(infra, d));
      await waitFor(() => display.shown.size === 5, { timeoutMs: 5_000 });

      await infra.nats.kill();
      await new Promise((r) => setTimeout(r, 500));
      await infra.nats.start();
      // Publishing resumes once the test connection is back (ingest would answer 503 meanwhile).
      const after = await waitFor(
        async () => {
          const out = [];
          for (let i = 0; i < 5; i++) out.push(await publishOrder(infra, d));
          return out;
        },
        { timeoutMs: 20_000, intervalMs: 250 },
      );
      const accepted = [...before, ...after].map((o) => o.orderId);
      await waitFor(() => accepted.every((id) => display.shownOrderIds().includes(id)), {
        timeoutMs: 20_000,
        message: () => `shown ${display.shown.size} of ${accepted.length}`,
      });
      expect(display.connected).toBe(true); // the socket never dropped
      await waitFor(async () => (await consumerState(infra, consumer)).ackPending === 0, { timeoutMs: 15_000 });
      expect(new Set(display.shownOrderIds()).size).toBe(accepted.length);
    } finally {
      display.disconnect();
    }
  });
});
