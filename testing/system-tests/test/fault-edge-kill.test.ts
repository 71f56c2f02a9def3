/**
 * An edge node SIGKILLed in the middle of a stream of orders (issue 4). Its displays move to the
 * other edge through the SDK's edgeUrls rotation; what the dead node held unacked comes back
 * from the displays' consumers after ack_wait. Every accepted order is displayed, and whatever
 * is duplicated on the wire is hidden by the SDK.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '@orderwire/test-harness';
import { displayConsumerName } from '@orderwire/contracts';
import { lostOrders, makeOrder, shownTwice, startStack, type Stack, type TestDisplay } from '../src/stack.js';
import { consumerState } from '../src/streams.js';

/** The display consumers' ack_wait (platform default): the bound on a dead node's in-flight orders. */
const ACK_WAIT_MS = 20_000;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ edges: 2, dlq: true });
});

afterAll(async () => {
  await stack?.dispose();
});

it('an edge SIGKILLed mid-stream: every accepted order is displayed once, its displays continue on the other edge', async () => {
  const [e1, e2] = stack.edges as [typeof stack.edges[0], typeof stack.edges[0]];
  // Two displays on the node that dies, one on the survivor. A slow screen keeps orders in flight.
  const displays: TestDisplay[] = [
    await stack.newDisplay({ displayId: 'kill-a', storeId: 'st-kill', stations: ['grill'], edgeUrls: [e1.url, e2.url], showDelayMs: 30 }),
    await stack.newDisplay({ displayId: 'kill-b', storeId: 'st-kill', stations: ['grill'], edgeUrls: [e1.url, e2.url], showDelayMs: 30 }),
    await stack.newDisplay({ displayId: 'kill-c', storeId: 'st-kill', stations: ['grill'], edgeUrls: [e2.url, e1.url], showDelayMs: 30 }),
  ];

  const accepted: string[] = [];
  const failed: string[] = [];
  const total = 150;
  let next = 0;
  let killedAt = 0;
  let kill: Promise<unknown> | undefined;
  /**
   * Both of the dying node's displays are in the middle of a batch: something of it shown (the
   * SDK acks a batch when all of it is shown) and at least two more of it to show, i.e. ≥ 60 ms
   * before its ack. Killing at a fixed order count could land between batches on a slow machine,
   * and then nothing would be in flight to come back (CI saw it).
   */
  const midBatch = (d: TestDisplay): boolean => {
    const s = d.client.stats();
    return s.shown + s.duplicatesOnWire > s.acked && s.received - s.acked - s.rejected >= 3;
  };
  const killMidBatch = async (): Promise<void> => {
    const giveUp = Date.now() + 15_000;
    while (!displays.slice(0, 2).every(midBatch) && Date.now() < giveUp) await new Promise((r) => setTimeout(r, 2));
    killedAt = Date.now();
    await e1.kill();
  };
  // Five posting workers outpace the screens, so batches are in flight when the node dies.
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const id = `kill-${String(i).padStart(3, '0')}`;
      const res = await stack.postOrder(makeOrder(id, 'st-kill', 'grill'));
      if (res.status === 202) accepted.push(id);
      else failed.push(`${id}: ${res.status} ${JSON.stringify(res.body)}`);
      if (i === 50) kill = killMidBatch();
    }
  };
  await Promise.all(Array.from({ length: 5 }, worker));
  await kill;
  expect(kill, 'the kill was started').toBeDefined();
  // The edge is not on the ingest path: ingest accepts throughout.
  expect(failed).toEqual([]);

  await waitFor(() => displays.every((d) => lostOrders(accepted, [d]).length === 0), {
    timeoutMs: ACK_WAIT_MS + 20_000,
    message: () =>
      `every display shows every accepted order; missing ${displays
        .map((d) => `${d.displayId}: ${lostOrders(accepted, [d]).length}`)
        .join(', ')}\n${stack.tails(15)}`,
  });
  // Quiescence: every mailbox fully acknowledged — what the dead node held came back after
  // ack_wait, was delivered again through the survivor, and was acked as a duplicate.
  let states: Awaited<ReturnType<typeof consumerState>>[] = [];
  await waitFor(
    async () => {
      states = await Promise.all(displays.map((d) => consumerState(stack.nats.url, displayConsumerName(stack.tenant, d.displayId))));
      return states.every((s) => s.numAckPending === 0 && s.numPending === 0);
    },
    {
      timeoutMs: ACK_WAIT_MS + 20_000,
      intervalMs: 500,
      message: () =>
        `every display consumer fully acknowledged; last states ${displays.map((d, i) => `${d.displayId} ${JSON.stringify(states[i])}`).join(', ')}` +
        `; last events ${displays.map((d) => `${d.displayId} ${JSON.stringify(d.events.slice(-3))}`).join(' | ')}\n${stack.tails(15)}`,
    },
  );
  for (const d of displays) {
    expect(lostOrders(accepted, [d]), `accepted − displayed (${d.displayId})`).toEqual([]);
    expect(shownTwice(d), `shown twice (${d.displayId})`).toEqual([]);
    expect(d.shown.length, `deliveries shown by ${d.displayId} (each accepted order once)`).toBe(accepted.length);
  }
  // The killed node's displays went over to the survivor and stayed there.
  for (const d of displays.slice(0, 2)) {
    expect(d.client.url).toBe(e2.url);
    expect(d.shown.filter((s) => s.at > killedAt + 5_000).every((s) => s.url === e2.url)).toBe(true);
    // Batches were in flight on the dead node: their acks were lost, so they came again (and
    // were hidden). Without this the test would not have exercised the crash at all.
    expect(d.client.stats().duplicatesOnWire, `duplicates on the wire (${d.displayId})`).toBeGreaterThan(0);
    expect(d.events.some((e) => e.type === 'disconnected' && e.at >= killedAt)).toBe(true);
  }
  // Nothing from the crash reached the DLQ: a dead node is not a display that cannot process.
  const token = await stack.clientToken(['dlq:read']);
  const dlq = await stack.request<{ items: unknown[] }>('GET', `${stack.dlq!.url}/v1/dlq?storeId=st-kill`, { token });
  expect(dlq.status).toBe(200);
  expect(dlq.body.items).toEqual([]);
});
