/**
 * What a connected display cannot process goes to the DLQ; nothing else does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Msg, Subscription } from '@nats-io/nats-core';
import { ADVISORY_SUBJECTS } from '@orderwire/platform';
import { waitFor } from '@orderwire/test-harness';
import { TestDisplay } from './support/display.js';
import { startEdge, type TestEdge } from './support/edge.js';
import { consumerState, newDisplay, publishOrder, registerDisplay, startInfra, type Infra } from './support/infra.js';

let infra: Infra;
let edge: TestEdge;
const advisories: { subject: string; body: Record<string, unknown> }[] = [];
let advisorySub: Subscription;
const MAX_FAILURES = 3;

beforeAll(async () => {
  infra = await startInfra();
  edge = await startEdge(infra, {
    EDGE_MAX_FAILURES: String(MAX_FAILURES),
    EDGE_NAK_DELAY: '50ms',
    EDGE_NAK_DELAY_MAX: '200ms',
    EDGE_ACK_TIMEOUT: '300ms',
  });
  const record = (_: Error | null, m: Msg): void => {
    advisories.push({ subject: m.subject, body: m.json<Record<string, unknown>>() });
  };
  advisorySub = infra.nc.subscribe('$JS.EVENT.ADVISORY.CONSUMER.>', { callback: record });
  await infra.nc.flush();
});

afterAll(async () => {
  advisorySub?.unsubscribe();
  await edge?.close();
  await infra?.dispose();
});

const advisoriesFor = (consumer: string, kind: 'MSG_TERMINATED' | 'MAX_DELIVERIES'): Record<string, unknown>[] =>
  advisories.filter((a) => a.subject.startsWith(`$JS.EVENT.ADVISORY.CONSUMER.${kind}.ORDERS_P`) && a.subject.endsWith(`.${consumer}`)).map((a) => a.body);

describe('failures of a connected display', () => {
  it('a rejected order is redelivered with the same deliveryId, then terminated after EDGE_MAX_FAILURES (advisory observed)', async () => {
    expect(ADVISORY_SUBJECTS.terminated).toBe('$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.*.>');
    const d = newDisplay();
    const consumer = await registerDisplay(infra, d);
    const poison = `poison-${d.displayId}`;
    const display = new TestDisplay(await infra.jwks.sign(d), {
      policy: (o) => (o.orderId === poison ? { reject: 'cannot render' } : 'ack'),
    });
    await display.connect(edge.url);
    try {
      const bad = await publishOrder(infra, d, { orderId: poison });
      const good = await publishOrder(infra, d);
      await waitFor(() => advisoriesFor(consumer, 'MSG_TERMINATED').length === 1, { timeoutMs: 10_000 });
      const attempts = display.received.filter((r) => r.orderId === poison);
      expect(attempts.map((a) => a.deliveryId)).toEqual(Array(MAX_FAILURES).fill(`${bad.stream}:${bad.seq}`));
      expect(attempts.map((a) => a.deliveryCount)).toEqual([1, 2, 3]);
      expect(advisoriesFor(consumer, 'MSG_TERMINATED')[0]).toMatchObject({ stream: bad.stream, consumer, stream_seq: bad.seq });
      expect(display.shownOrderIds()).toEqual([good.orderId]);
      await waitFor(async () => (await consumerState(infra, consumer)).ackPending === 0, { timeoutMs: 5_000 });
      const text = await (await fetch(`${edge.url}/metrics`)).text();
      expect(text).toMatch(/orderwire_edge_deliveries_total\{outcome="terminated"[^}]*\} [1-9]/);
      expect(text).toMatch(/orderwire_edge_deliveries_total\{outcome="rejected"[^}]*\} [1-9]/);
    } finally {
      display.disconnect();
    }
  });

  it('a display that does not answer in time gets the order again (nak with delay), and acking it then settles it', async () => {
    const d = newDisplay();
    const consumer = await registerDisplay(infra, d);
    let silentOnce = true;
    const display = new TestDisplay(await infra.jwks.sign(d), {
      policy: () => {
        if (silentOnce) {
          silentOnce = false;
          return 'silent';
        }
        return 'ack';
      },
    });
    await display.connect(edge.url);
    try {
      const { stream, seq } = await publishOrder(infra, d);
      await waitFor(() => display.shown.size === 1, { timeoutMs: 5_000 });
      expect(display.received.map((r) => [r.deliveryId, r.deliveryCount])).toEqual([
        [`${stream}:${seq}`, 1],
        [`${stream}:${seq}`, 2],
      ]);
      await waitFor(async () => (await consumerState(infra, consumer)).ackFloor === seq, { timeoutMs: 5_000 });
      expect(advisoriesFor(consumer, 'MSG_TERMINATED')).toEqual([]);
    } finally {
      display.disconnect();
    }
  });

  it('a display that never answers while connected: timeouts count towards the DLQ too', async () => {
    const d = newDisplay();
    const consumer = await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d), { policy: () => 'silent' });
    await display.connect(edge.url);
    try {
      const { seq } = await publishOrder(infra, d);
      await waitFor(() => advisoriesFor(consumer, 'MSG_TERMINATED').length === 1, { timeoutMs: 10_000 });
      expect(display.received.filter((r) => r.seq === seq)).toHaveLength(MAX_FAILURES);
    } finally {
      display.disconnect();
    }
  });

  it('a flapping display (20 reconnects, acking slowly) loses nothing and sends nothing to the DLQ', async () => {
    const d = newDisplay();
    const consumer = await registerDisplay(infra, d);
    const token = await infra.jwks.sign(d);
    // Slow answers keep batches in flight when the socket drops: they must go back to the
    // mailbox, never count as failures.
    const display = new TestDisplay(token, { answerDelayMs: 120 });
    const accepted: string[] = [];
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        accepted.push((await publishOrder(infra, d)).orderId);
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    for (let i = 0; i < 20; i++) {
      await display.connect(edge.url);
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 150));
      display.disconnect(); // Wi-Fi drop: no answer for what is in flight
    }
    publishing = false;
    await publisher;
    await display.connect(edge.url);
    try {
      await waitFor(() => accepted.every((id) => display.shownOrderIds().includes(id)), {
        timeoutMs: 20_000,
        message: () => `shown ${display.shown.size} of ${accepted.length}`,
      });
      expect(accepted.length).toBeGreaterThan(50);
      expect(accepted.length - new Set(display.shownOrderIds()).size).toBe(0);
      expect(display.received.some((r) => r.deliveryCount > 1)).toBe(true); // handed back and redelivered
      await waitFor(async () => (await consumerState(infra, consumer)).ackPending === 0, { timeoutMs: 5_000 });
      expect(advisoriesFor(consumer, 'MSG_TERMINATED')).toEqual([]);
      expect(advisoriesFor(consumer, 'MAX_DELIVERIES')).toEqual([]);
    } finally {
      display.disconnect();
    }
  });
});
