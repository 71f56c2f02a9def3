/**
 * Production runs a 3-node JetStream cluster with JETSTREAM_REPLICAS=3 (issue 11): every stream
 * and bucket is applied R3, and losing any one node loses no accepted order and ingest keeps
 * answering 202 — a publish caught in the leader election is retried inside ingest with the same
 * msg id (INGEST_PUBLISH_RETRY_WINDOW) until the new quorum answers; no 2xx without its PubAck.
 * Orders are posted at a steady rate while the ORDERS stream leader is killed, brought back, and
 * then the meta leader is killed: every request must be answered 202.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { HEADERS } from '@orderwire/contracts';
import { kvDeclarations, loadTopologyConfig, ensureTopology, orderStreamName, streamDeclarations } from '@orderwire/platform';
import { startNatsCluster, waitFor, type NatsClusterHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bearer, buildTestApp, order, startJwks, type Jwks, type TestApp } from './helpers.js';

/** One new request every this many ms, whatever the others are doing (a steady upstream). */
const POST_INTERVAL_MS = 50;
/** Orders accepted after each election before the next step (the new leader really answers). */
const ACCEPTED_AFTER_STEP = 20;
/** Bound on each step (election + those orders). */
const STEP_TIMEOUT_MS = 15_000;
/** Upper bound of requests of the whole test (a runaway loop stops). */
const MAX_REQUESTS = 1_500;

const ORDER_STREAM = orderStreamName(0);
let cluster: NatsClusterHandle;
let jwks: Jwks;
let nc: NatsConnection;
let jsm: JetStreamManager;
let t: TestApp;
let token: string;

beforeAll(async () => {
  [cluster, jwks] = await Promise.all([startNatsCluster({ size: 3, startTimeoutMs: 45_000 }), startJwks()]);
  nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  jsm = await jetstreamManager(nc);
  // As `topology apply` with JETSTREAM_REPLICAS=3 does: every stream and bucket.
  // One order partition: the test kills the leader of THE order stream.
  const topology = loadTopologyConfig({ JETSTREAM_REPLICAS: '3', JETSTREAM_ORDER_PARTITIONS: '1' });
  await ensureTopology(nc, topology);
  t = await buildTestApp({ natsUrl: cluster.urls.join(','), jwksUrl: jwks.url, topology });
  token = await jwks.sign({ tenant: 't1', scopes: ['orders:write', 'orders:read'] });
}, 90_000);

afterAll(async () => {
  await t?.dispose();
  await nc?.close();
  await jwks?.close();
  await cluster?.dispose();
});

/** Every Ow-Order-Id stored in ORDERS, with how often it appears. */
async function storedOrderIds(): Promise<Map<string, number>> {
  const info = await jsm.streams.info(ORDER_STREAM);
  const out = new Map<string, number>();
  for (let first = info.state.first_seq; first <= info.state.last_seq; first += 100) {
    const seqs = Array.from({ length: Math.min(100, info.state.last_seq - first + 1) }, (_, i) => first + i);
    const msgs = await Promise.all(seqs.map((seq) => jsm.streams.getMessage(ORDER_STREAM, { seq })));
    for (const m of msgs) {
      if (m === null) continue;
      const id = m.header.get(HEADERS.orderId);
      out.set(id, (out.get(id) ?? 0) + 1);
    }
  }
  return out;
}

function nodeIndex(name: string | undefined): number {
  const i = cluster.servers.findIndex((s) => s.name === name);
  expect(i, `${name} is a node`).toBeGreaterThanOrEqual(0);
  return i;
}

/** Resolves once the ORDERS stream has a leader and every replica is current (caught up). */
async function ordersHealthy(): Promise<string> {
  let leader = '';
  await waitFor(
    async () => {
      const info = await jsm.streams.info(ORDER_STREAM).catch(() => undefined);
      const c = info?.cluster;
      if (c?.leader === undefined || c.replicas?.length !== 2 || !c.replicas.every((r) => r.current && r.offline !== true)) return false;
      leader = c.leader;
      return true;
    },
    { timeoutMs: STEP_TIMEOUT_MS, intervalMs: 200, message: 'ORDERS leader with 2 current replicas' },
  );
  return leader;
}

it('applies every stream and bucket with 3 replicas; killing the ORDERS leader, then the meta leader, every request is answered 202 and stored', async () => {
  const streams = [];
  for await (const si of jsm.streams.list()) streams.push(si);
  expect(streams).toHaveLength(streamDeclarations({ orderPartitions: 1 }).length + kvDeclarations().length);
  for (const si of streams) {
    expect(si.config.num_replicas, si.config.name).toBe(3);
    expect(si.cluster?.replicas, si.config.name).toHaveLength(2);
  }

  const accepted = new Set<string>();
  const failures: string[] = [];
  let maxMs = 0;
  let sent = 0;
  let stop = false;
  const inFlight = new Set<Promise<void>>();
  const post = async (): Promise<void> => {
    const o = order();
    const started = performance.now();
    const res = await t.app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(token), payload: o });
    maxMs = Math.max(maxMs, performance.now() - started);
    if (res.statusCode === 202) accepted.add(String(o.orderId));
    else failures.push(`${res.statusCode} ${res.body}`);
  };
  const producer = (async () => {
    while (!stop && sent < MAX_REQUESTS) {
      sent++;
      const p = post().finally(() => inFlight.delete(p));
      inFlight.add(p);
      await sleep(POST_INTERVAL_MS);
    }
  })();
  const acceptedMore = async (n: number, what: string): Promise<void> => {
    const target = accepted.size + n;
    await waitFor(() => accepted.size >= target, { timeoutMs: STEP_TIMEOUT_MS, intervalMs: 50, message: `${n} orders accepted ${what}` });
  };

  try {
    await acceptedMore(ACCEPTED_AFTER_STEP, 'before any kill');

    // Step 1: the ORDERS stream leader dies; the two followers elect a new one.
    const ordersLeader = await ordersHealthy();
    const first = nodeIndex(ordersLeader);
    await cluster.node(first).kill();
    await acceptedMore(ACCEPTED_AFTER_STEP, 'after the ORDERS leader was killed');
    await cluster.node(first).start();
    await ordersHealthy();
    await cluster.waitForMetaLeader(STEP_TIMEOUT_MS);

    // Step 2: the meta leader dies (it may also lead ORDERS again).
    const meta = await cluster.metaLeader();
    await cluster.node(nodeIndex(meta)).kill();
    await acceptedMore(ACCEPTED_AFTER_STEP, 'after the meta leader was killed');
  } finally {
    stop = true;
    await producer;
    await Promise.all(inFlight);
  }

  console.info(`replicas: ${sent} requests, ${accepted.size} accepted, worst latency ${Math.round(maxMs)} ms`);
  expect(failures).toEqual([]);
  expect(accepted.size).toBe(sent);
  // Every accepted order is in the stream on the surviving quorum, exactly once.
  const stored = await storedOrderIds();
  expect([...accepted].filter((id) => stored.get(id) !== 1)).toEqual([]);
  expect(stored.size).toBe(accepted.size);
  // The requests caught in the elections were retried inside ingest, not refused.
  expect(await t.metricsRegistry.text()).toMatch(/orderwire_ingest_publish_retries_total\{[^}]*reason="[a-z_]+"[^}]*\} [1-9]/);
}, 60_000);
