/**
 * The DisplayClient against real Socket.IO servers (edge doubles) and the HTTP auth double:
 * delivery semantics, in-band refresh, the auth callback, handshake failures and edge rotation.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createDisplayClient, createTokenManager, memoryTokenStore } from '../src/index.js';
import type {
  OrdersExpired,
  Delivery,
  DisplayClient,
  DisplayClientOptions,
  DisplaySdkError,
  OrderInfo,
  ReenrollInfo,
  SessionEndInfo,
  TokenManager,
  TokenStore,
} from '../src/index.js';
import { startAuthDouble } from './helpers/auth-double.js';
import type { AuthDouble } from './helpers/auth-double.js';
import { delivery, startEdgeDouble } from './helpers/edge-double.js';
import type { EdgeDouble, EdgeDoubleOptions } from './helpers/edge-double.js';
import { sleep, waitUntil } from './helpers/wait.js';

interface Rig {
  auth: AuthDouble;
  edges: EdgeDouble[];
  store: TokenStore;
  tokens: TokenManager;
  client: DisplayClient;
  shown: { delivery: Delivery; info: OrderInfo }[];
  errors: DisplaySdkError[];
}

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(
  options: {
    edges?: number;
    edge?: Partial<EdgeDoubleOptions>;
    client?: Partial<DisplayClientOptions>;
    edgeUrls?: (edges: EdgeDouble[]) => string[];
    handler?: boolean;
  } = {},
): Promise<Rig> {
  const auth = await startAuthDouble();
  cleanups.push(() => auth.stop());
  auth.addEnrollmentCode('code-1', 'display-1');
  const edges: EdgeDouble[] = [];
  for (let i = 0; i < (options.edges ?? 1); i++) {
    const edge = await startEdgeDouble({ auth, ...options.edge });
    cleanups.push(() => edge.close());
    edges.push(edge);
  }
  const store = memoryTokenStore();
  const tokens = createTokenManager({ development: true, authUrl: auth.url, store, retry: { baseMs: 20, maxMs: 200 } });
  cleanups.push(() => tokens.close());
  await tokens.enroll('code-1');
  const client = createDisplayClient({
    development: true,
    edgeUrls: options.edgeUrls?.(edges) ?? edges.map((e) => e.url),
    tokens,
    reconnect: { baseMs: 50, maxMs: 500 },
    ...options.client,
  });
  cleanups.push(() => client.stop());
  const shown: Rig['shown'] = [];
  const errors: DisplaySdkError[] = [];
  client.on('error', (err) => void errors.push(err));
  if (options.handler !== false) client.on('order', (d, info) => void shown.push({ delivery: d, info }));
  return { auth, edges, store, tokens, client, shown, errors };
}

async function connected(r: Rig, edge: EdgeDouble = r.edges[0]!, count = 1): Promise<void> {
  await waitUntil(`${count} connection(s) to ${edge.url}`, () => edge.accepted >= count && edge.sockets().length === 1);
  await waitUntil('client connected', () => r.client.state === 'connected');
}

describe('DisplayClient: connection', () => {
  it('connects over websocket on /socket.io with the current access token', async () => {
    const r = await rig();
    const events: string[] = [];
    r.client.on('connected', ({ url }) => void events.push(url));
    r.client.start();
    await connected(r);
    expect(r.edges[0]!.transports).toEqual(['websocket']);
    expect(r.edges[0]!.handshakeTokens).toEqual([await r.tokens.getAccessToken()]);
    expect(events).toEqual([r.edges[0]!.url]);
    expect(r.client.url).toBe(r.edges[0]!.url);
  });

  it('stop() disconnects and does not reconnect', async () => {
    const r = await rig();
    const reasons: string[] = [];
    r.client.on('disconnected', ({ reason }) => void reasons.push(reason));
    r.client.start();
    await connected(r);
    r.client.stop();
    await waitUntil('server sees the disconnect', () => r.edges[0]!.sockets().length === 0);
    await sleep(200);
    expect(r.edges[0]!.accepted).toBe(1);
    expect(r.client.state).toBe('stopped');
    expect(reasons).toEqual(['io client disconnect']);
  });

  it('reconnects after the edge drops the transport, reading a token refreshed meanwhile in the auth callback', async () => {
    const r = await rig({ client: { reconnect: { baseMs: 400, maxMs: 400 } } });
    r.client.start();
    await connected(r);
    const first = await r.tokens.getAccessToken();

    r.edges[0]!.sockets()[0]!.conn.close(); // transport gone, no goodbye
    await waitUntil('client notices', () => r.client.state === 'waiting');
    await r.tokens.refresh(); // while disconnected: nothing to send in-band
    const second = await r.tokens.getAccessToken();
    await connected(r, r.edges[0], 2);

    expect(second).not.toBe(first);
    expect(r.edges[0]!.handshakeTokens).toEqual([first, second]);
    expect(r.edges[0]!.refreshTokens).toEqual([]);
  });

  it('moves to the next edge URL when a node cannot be reached', async () => {
    const dead = await startEdgeDouble({ auth: await startAuthDouble() });
    const deadUrl = dead.url;
    await dead.close();
    const r = await rig({ edgeUrls: (edges) => [deadUrl, edges[0]!.url] });
    r.client.start();
    await connected(r);
    expect(r.client.url).toBe(r.edges[0]!.url);
    expect(r.errors.some((e) => e.code === 'ORDERWIRE_ERR_SDK_CONNECT_FAILED' && e.message.includes(deadUrl))).toBe(true);
  });
});

describe('DisplayClient: in-band token refresh', () => {
  it('sends auth:refresh on the live socket when tokens rotate, without reconnecting', async () => {
    const r = await rig();
    r.client.start();
    await connected(r);
    await r.tokens.refresh();
    const fresh = await r.tokens.getAccessToken();
    await waitUntil('auth:refresh at the edge', () => r.edges[0]!.refreshTokens.length === 1);
    expect(r.edges[0]!.refreshTokens).toEqual([fresh]);
    await sleep(200);
    expect(r.edges[0]!.accepted).toBe(1);
    expect(r.edges[0]!.handshakeTokens).toHaveLength(1);
    expect(r.client.state).toBe('connected');
  });

  it('reconnects with the fresh token when the edge answers { ok: false }', async () => {
    const r = await rig({ edge: { authRefresh: () => ({ ok: false, reason: 'unauthorized' }) } });
    r.client.start();
    await connected(r);
    await r.tokens.refresh();
    const fresh = await r.tokens.getAccessToken();
    await connected(r, r.edges[0], 2);
    expect(r.edges[0]!.handshakeTokens).toHaveLength(2);
    expect(r.edges[0]!.handshakeTokens[1]).toBe(fresh);
    expect(r.errors.map((e) => e.code)).toContain('ORDERWIRE_ERR_SDK_AUTH_REFRESH_REJECTED');
  });
});

describe('DisplayClient: handshake refusals', () => {
  it('connect_error token_expired → one forced refresh → reconnect with the new token', async () => {
    let first = true;
    const r = await rig({
      edge: {
        handshake: () => {
          // The edge's clock says the first token is already expired.
          if (!first) return undefined;
          first = false;
          return 'token_expired';
        },
      },
    });
    const stale = await r.tokens.getAccessToken();
    r.client.start();
    await connected(r);
    expect(r.auth.refreshCount).toBe(1);
    expect(r.edges[0]!.rejected).toEqual(['token_expired']);
    expect(r.edges[0]!.handshakeTokens).toEqual([stale, await r.tokens.getAccessToken()]);
  });

  it('unauthorized even with a freshly refreshed token → reenroll_required and stop', async () => {
    const r = await rig({ edge: { handshake: () => 'unauthorized' } });
    const reenroll: ReenrollInfo[] = [];
    r.client.on('reenroll_required', (info) => void reenroll.push(info));
    r.client.start();
    await waitUntil('reenroll_required', () => reenroll.length === 1);
    expect(reenroll[0]!.reason).toBe('unauthorized');
    expect(r.auth.refreshCount).toBe(1);
    expect(r.edges[0]!.rejected).toEqual(['unauthorized', 'unauthorized']);
    expect(r.client.state).toBe('stopped');
    await sleep(200);
    expect(r.edges[0]!.handshakeTokens).toHaveLength(2);
  });

  it('a refused refresh (family revoked) during the retry → reenroll_required, tokens cleared', async () => {
    const r = await rig({ edge: { handshake: () => 'token_revoked' } });
    r.auth.fail('/v1/token/refresh', {
      status: 401,
      body: { error: { code: 'ORDERWIRE_ERR_AUTH_REFRESH_REVOKED', message: 'revoked' } },
    });
    const reenroll: ReenrollInfo[] = [];
    r.client.on('reenroll_required', (info) => void reenroll.push(info));
    r.client.start();
    await waitUntil('reenroll_required', () => reenroll.length === 1);
    expect(reenroll[0]!.reason).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED');
    expect(await r.store.load()).toBeUndefined();
    expect(r.client.state).toBe('stopped');
  });

  it('start() without enrollment reports NOT_ENROLLED and stays stopped', async () => {
    const auth = await startAuthDouble();
    cleanups.push(() => auth.stop());
    const tokens = createTokenManager({ development: true, authUrl: auth.url });
    cleanups.push(() => tokens.close());
    const client = createDisplayClient({ development: true, edgeUrls: ['http://127.0.0.1:9'], tokens });
    const errors: DisplaySdkError[] = [];
    client.on('error', (e) => void errors.push(e));
    client.start();
    await waitUntil('stopped', () => client.state === 'stopped');
    expect(errors.map((e) => e.code)).toEqual(['ORDERWIRE_ERR_SDK_NOT_ENROLLED']);
  });
});

describe('DisplayClient: session:end', () => {
  it('{ reconnect: true } (drain) → moves to the next edge URL', async () => {
    const r = await rig({ edges: 2 });
    const ends: SessionEndInfo[] = [];
    r.client.on('session_end', (info) => void ends.push(info));
    r.client.start();
    await connected(r, r.edges[0]);
    r.edges[0]!.endSession({ reason: 'server_shutdown', reconnect: true });
    await connected(r, r.edges[1]);
    expect(r.client.url).toBe(r.edges[1]!.url);
    expect(ends).toEqual([{ reason: 'server_shutdown', reconnect: true, url: r.edges[0]!.url }]);
    expect(r.edges[0]!.accepted).toBe(1);
  });

  it('{ reconnect: false } (replaced) → stops and reports it', async () => {
    const r = await rig({ edges: 2 });
    const ends: SessionEndInfo[] = [];
    r.client.on('session_end', (info) => void ends.push(info));
    r.client.start();
    await connected(r);
    r.edges[0]!.endSession({ reason: 'session_replaced', reconnect: false });
    await waitUntil('session_end', () => ends.length === 1);
    await sleep(300);
    expect(r.client.state).toBe('stopped');
    expect(r.edges[0]!.accepted + r.edges[1]!.accepted).toBe(1);
  });

  it('{ reason: token_revoked, reconnect: false } → stops, and the revocation probe reports reenroll_required', async () => {
    const r = await rig();
    const reenroll: ReenrollInfo[] = [];
    r.client.on('reenroll_required', (info) => void reenroll.push(info));
    r.client.start();
    await connected(r);
    r.auth.fail('/v1/token/refresh', {
      status: 401,
      body: { error: { code: 'ORDERWIRE_ERR_AUTH_REFRESH_REVOKED', message: 'revoked' } },
    });
    r.edges[0]!.endSession({ reason: 'token_revoked', reconnect: false });
    await waitUntil('reenroll_required', () => reenroll.length === 1);
    expect(r.client.state).toBe('stopped');
    expect(await r.store.load()).toBeUndefined();
  });
});

describe('DisplayClient: deliveries', () => {
  it('hands a batch to the app in seq order and acks every delivery', async () => {
    const r = await rig();
    r.client.start();
    await connected(r);
    const answer = await r.edges[0]!.send([delivery(3), delivery(1), delivery(2)]);
    expect(r.shown.map((s) => s.delivery.seq)).toEqual([1, 2, 3]);
    expect(answer).toEqual({ ack: ['ORDERS:1', 'ORDERS:2', 'ORDERS:3'] });
    expect(r.client.stats()).toMatchObject({ received: 3, shown: 3, duplicatesOnWire: 0, acked: 3, rejected: 0, highestSeq: 3 });
  });

  it('acks a duplicate deliveryId again without showing it twice', async () => {
    const r = await rig();
    r.client.start();
    await connected(r);
    await r.edges[0]!.send([delivery(1)]);
    const again = await r.edges[0]!.send([delivery(1, { deliveryCount: 2 }), delivery(2)]);
    expect(again).toEqual({ ack: ['ORDERS:1', 'ORDERS:2'] });
    expect(r.shown.map((s) => s.delivery.deliveryId)).toEqual(['ORDERS:1', 'ORDERS:2']);
    expect(r.client.stats()).toMatchObject({ received: 3, shown: 2, duplicatesOnWire: 1, acked: 3 });
  });

  it('shows an order once when it arrives under two delivery ids (station subject + display replay)', async () => {
    const r = await rig();
    r.client.start();
    await connected(r);
    await r.edges[0]!.send([delivery(10, { orderId: 'A-1' })]);
    const replay = await r.edges[0]!.send([delivery(42, { orderId: 'A-1', replay: true })]);
    expect(replay).toEqual({ ack: ['ORDERS:42'] });
    expect(r.shown).toHaveLength(1);
  });

  it('answers a batch carrying the same deliveryId twice with one ack for it', async () => {
    const r = await rig();
    r.client.start();
    await connected(r);
    const answer = await r.edges[0]!.send([delivery(5), delivery(5)]);
    expect(answer).toEqual({ ack: ['ORDERS:5'] });
    expect(r.client.stats()).toMatchObject({ received: 2, shown: 1, duplicatesOnWire: 1 });
  });

  it('shows a late, older seq (redelivery) and flags it late', async () => {
    const r = await rig();
    r.client.start();
    await connected(r);
    await r.edges[0]!.send([delivery(5)]);
    await r.edges[0]!.send([delivery(3)]);
    expect(r.shown.map((s) => [s.delivery.seq, s.info.late])).toEqual([
      [5, false],
      [3, true],
    ]);
    expect(r.client.stats().highestSeq).toBe(5);
  });

  it('awaits an async handler; a throw rejects that delivery with the message, and the ack is answered once', async () => {
    const r = await rig({ handler: false });
    const calls: number[] = [];
    r.client.on('order', async (d) => {
      calls.push(d.seq);
      await sleep(20);
      if (d.seq === 2 && d.deliveryCount === 1) throw new Error('printer jammed');
    });
    r.client.start();
    await connected(r);
    const answer = await r.edges[0]!.send([delivery(2), delivery(1), delivery(3)]);
    expect(calls).toEqual([1, 2, 3]);
    expect(answer).toEqual({ ack: ['ORDERS:1', 'ORDERS:3'], reject: [{ deliveryId: 'ORDERS:2', reason: 'printer jammed' }] });
    await sleep(100);
    expect([...r.edges[0]!.ackPackets.values()]).toEqual([1]);

    // The edge redelivers the rejected one: not a duplicate, it gets a fresh attempt.
    const retry = await r.edges[0]!.send([delivery(2, { deliveryCount: 2 })]);
    expect(retry).toEqual({ ack: ['ORDERS:2'] });
    expect(calls).toEqual([1, 2, 3, 2]);
    expect(r.client.stats()).toMatchObject({ shown: 3, rejected: 1, acked: 3, duplicatesOnWire: 0 });
  });

  it('processes batches one after another, never overlapping handler calls', async () => {
    const r = await rig({ handler: false });
    let active = 0;
    let maxActive = 0;
    const order: number[] = [];
    r.client.on('order', async (d) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await sleep(15);
      order.push(d.seq);
      active--;
    });
    r.client.start();
    await connected(r);
    await Promise.all([r.edges[0]!.send([delivery(2), delivery(1)]), r.edges[0]!.send([delivery(4), delivery(3)])]);
    expect(maxActive).toBe(1);
    expect(order).toEqual([1, 2, 3, 4]);
  });

  it('rejects when the app has no order listener, so nothing is acked unseen', async () => {
    const r = await rig({ handler: false });
    r.client.start();
    await connected(r);
    expect(await r.edges[0]!.send([delivery(1)])).toEqual({ ack: [], reject: [{ deliveryId: 'ORDERS:1', reason: 'no_order_handler' }] });
  });

  it('rejects malformed deliveries it can name, and reports them', async () => {
    const r = await rig();
    r.client.start();
    await connected(r);
    const bad = { deliveryId: 'ORDERS:9', orderId: 'x' } as unknown as Delivery;
    const answer = await r.edges[0]!.send([bad, delivery(1)]);
    expect(answer).toEqual({ ack: ['ORDERS:1'], reject: [{ deliveryId: 'ORDERS:9', reason: 'malformed_delivery: seq missing' }] });
    expect(r.errors.map((e) => e.code)).toContain('ORDERWIRE_ERR_SDK_MALFORMED_DELIVERY');
  });

  it('a redelivery after a reconnect to another edge (ack lost) is acked but not shown again', async () => {
    const r = await rig({ edges: 2 });
    r.client.start();
    await connected(r, r.edges[0]);
    await r.edges[0]!.send([delivery(7)]);
    r.edges[0]!.endSession({ reason: 'server_shutdown', reconnect: true });
    await connected(r, r.edges[1]);
    expect(await r.edges[1]!.send([delivery(7, { deliveryCount: 2 }), delivery(8)])).toEqual({ ack: ['ORDERS:7', 'ORDERS:8'] });
    expect(r.shown.map((s) => s.delivery.seq)).toEqual([7, 8]);
  });
});

describe('DisplayClient: orders:expired', () => {
  it('surfaces the notice as a typed orders_expired event, then acks it', async () => {
    const r = await rig();
    const seen: unknown[] = [];
    r.client.on('orders_expired', (info) => seen.push(info));
    r.client.start();
    await connected(r);
    const [socket] = r.edges[0]!.sockets();
    const notice = { orders: [{ orderId: 'A-1', expiredAt: 2_000, acceptedAt: 1_000 }], total: 3 };
    const answer = await socket!.timeout(5_000).emitWithAck('orders:expired', notice);
    expect(answer).toEqual({ ok: true });
    expect(seen).toEqual([{ ...notice, url: r.client.url }]);
  });

  it('does not ack a malformed notice (the edge tells it again) and reports it', async () => {
    const r = await rig();
    const seen: unknown[] = [];
    r.client.on('orders_expired', (info) => seen.push(info));
    r.client.start();
    await connected(r);
    const [socket] = r.edges[0]!.sockets();
    const bad = { orders: [{ orderId: 'A-1' }], total: 1 } as unknown as OrdersExpired;
    await expect(socket!.timeout(300).emitWithAck('orders:expired', bad)).rejects.toThrow();
    expect(seen).toEqual([]);
    expect(r.errors.map((e) => e.code)).toContain('ORDERWIRE_ERR_SDK_MALFORMED_DELIVERY');
  });
});
