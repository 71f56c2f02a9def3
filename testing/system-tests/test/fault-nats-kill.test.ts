/**
 * NATS SIGKILLed and restarted with its store while orders are being published (issue 4).
 * Ingest must never answer 2xx for an order the broker did not persist; once NATS is back,
 * every accepted order reaches every display.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '@orderwire/test-harness';
import { lostOrders, makeOrder, shownTwice, startStack, type OrderInput, type Stack, type TestDisplay, waitValue } from '../src/stack.js';
import { storedOrders } from '../src/streams.js';

/** The display consumers' ack_wait: bound on orders that were in flight when NATS died. */
const ACK_WAIT_MS = 20_000;
/** How long the broker stays down. */
const OUTAGE_MS = 2_000;

let stack: Stack;

/**
 * Ingest retries a publish through a reconnect for this long; shorter than the outage, so requests
 * caught in it are refused (503) rather than held until NATS is back, which this test is about.
 */
const RETRY_WINDOW = '500ms';

beforeAll(async () => {
  stack = await startStack({ edges: 2, dlq: false, env: { ingest: { INGEST_PUBLISH_TIMEOUT: '1s', INGEST_PUBLISH_RETRY_WINDOW: RETRY_WINDOW } } });
});

afterAll(async () => {
  await stack?.dispose();
});

interface Attempt {
  id: string;
  status: number;
  stream?: string;
  seq?: number;
  /** `duplicate` of a 202: the broker had stored this order already (a retry of a lost PubAck). */
  duplicate?: boolean;
  code?: string;
  /** `error.details.reason` of a refusal (which part of the intake said no). */
  reason?: string;
  retryAfter: string | null;
  sentAt: number;
  answeredAt: number;
}

it('NATS killed and restarted during publishing: no 2xx without persistence, every accepted order displayed', async () => {
  const [e1, e2] = stack.edgeUrls as [string, string];
  const displays: TestDisplay[] = [
    await stack.newDisplay({ displayId: 'nk-a', storeId: 'st-nk', stations: ['grill'], edgeUrls: [e1, e2] }),
    await stack.newDisplay({ displayId: 'nk-b', storeId: 'st-nk', stations: ['grill'], edgeUrls: [e2, e1] }),
  ];
  await stack.clientToken(['orders:write']); // issued while auth can still audit it

  const attempts: Attempt[] = [];
  let n = 0;
  let publishing = true;
  /**
   * Each order's body, made once: a retry resends the SAME body with the same key (docs/api.md,
   * Retries). A fresh `createdAt` on the retry of an order the broker stored before the 503 is a
   * different body under a used key — 409 IDEMPOTENCY_CONFLICT, rightly, forever.
   */
  const bodies = new Map<string, OrderInput>();
  const post = async (id: string): Promise<Attempt> => {
    let order = bodies.get(id);
    if (order === undefined) {
      order = makeOrder(id, 'st-nk', 'grill');
      bodies.set(id, order);
    }
    const sentAt = Date.now();
    const res = await stack.postOrder(order, { idempotencyKey: `key-${id}` });
    const body = res.body as { stream?: string; seq?: number; duplicate?: boolean; error?: { code: string; details?: { reason?: string } } };
    return {
      id,
      status: res.status,
      stream: body.stream,
      seq: body.seq,
      duplicate: body.duplicate,
      code: body.error?.code,
      reason: body.error?.details?.reason,
      retryAfter: res.headers.get('retry-after'),
      sentAt,
      answeredAt: Date.now(),
    };
  };
  const worker = async (): Promise<void> => {
    while (publishing) {
      attempts.push(await post(`nk-${String(n++).padStart(4, '0')}`));
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const workers = Promise.all(Array.from({ length: 4 }, worker));

  await new Promise((r) => setTimeout(r, 1_000));
  await stack.nats.kill();
  const downFrom = Date.now();
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  const downUntil = Date.now();
  await stack.nats.start();
  await new Promise((r) => setTimeout(r, 2_000));
  publishing = false;
  await workers;

  // Sent and answered while no broker existed: nothing can have been acknowledged. (A request sent
  // before the kill may still be answered 202 after it — its PubAck came first; the persistence
  // check below covers every 202.)
  const duringOutage = attempts.filter((a) => a.sentAt > downFrom && a.answeredAt < downUntil);
  /** What happened over time, for the messages below: answers per status around the outage. */
  const timeline = (): string => {
    const phase = (a: Attempt): string => (a.answeredAt < downFrom ? 'before' : a.sentAt > downUntil ? 'after' : 'around the outage');
    const counts = new Map<string, number>();
    for (const a of attempts) {
      const k = `${phase(a)} ${a.status}${a.reason === undefined ? '' : ` ${a.reason}`}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return `${attempts.length} requests, outage ${downUntil - downFrom} ms: ${[...counts].map(([k, v]) => `${k} ×${v}`).join(', ')}`;
  };
  expect(duringOutage.length, `requests answered during the outage (${timeline()})`).toBeGreaterThan(0);
  expect(duringOutage.filter((a) => a.status >= 200 && a.status < 300), '2xx while NATS was down').toEqual([]);
  const refused = attempts.filter((a) => a.status !== 202);
  expect(refused.length, `refused requests (${timeline()})`).toBeGreaterThan(0);
  for (const a of refused) {
    expect(a.status, `refusal ${JSON.stringify(a)}`).toBe(503);
    expect(a.code, `refusal ${JSON.stringify(a)}`).toBe('ORDERWIRE_ERR_INGEST_UNAVAILABLE');
    expect(Number(a.retryAfter), `refusal ${JSON.stringify(a)}`).toBeGreaterThan(0);
  }

  // Every 202 is in the stream, at the sequence ingest reported, as that order.
  const accepted = attempts.filter((a) => a.status === 202);
  const stored = await storedOrders(stack.nats.url, accepted.map((a) => ({ stream: a.stream!, seq: a.seq! })));
  const notPersisted = accepted.filter((a) => stored.get(`${a.stream}:${a.seq}`)?.orderId !== a.id).map((a) => a.id);
  expect(notPersisted, 'answered 202 but not in ORDERS').toEqual([]);

  // The upstream system retries its refused orders (same body, same key), as the API says, while
  // it is told to (503); any other answer is final and must be the 202.
  const retried: string[] = [];
  for (const a of refused) {
    let last: Attempt | undefined;
    const res = await waitValue(
      async () => {
        last = await post(a.id);
        return last.status === 503 ? undefined : last;
      },
      {
        timeoutMs: 15_000,
        intervalMs: 500,
        message: () => `retry of ${a.id} answered other than 503; first refusal ${JSON.stringify(a)}; last answer ${JSON.stringify(last)}\n${stack.tails(20)}`,
      },
    );
    expect(res.status, `retry of ${a.id} (first refusal ${JSON.stringify(a)}): ${JSON.stringify(res)}`).toBe(202);
    retried.push(a.id);
  }

  const all = [...accepted.map((a) => a.id), ...retried];
  await waitFor(() => displays.every((d) => lostOrders(all, [d]).length === 0), {
    timeoutMs: ACK_WAIT_MS + 20_000,
    intervalMs: 250,
    message: () =>
      `every order displayed; missing ${displays.map((d) => `${d.displayId}: ${lostOrders(all, [d]).slice(0, 10).join(',')}`).join(' | ')}\n${stack.tails(20)}`,
  });
  for (const d of displays) {
    expect(lostOrders(all, [d]), `accepted − displayed (${d.displayId})`).toEqual([]);
    expect(shownTwice(d), `shown twice (${d.displayId})`).toEqual([]);
  }
});
