/**
 * The raw floor: what the two building blocks cost on this machine without any Orderwire code,
 * measured in the same run so Orderwire's figures can be printed as ratios to it.
 *
 * - JetStream: publish (await PubAck) → a durable pull consumer receives it → `ackAck()`
 *   (server-confirmed), one message at a time, file storage like ORDERS.
 * - Socket.IO: server `emitWithAck` → client handler → ack back, websocket transport.
 * - Pipeline: the two chained — publish → consume → emitWithAck → client shows it → JetStream
 *   ackAck. Latency to "shown" is the floor of Orderwire's accept → display-ack figure.
 *
 * Everything runs in this process against a separate nats-server, so the floor is measured on
 * an idle broker with no HTTP, auth, validation, per-display consumers or batching.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { AckPolicy, DeliverPolicy, StorageType, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Server } from 'socket.io';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import { startNats } from '@orderwire/test-harness';
import { BenchError } from './errors.js';
import { Samples, type LatencySummary } from './stats.js';

/** 2000 samples per measurement */
export const FLOOR_SAMPLES = 2000;
/** 200 warm-up round trips not counted */
export const FLOOR_WARMUP = 200;
/** 5 s per single round trip before the floor run fails */
const FLOOR_STEP_TIMEOUT_MS = 5_000;

export interface FloorResult {
  /** publish → PubAck */
  jsPublish: LatencySummary;
  /** publish → consumer receives */
  jsPublishToConsume: LatencySummary;
  /** publish → consumer receives → ackAck confirmed */
  jsPublishConsumeAck: LatencySummary;
  /** server emitWithAck → client ack back */
  socketIoRoundTrip: LatencySummary;
  /** publish → consume → emit → client shows (the floor of accept → display ack) */
  pipelineToShown: LatencySummary;
  samples: number;
}

function must(s: LatencySummary | undefined, what: string): LatencySummary {
  if (s === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FLOOR', `no samples for ${what}`);
  return s;
}

async function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BenchError('ORDERWIRE_ERR_BENCH_FLOOR', `${what} took over ${FLOOR_STEP_TIMEOUT_MS} ms`)), FLOOR_STEP_TIMEOUT_MS);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A pull consumer read one message at a time through an async iterator. */
function nextMessage(iter: AsyncIterator<JsMsg>): Promise<JsMsg> {
  return iter.next().then((r) => {
    if (r.done === true) throw new BenchError('ORDERWIRE_ERR_BENCH_FLOOR', 'consumer ended');
    return r.value;
  });
}

async function socketPair(): Promise<{ server: Server; http: HttpServer; client: ClientSocket; serverSocket: Promise<import('socket.io').Socket> }> {
  const http = createServer();
  const server = new Server(http, { transports: ['websocket'], serveClient: false });
  const serverSocket = new Promise<import('socket.io').Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  const client = ioClient(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
  await withTimeout(new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('connect_error', reject);
  }), 'socket.io connect');
  return { server, http, client, serverSocket };
}

export async function measureFloor(samples: number = FLOOR_SAMPLES): Promise<FloorResult> {
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  let consumerMessages: ConsumerMessages | undefined;
  const pair = await socketPair();
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'FLOOR', subjects: ['floor.>'], storage: StorageType.File });
    await jsm.consumers.add('FLOOR', { durable_name: 'floor', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 1000 });
    const js = jetstream(nc);
    const consumer = await js.consumers.get('FLOOR', 'floor');
    consumerMessages = await consumer.consume({ max_messages: 64 });
    const iter = consumerMessages[Symbol.asyncIterator]();
    const sock = await pair.serverSocket;
    const payload = JSON.stringify({ orderId: 'floor', storeId: 's', station: 'k', items: [{ name: 'Burger', qty: 1 }] });

    const jsPublish = new Samples(samples);
    const jsToConsume = new Samples(samples);
    const jsFull = new Samples(samples);
    const sioRtt = new Samples(samples);
    const pipeline = new Samples(samples);

    let shownAt = 0;
    pair.client.on('orders', (_batch: unknown, ack: (a: unknown) => void) => {
      shownAt = performance.now();
      ack({ ack: ['x'] });
    });

    for (let i = -FLOOR_WARMUP; i < samples; i++) {
      const record = i >= 0;
      // JetStream alone.
      const t0 = performance.now();
      const received = nextMessage(iter);
      await withTimeout(js.publish('floor.a', payload), 'publish');
      const t1 = performance.now();
      const m = await withTimeout(received, 'consume');
      const t2 = performance.now();
      await withTimeout(m.ackAck(), 'ackAck');
      const t3 = performance.now();
      if (record) {
        jsPublish.add(t1 - t0);
        jsToConsume.add(t2 - t0);
        jsFull.add(t3 - t0);
      }

      // Socket.IO alone.
      const s0 = performance.now();
      await withTimeout(sock.timeout(FLOOR_STEP_TIMEOUT_MS).emitWithAck('orders', [{ deliveryId: 'x' }]), 'emitWithAck');
      if (record) sioRtt.add(performance.now() - s0);

      // Chained.
      const p0 = performance.now();
      const next = nextMessage(iter);
      await withTimeout(js.publish('floor.b', payload), 'publish');
      const pm = await withTimeout(next, 'consume');
      await withTimeout(sock.timeout(FLOOR_STEP_TIMEOUT_MS).emitWithAck('orders', [{ deliveryId: 'y', order: pm.string() }]), 'emitWithAck');
      if (record) pipeline.add(shownAt - p0);
      await withTimeout(pm.ackAck(), 'ackAck');
    }
    return {
      jsPublish: must(jsPublish.summary(), 'publish'),
      jsPublishToConsume: must(jsToConsume.summary(), 'publish→consume'),
      jsPublishConsumeAck: must(jsFull.summary(), 'publish→consume→ack'),
      socketIoRoundTrip: must(sioRtt.summary(), 'socket.io'),
      pipelineToShown: must(pipeline.summary(), 'pipeline'),
      samples,
    };
  } finally {
    consumerMessages?.stop();
    pair.client.close();
    await pair.server.close().catch(() => {});
    await sleep(10);
    await nc.close().catch(() => {});
    await nats.dispose();
  }
}
