/**
 * Test environment of the DLQ service: a real nats-server (harness) with the Orderwire topology,
 * the harness's real JWKS endpoint for client tokens, and helpers that play the
 * edge's part: pull from a display's consumer and terminate (reject) or nak a message.
 */
import { headers as natsHeaders } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import {
  API_AUDIENCE,
  displayConsumerName,
  displaySubject,
  HEADERS,
  stationSubject,
  type OrderEnvelope,
  type Scope,
} from '@orderwire/contracts';
import { createHealth, createLogger, createMetrics, ensureDisplayConsumer, ensureTopology, orderStreamName, STREAMS, type Health, type Metrics } from '@orderwire/platform';

/** The one order stream of the test topology (P = 1). */
export const ORDER_STREAM = orderStreamName(0);
import { startJwks, startNats, waitFor, type NatsServerHandle } from '@orderwire/test-harness';
import { createTokenVerifier, type TokenVerifier } from '@orderwire/token-verifier';
import { createApp, type ApiLimitsConfig, type AppConfig, type DlqApp } from '../src/app.js';
import type { DlqEntry } from '../src/entry.js';

export const ISSUER = 'orderwire-auth';

export const TEST_CONFIG: AppConfig & ApiLimitsConfig = {
  rateLimitMax: 10_000,
  rateLimitWindowMs: 60_000,
  authFailureMax: 20,
  authFailureWindowMs: 60_000,
  auditWindowMs: 60_000,
  auditMaxKeys: 1_000,
  natsTimeoutMs: 5_000,
  captureConsumer: 'dlq_capture',
  captureBatch: 16,
  captureAckWaitMs: 5_000,
  captureRetryMaxMs: 1_000,
  replayMax: 500,
  indexSyncTimeoutMs: 10_000,
  readBarrierTimeoutMs: 2_000,
  statsIntervalMs: 200,
};

export interface Env {
  nats: NatsServerHandle;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  verifier: TokenVerifier;
  jwksUrl: string;
  token(tenant: string, scopes: readonly Scope[], clientId?: string): Promise<string>;
  dispose(): Promise<void>;
}

let jtiCounter = 0;

export async function startEnv(): Promise<Env> {
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  // One order partition: these tests address THE order stream; the multi-stream paths are the
  // system tests' (default P) and the edge's repartition test.
  await ensureTopology(nc, { orderPartitions: 1 });
  const jwks = await startJwks();
  const verifier = createTokenVerifier({ jwksUrl: jwks.url, issuer: ISSUER, audience: API_AUDIENCE });
  return {
    nats,
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    verifier,
    jwksUrl: jwks.url,
    async token(tenant, scopes, clientId = 'operator-client') {
      const now = Math.floor(Date.now() / 1000);
      return jwks.sign({
        typ: 'client',
        tid: tenant,
        scope: scopes.join(' '),
        jti: `jti-${++jtiCounter}`,
        iss: ISSUER,
        aud: API_AUDIENCE,
        sub: clientId,
        iat: now,
        exp: now + 600,
      });
    },
    async dispose() {
      await nc.close();
      await jwks.dispose();
      await nats.dispose();
    },
  };
}

export interface TestApp extends DlqApp {
  registry: Metrics;
  health: Health;
}

export async function buildApp(env: Env, overrides: Partial<AppConfig & ApiLimitsConfig> & { capture?: boolean } = {}): Promise<TestApp> {
  const { capture, ...config } = overrides;
  const metrics = createMetrics({ service: 'dlq', defaultMetrics: false });
  const health = createHealth();
  const app = await createApp({
    config: { ...TEST_CONFIG, ...config },
    logger: createLogger({ service: 'dlq', version: 'test', level: process.env.TEST_LOG_LEVEL === undefined ? 'silent' : 'debug' }),
    metrics,
    health,
    nc: env.nc,
    verifier: env.verifier,
    instance: 'dlq-test',
    ...(capture === undefined ? {} : { capture }),
  });
  health.markStarted();
  return Object.assign(app, { registry: metrics, health });
}

export interface DisplayOpts {
  maxDeliver?: number;
  ackWaitMs?: number;
}

export async function addDisplay(env: Env, tenant: string, store: string, displayId: string, stations: string[], opts: DisplayOpts = {}): Promise<void> {
  await ensureDisplayConsumer(
    env.jsm,
    { tenant, store, displayId, stations },
    { maxDeliver: opts.maxDeliver ?? 50, ackWaitMs: opts.ackWaitMs ?? 30_000 },
  );
}

export function envelope(tenant: string, orderId: string): OrderEnvelope {
  return {
    v: 1,
    tenant,
    order: { orderId, storeId: 'ignored', station: 'ignored', items: [{ name: 'Burger', qty: 1 }] } as unknown as OrderEnvelope['order'],
    acceptedAt: Date.now(),
    traceId: `trace-${orderId}`.replace(/[^a-z0-9-]/gi, '-'),
  };
}

/** Publishes an order like ingest does (station or targeted display subject); returns its ORDERS sequence. */
export async function publishOrder(
  env: Env,
  tenant: string,
  store: string,
  orderId: string,
  target: { station: string } | { displayId: string },
): Promise<number> {
  const env0 = envelope(tenant, orderId);
  const h = natsHeaders();
  h.set(HEADERS.orderId, orderId);
  h.set(HEADERS.tenant, tenant);
  h.set(HEADERS.acceptedAt, String(env0.acceptedAt));
  h.set(HEADERS.traceId, env0.traceId);
  const subject = 'station' in target ? stationSubject(tenant, store, target.station) : displaySubject(tenant, store, target.displayId);
  const ack = await env.js.publish(subject, JSON.stringify(env0), { headers: h, msgID: `${tenant}:${orderId}:${subject}` });
  return ack.seq;
}

/** Pulls the next message of a display's mailbox (as the edge does). */
export async function pull(env: Env, tenant: string, displayId: string, expiresMs = 2_000): Promise<JsMsg | null> {
  const c = await env.js.consumers.get(ORDER_STREAM, displayConsumerName(tenant, displayId));
  return c.next({ expires: expiresMs });
}

/** The edge's reaction to a display rejecting the order EDGE_MAX_FAILURES times. */
export async function reject(env: Env, tenant: string, displayId: string, reason: string): Promise<JsMsg> {
  const m = await pull(env, tenant, displayId);
  if (m === null) throw new Error(`no message for ${tenant}/${displayId}`);
  m.term(reason);
  await env.nc.flush();
  return m;
}

/** Delivers and naks until max_deliver is exhausted, then pulls once more so the server notices. */
export async function exhaust(env: Env, tenant: string, displayId: string, maxDeliver: number): Promise<number> {
  let seq = 0;
  for (let i = 0; i < maxDeliver; i++) {
    const m = await pull(env, tenant, displayId);
    if (m === null) throw new Error(`delivery ${i + 1} did not come`);
    seq = m.seq;
    m.nak();
    await env.nc.flush();
  }
  const extra = await pull(env, tenant, displayId, 1_000);
  if (extra !== null) throw new Error(`message ${extra.seq} delivered past max_deliver`);
  return seq;
}

export async function entriesOf(app: DlqApp, tenant: string): Promise<DlqEntry[]> {
  const page = await app.ops.list(tenant, {}, { limit: 200 });
  return Promise.all(page.items.map((s) => app.ops.get(tenant, s.id)));
}

export async function waitForEntries(app: DlqApp, tenant: string, count: number, timeoutMs = 10_000): Promise<DlqEntry[]> {
  const all = await waitFor(
    async () => {
      const found = await entriesOf(app, tenant);
      return found.length >= count ? found : undefined;
    },
    { timeoutMs, message: () => `${count} DLQ entries for ${tenant}` },
  );
  return all!;
}

/** Waits until the capture consumer has nothing pending or unacked. */
export async function captureIdle(env: Env, consumer = TEST_CONFIG.captureConsumer): Promise<void> {
  await waitFor(
    async () => {
      const info = await env.jsm.consumers.info(STREAMS.ADVISORIES, consumer);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
    { timeoutMs: 10_000, message: 'capture consumer idle' },
  );
}

export async function metricValue(app: TestApp, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await app.registry.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}
