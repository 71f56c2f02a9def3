/**
 * Zero-loss delivery through the real processes (issue 4), on one shared stack: tests here do
 * not fault the stack. Each test uses its own store, so displays never see another test's orders.
 *
 * Loss accounting everywhere: the order ids ingest answered 202 for, minus the ids the SDK handed
 * to the app ("shown"), must be empty.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@orderwire/test-harness';
import { lostOrders, makeOrder, shownTwice, startStack, waitValue, type Stack, type TestDisplay } from '../src/stack.js';

interface DlqEntry {
  id: string;
  displayId: string;
  orderId: string | null;
  reason: string;
  detail?: string;
  status: string;
  deliveryCount: number;
}

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    edges: 2,
    dlq: true,
    env: {
      // Dead-lettering after 3 quick failures keeps the reject test short; the path is the same.
      edge: { EDGE_MAX_FAILURES: '3', EDGE_NAK_DELAY: '100ms', EDGE_NAK_DELAY_MAX: '400ms', EDGE_ACK_TIMEOUT: '3s' },
    },
  });
});

afterAll(async () => {
  await stack?.dispose();
});

/** Posts orders one after another; returns the ids answered 202. */
async function postAll(ids: string[], storeId: string, station: string): Promise<string[]> {
  const accepted: string[] = [];
  for (const id of ids) {
    const res = await stack.postOrder(makeOrder(id, storeId, station));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    accepted.push(id);
  }
  return accepted;
}

async function waitAllShown(accepted: string[], displays: TestDisplay[], timeoutMs = 20_000): Promise<void> {
  await waitFor(() => lostOrders(accepted, displays).length === 0 || undefined, {
    timeoutMs,
    message: () => `every accepted order shown; still missing: ${lostOrders(accepted, displays).slice(0, 20).join(', ')}`,
  });
}

async function dlqList(query: Record<string, string>): Promise<DlqEntry[]> {
  const token = await stack.clientToken(['dlq:read']);
  const qs = new URLSearchParams(query).toString();
  const res = await stack.request<{ items: DlqEntry[] }>('GET', `${stack.dlq!.url}/v1/dlq?${qs}`, { token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items;
}

describe('delivery through ingest → JetStream → edge → SDK', () => {
  it('delivers an order, and GET /v1/orders/:id shows it delivered via the edge the display is on', async () => {
    const [e1, e2] = stack.edges;
    const a = await stack.newDisplay({ displayId: 'happy-a', storeId: 'st-happy', stations: ['grill'], edgeUrls: [e1!.url, e2!.url] });
    const b = await stack.newDisplay({ displayId: 'happy-b', storeId: 'st-happy', stations: ['grill'], edgeUrls: [e2!.url, e1!.url] });
    const accepted = await postAll(['happy-1', 'happy-2', 'happy-3'], 'st-happy', 'grill');
    await waitAllShown(accepted, [a]);
    await waitAllShown(accepted, [b]);
    expect(lostOrders(accepted, [a]), 'accepted − displayed (a)').toEqual([]);
    expect(lostOrders(accepted, [b]), 'accepted − displayed (b)').toEqual([]);
    expect(a.shown.map((s) => s.orderId)).toEqual(accepted);

    // The receipt names the edge instance each display acknowledged through.
    const status = await waitValue(
      async () => {
        const res = await stack.orderStatus('happy-2');
        const all = res.status === 200 && res.body.displays.length === 2 && res.body.displays.every((d) => d.status === 'delivered');
        return all ? res.body : undefined;
      },
      { timeoutMs: 5_000, message: 'happy-2 delivered to both displays' },
    );
    const byDisplay = Object.fromEntries(status.displays.map((d) => [d.displayId, d]));
    expect(byDisplay['happy-a']).toMatchObject({ status: 'delivered', edge: 'edge-1', deliveryCount: 1 });
    expect(byDisplay['happy-b']).toMatchObject({ status: 'delivered', edge: 'edge-2', deliveryCount: 1 });
  });

  it('keeps orders for an offline display and delivers all of them, in order, when it returns on the other edge', async () => {
    const [e1, e2] = stack.edges;
    const d = await stack.newDisplay({ displayId: 'offline-1', storeId: 'st-offline', stations: ['fry'], edgeUrls: [e1!.url] });
    const before = await postAll(['off-0'], 'st-offline', 'fry');
    await waitAllShown(before, [d]);

    d.client.stop();
    const ids = Array.from({ length: 40 }, (_, i) => `off-${i + 1}`);
    const whileOffline = await postAll(ids, 'st-offline', 'fry');
    // Offline long enough for any pull, ack wait or sweep on edge-1 to have acted if it were going to.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(d.shown.length, 'nothing is shown while offline').toBe(1);

    d.restartClient([e2!.url]);
    await d.waitConnected({ url: e2!.url });
    await waitAllShown(whileOffline, [d]);
    const accepted = [...before, ...whileOffline];
    expect(lostOrders(accepted, [d]), 'accepted − displayed').toEqual([]);
    expect(shownTwice(d)).toEqual([]);
    const afterReturn = d.shown.slice(1);
    expect(afterReturn.map((s) => s.orderId), 'in publish order').toEqual(whileOffline);
    expect(afterReturn.every((s) => s.url === e2!.url)).toBe(true);
    expect(afterReturn.some((s) => s.late)).toBe(false);
  });

  it('redelivers an order the display rejects, dead-letters it, and replays it to that display from the DLQ', async () => {
    const d = await stack.newDisplay({ displayId: 'reject-1', storeId: 'st-reject', stations: ['bar'] });
    d.rejectWhen((delivery) => delivery.orderId === 'rej-bad', 'unknown item SKU-9');
    const accepted = await postAll(['rej-1', 'rej-bad', 'rej-2', 'rej-3'], 'st-reject', 'bar');

    // The others are not held up by the bad one.
    await waitAllShown(['rej-1', 'rej-2', 'rej-3'], [d]);
    const entry = await waitValue(async () => (await dlqList({ orderId: 'rej-bad' }))[0], {
      timeoutMs: 15_000,
      // The refusals with their times and delivery counts say whether the edge stopped redelivering
      // or the DLQ did not capture the termination; the edge and DLQ logs say why.
      message: () => `a DLQ entry for rej-bad; refusals at ${Date.now()}: ${JSON.stringify(d.refused)}\n${stack.tails(30)}`,
    });
    expect(entry).toMatchObject({ displayId: 'reject-1', orderId: 'rej-bad', reason: 'rejected', status: 'open' });
    expect(entry.detail ?? '').toContain('unknown item SKU-9');
    // Redelivered before it was given up on: the same delivery, increasing delivery counts.
    const attempts = d.refused.filter((r) => r.orderId === 'rej-bad');
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    expect(new Set(attempts.map((r) => r.deliveryId)).size).toBe(1);
    expect(attempts.map((r) => r.deliveryCount)).toEqual([...attempts.map((r) => r.deliveryCount)].sort((x, y) => x - y));
    expect(attempts.at(-1)!.deliveryCount).toBeGreaterThan(1);

    const dead = await waitValue(
      async () => {
        const res = await stack.orderStatus('rej-bad');
        return res.status === 200 && res.body.displays[0]?.status === 'dead_lettered' ? res.body.displays[0] : undefined;
      },
      { timeoutMs: 5_000, message: 'GET /v1/orders/rej-bad shows dead_lettered' },
    );
    expect(dead.displayId).toBe('reject-1');

    // The menu got fixed: replay it, and this display shows it.
    d.rejectWhen(undefined);
    const token = await stack.clientToken(['dlq:replay']);
    const replay = await stack.request('POST', `${stack.dlq!.url}/v1/dlq/${entry.id}/replay`, { token, body: { note: 'system test' } });
    expect(replay.status, JSON.stringify(replay.body)).toBe(200);
    await waitAllShown(accepted, [d]);
    const shownBad = d.shown.find((s) => s.orderId === 'rej-bad');
    expect(shownBad?.replay).toBe(true);
    expect(lostOrders(accepted, [d]), 'accepted − displayed').toEqual([]);
    expect(shownTwice(d)).toEqual([]);
    await waitFor(
      async () => {
        const res = await stack.orderStatus('rej-bad');
        return res.status === 200 && res.body.displays[0]?.status === 'delivered';
      },
      { timeoutMs: 5_000, message: 'rej-bad delivered after the replay' },
    );
  });

  it('a display flapping 20 times (compressed) while orders flow loses nothing and sends nothing to the DLQ', async () => {
    const d = await stack.newDisplay({ displayId: 'flappy-1', storeId: 'st-flap', stations: ['grill'], showDelayMs: 5 });
    const accepted: string[] = [];
    let posting = true;
    const poster = (async () => {
      for (let i = 0; posting; i++) {
        const id = `flap-${i}`;
        const res = await stack.postOrder(makeOrder(id, 'st-flap', 'grill'));
        expect(res.status).toBe(202);
        accepted.push(id);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    try {
      for (let flap = 0; flap < 20; flap++) {
        await new Promise((r) => setTimeout(r, 250));
        if (flap % 2 === 0) {
          // Wi-Fi drop: the transport dies under the client, which reconnects by itself (next edge).
          d.sockets().at(-1)?.io.engine.close();
        } else {
          // App-level reconnect on the same edges.
          d.client.stop();
          d.client.start();
        }
        await d.waitConnected({ timeoutMs: 10_000 });
      }
    } finally {
      posting = false;
      await poster;
    }

    await waitAllShown(accepted, [d], 40_000);
    expect(lostOrders(accepted, [d]), 'accepted − displayed').toEqual([]);
    expect(shownTwice(d), 'exactly once on screen').toEqual([]);
    expect(d.count('connected')).toBeGreaterThanOrEqual(21);
    // Let any terminated message's advisory reach the DLQ before looking.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await dlqList({ displayId: 'flappy-1' }), 'DLQ entries of the flapping display').toEqual([]);
  });
});
