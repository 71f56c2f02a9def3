/**
 * Redis killed (issue 4): Redis holds nothing that cannot be lost — the Socket.IO adapter,
 * rate-limit counters. Ingest keeps accepting, edges keep delivering, displays keep enrolling,
 * connecting and refreshing; after Redis returns everything still works.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '@orderwire/test-harness';
import { lostOrders, makeOrder, shownTwice, startStack, type Stack, type TestDisplay } from '../src/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ edges: 2, dlq: false, env: { auth: { AUTH_DISPLAY_TOKEN_TTL: '4s', AUTH_REFRESH_RETRY_GRACE: '2s' } } });
});

afterAll(async () => {
  await stack?.dispose();
});

async function postRange(prefix: string, from: number, to: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i < to; i++) {
    const id = `${prefix}-${i}`;
    const res = await stack.postOrder(makeOrder(id, 'st-rk', 'grill'));
    expect(res.status, `${id}: ${JSON.stringify(res.body)}`).toBe(202);
    ids.push(id);
  }
  return ids;
}

async function allShown(ids: string[], displays: TestDisplay[]): Promise<void> {
  await waitFor(() => displays.every((d) => lostOrders(ids, [d]).length === 0), {
    timeoutMs: 15_000,
    message: () => `all shown; missing ${displays.map((d) => `${d.displayId}: ${lostOrders(ids, [d]).join(',')}`).join(' | ')}`,
  });
}

it('Redis killed: orders are accepted and delivered, displays connect and refresh; all well after it returns', async () => {
  const [e1, e2] = stack.edgeUrls as [string, string];
  const a = await stack.newDisplay({ displayId: 'rk-a', storeId: 'st-rk', stations: ['grill'], edgeUrls: [e1, e2] });
  const b = await stack.newDisplay({ displayId: 'rk-b', storeId: 'st-rk', stations: ['grill'], edgeUrls: [e2, e1] });
  const before = await postRange('rk-before', 0, 10);
  await allShown(before, [a, b]);

  await stack.redis.kill();
  const killedAt = Date.now();
  const during = await postRange('rk-during', 0, 40);
  // A display enrolled and connected while Redis is gone.
  const c = await stack.newDisplay({ displayId: 'rk-c', storeId: 'st-rk', stations: ['grill'], edgeUrls: [e1, e2] });
  const during2 = await postRange('rk-during', 40, 60);
  await allShown([...during, ...during2], [a, b]);
  await allShown(during2, [c]);
  // Tokens kept rotating in band on the live sockets (4 s tokens, ~2 s refresh).
  await waitFor(() => Date.now() > killedAt + 4_500, { timeoutMs: 10_000 });
  for (const d of [a, b]) {
    const since = d.events.filter((e) => e.at >= killedAt);
    expect(since.filter((e) => e.type === 'tokens').length, `${d.displayId} refreshed; events since the kill ${JSON.stringify(since)}`).toBeGreaterThanOrEqual(1);
    expect(since.filter((e) => e.type === 'disconnected' || e.type === 'error'), `${d.displayId}: events since the kill ${JSON.stringify(since)}`).toEqual([]);
  }

  await stack.redis.start();
  const after = await postRange('rk-after', 0, 10);
  await allShown(after, [a, b, c]);

  const accepted = [...before, ...during, ...during2, ...after];
  for (const d of [a, b]) {
    expect(lostOrders(accepted, [d]), `accepted − displayed (${d.displayId})`).toEqual([]);
    expect(shownTwice(d)).toEqual([]);
  }
});
