/**
 * Test environment of the dispatcher: a real nats-server with the Orderwire topology, real HTTP
 * receivers on 127.0.0.1 whose answers the test scripts, and an independent implementation of
 * Standard Webhooks verification (written from the spec, not from src/signature.ts).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  receiptSubject,
  webhookDeliveryKey,
  webhookEndpointKey,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
  type WebhookEventType,
  type WebhookSecret,
} from '@orderwire/contracts';
import { createHealth, createLogger, createMetrics, ensureTopology, KV_BUCKETS, type Metrics } from '@orderwire/platform';
import { startNats, waitFor, type NatsServerHandle, type WaitForOptions } from '@orderwire/test-harness';
import type { Redis } from 'ioredis';
import { createApp, type AppConfig, type WebhooksApp } from '../src/app.js';
import { loadWebhooksConfig } from '../src/config.js';

export interface Env {
  nats: NatsServerHandle;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  endpointsKv: KV;
  deliveriesKv: KV;
  dispose(): Promise<void>;
}

export async function startEnv(): Promise<Env> {
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  await ensureTopology(nc);
  const kvm = new Kvm(nc);
  return {
    nats,
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    endpointsKv: await kvm.open(KV_BUCKETS.WEBHOOKS),
    deliveriesKv: await kvm.open(KV_BUCKETS.WEBHOOK_DELIVERIES),
    async dispose() {
      await nc.close();
      await nats.dispose();
    },
  };
}

/** Fast settings for tests: a short schedule, short timeouts, the loopback allowlisted. */
export const TEST_ENV: Record<string, string> = {
  WEBHOOKS_ALLOW_HTTP: 'true',
  WEBHOOKS_ALLOWED_CIDRS: '127.0.0.1/32,::1/128',
  WEBHOOKS_RETRY_SCHEDULE: '200ms,400ms,800ms',
  WEBHOOKS_REQUEST_TIMEOUT: '2s',
  WEBHOOKS_TICK: '50ms',
  WEBHOOKS_SYNC_TIMEOUT: '10s',
  WEBHOOKS_BREAKER_RESET_TIMEOUT: '500ms',
  WEBHOOKS_PRESENCE_INTERVAL: '1h', // tests sweep by hand
};

export interface TestApp extends WebhooksApp {
  registry: Metrics;
}

export function testConfig(env: Record<string, string> = {}): AppConfig {
  return loadWebhooksConfig({ ...TEST_ENV, ...env });
}

export async function buildApp(e: Env, env: Record<string, string> = {}, redis?: Redis): Promise<TestApp> {
  const metrics = createMetrics({ service: 'webhooks', defaultMetrics: false });
  const health = createHealth();
  const app = await createApp({
    config: testConfig(env),
    logger: createLogger({ service: 'webhooks', version: 'test', level: process.env.TEST_LOG_LEVEL === undefined ? 'silent' : 'debug' }),
    metrics,
    health,
    nc: e.nc,
    redis,
    instance: `webhooks-test-${randomBytes(3).toString('hex')}`,
  });
  health.markStarted();
  return Object.assign(app, { registry: metrics });
}

export function newTestSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

let endpointCounter = 0;

/** Writes an endpoint record the way ingest's management API does. */
export async function addEndpoint(
  e: Env,
  tenant: string,
  url: string,
  events: readonly WebhookEventType[],
  secrets: WebhookSecret[] = [{ secret: newTestSecret(), createdAt: new Date().toISOString() }],
): Promise<WebhookEndpointRecord> {
  const id = `ep_${(++endpointCounter).toString(16).padStart(8, '0')}${randomBytes(8).toString('hex')}`;
  const at = new Date().toISOString();
  const record: WebhookEndpointRecord = { v: 1, id, tenant, url, events: [...events], enabled: true, secrets, createdAt: at, updatedAt: at };
  await e.endpointsKv.put(webhookEndpointKey(tenant, id), JSON.stringify(record));
  return record;
}

export async function readEndpoint(e: Env, tenant: string, id: string): Promise<WebhookEndpointRecord | undefined> {
  const entry = await e.endpointsKv.get(webhookEndpointKey(tenant, id));
  return entry === null || entry.operation !== 'PUT' ? undefined : entry.json<WebhookEndpointRecord>();
}

export async function readDelivery(e: Env, tenant: string, endpointId: string, messageId: string): Promise<WebhookDeliveryRecord | undefined> {
  const entry = await e.deliveriesKv.get(webhookDeliveryKey(tenant, endpointId, messageId));
  return entry === null || entry.operation !== 'PUT' ? undefined : entry.json<WebhookDeliveryRecord>();
}

/** Publishes a receipt like the edge / DLQ / status writers do (latest per subject). */
export async function publishReceipt(
  e: Env,
  r: { tenant: string; orderId: string; displayId: string; status: string; seq: number; traceId?: string; reason?: string; edge?: string; stream?: string },
): Promise<void> {
  await e.js.publish(receiptSubject(r.tenant, r.orderId, r.displayId), JSON.stringify({ at: Date.now(), ...r }));
}

export interface Received {
  at: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Answer = { status: number; headers?: Record<string, string> } | 'hang';

/**
 * A real HTTP receiver. `answer` decides per request (default 204); every request is recorded.
 * `close()` stops listening (the port stays known so `listen()` can come back on it).
 */
export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly received: Received[];
  answer: (req: Received, n: number) => Answer;
  close(): Promise<void>;
  listen(): Promise<void>;
}

export async function startReceiver(path = '/hook', port = 0): Promise<Receiver> {
  const received: Received[] = [];
  const hanging = new Set<http.ServerResponse>();
  let server: http.Server | undefined;
  let boundPort = port;
  const r: Receiver = {
    get url() {
      return `http://127.0.0.1:${boundPort}${path}`;
    },
    get port() {
      return boundPort;
    },
    received,
    answer: () => ({ status: 204 }),
    async listen() {
      server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const rec: Received = { at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
          received.push(rec);
          const a = r.answer(rec, received.length);
          if (a === 'hang') {
            hanging.add(res);
            return;
          }
          res.writeHead(a.status, a.headers ?? {});
          res.end();
        });
      });
      const s = server;
      await new Promise<void>((resolve) => s.listen(boundPort, '127.0.0.1', resolve));
      boundPort = (s.address() as AddressInfo).port;
    },
    async close() {
      for (const res of hanging) res.destroy();
      hanging.clear();
      const s = server;
      server = undefined;
      if (s === undefined) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await r.listen();
  return r;
}

/**
 * Standard Webhooks verification, written from the specification for the tests: the signed
 * content is `${id}.${timestamp}.${body}`, the key the base64 decoding of the secret after
 * `whsec_`, the signature HMAC-SHA256 in base64, the header a space-separated list of
 * `v1,<signature>`; valid when any listed v1 signature matches (constant-time) and the
 * timestamp is within the tolerance.
 */
export function verifyStandardWebhook(secret: string, headers: http.IncomingHttpHeaders, body: string, toleranceSec = 300): boolean {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigHeader = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sigHeader !== 'string') return false;
  const tsNum = Number(ts);
  if (!Number.isInteger(tsNum) || Math.abs(Date.now() / 1000 - tsNum) > toleranceSec) return false;
  const key = Buffer.from(secret.split('_')[1] ?? '', 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
  return sigHeader.split(' ').some((part) => {
    const [version, sig] = part.split(',');
    if (version !== 'v1' || sig === undefined) return false;
    const given = Buffer.from(sig, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** `waitFor` for a value: resolves with the first defined one (typed without `undefined`). */
export async function waitValue<T>(fn: () => Promise<T | undefined>, options?: WaitForOptions): Promise<T> {
  return (await waitFor(fn, options)) as T;
}
