/**
 * Real servers for edge tests: nats-server with the platform topology, redis-server, a JWKS,
 * plus helpers to register displays and publish orders exactly as ingest does.
 */
import { randomUUID } from 'node:crypto';
import { headers as natsHeaders, connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { HEADERS, ORDER_ENVELOPE_VERSION, displaySubject, stationSubject, type OrderEnvelope } from '@orderwire/contracts';
import { ensureDisplayConsumer, ensureTopology, listOrderStreams } from '@orderwire/platform';
import { startNats, startRedis, type NatsServerHandle, type RedisServerHandle } from '@orderwire/test-harness';
import { startJwks, type DisplayIdentity, type TestJwks } from './jwks.js';

export interface Infra {
  nats: NatsServerHandle;
  redis: RedisServerHandle;
  jwks: TestJwks;
  /** The test's own connection (publishing, inspecting). */
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  dispose(): Promise<void>;
}

/** `topology: false` leaves the server empty (a test that builds a legacy system first). */
export async function startInfra(opts: { topology?: boolean } = {}): Promise<Infra> {
  const [nats, redis, jwks] = await Promise.all([startNats(), startRedis(), startJwks()]);
  const nc = await connect({ servers: nats.url, name: 'edge-test', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  if (opts.topology !== false) await ensureTopology(nc);
  const jsm = await jetstreamManager(nc);
  return {
    nats,
    redis,
    jwks,
    nc,
    js: jetstream(nc),
    jsm,
    async dispose() {
      await nc.close().catch(() => undefined);
      await Promise.all([nats.dispose(), redis.dispose(), jwks.close()]);
    },
  };
}

let displayCounter = 0;

/** A fresh display identity (unique ids per test). */
export function newDisplay(overrides: Partial<DisplayIdentity> = {}): DisplayIdentity {
  const n = ++displayCounter;
  return { tenant: 't1', store: `store${n}`, displayId: `d${n}-${randomUUID().slice(0, 8)}`, stations: ['grill'], ...overrides };
}

/** Creates the display's consumer the way auth does at registration. */
export async function registerDisplay(infra: Infra, d: DisplayIdentity, opts: { ackWaitMs?: number } = {}): Promise<string> {
  const r = await ensureDisplayConsumer(infra.jsm, d, opts.ackWaitMs === undefined ? {} : { ackWaitMs: opts.ackWaitMs });
  return r.info.name;
}

export interface Published {
  orderId: string;
  /** The order stream the PubAck named. */
  stream: string;
  seq: number;
}

/**
 * Publishes one order as ingest does (envelope, headers, Nats-Msg-Id, awaited PubAck);
 * `subject` overrides the subject (a legacy-layout fixture).
 */
export async function publishOrder(
  infra: Pick<Infra, 'js'>,
  d: DisplayIdentity,
  o: { orderId?: string; station?: string; targeted?: boolean; subject?: string } = {},
): Promise<Published> {
  const orderId = o.orderId ?? `ord-${randomUUID()}`;
  const station = o.station ?? d.stations[0]!;
  const acceptedAt = Date.now();
  const traceId = randomUUID().replace(/-/g, '');
  const envelope: OrderEnvelope = {
    v: ORDER_ENVELOPE_VERSION,
    tenant: d.tenant,
    acceptedAt,
    traceId,
    order: {
      orderId,
      storeId: d.store,
      station,
      items: [{ name: 'Burger', qty: 1, modifiers: [] }],
      priority: 'normal',
      createdAt: new Date(acceptedAt).toISOString(),
      metadata: {},
    },
  };
  const h = natsHeaders();
  h.set(HEADERS.orderId, orderId);
  h.set(HEADERS.tenant, d.tenant);
  h.set(HEADERS.acceptedAt, String(acceptedAt));
  h.set(HEADERS.traceId, traceId);
  const subject = o.subject ?? (o.targeted === true ? displaySubject(d.tenant, d.store, d.displayId) : stationSubject(d.tenant, d.store, station));
  const ack = await infra.js.publish(subject, JSON.stringify(envelope), { headers: h, msgID: `${d.tenant}:${orderId}` });
  return { orderId, stream: ack.stream, seq: ack.seq };
}

/** The display consumer's ack floor (stream seq) and unacked count. */
export async function consumerState(infra: Infra, consumer: string, stream?: string): Promise<{ ackFloor: number; ackPending: number; pending: number }> {
  let info;
  for (const s of stream === undefined ? await listOrderStreams(infra.jsm) : [stream]) {
    info = await infra.jsm.consumers.info(s, consumer).catch(() => undefined);
    if (info !== undefined) break;
  }
  if (info === undefined) throw new Error(`consumer ${consumer} not found on any order stream`);
  return { ackFloor: info.ack_floor.stream_seq, ackPending: info.num_ack_pending, pending: info.num_pending };
}
