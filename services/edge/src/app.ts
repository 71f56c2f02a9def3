/**
 * Builds an edge node from its dependencies: the platform HTTP server (probes, /metrics) with
 * Socket.IO on the same port, the delivery engine, and the Redis adapter. Tests build it with
 * real NATS/Redis; `main.ts` adds the process around it.
 */
import type { AddressInfo } from 'node:net';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { DISPLAY_AUDIENCE } from '@orderwire/contracts';
import {
  KV_BUCKETS,
  createOrderStreamLocator,
  createAuditAggregator,
  createExpiredNotices,
  createHealth,
  createHttpServer,
  createMetrics,
  createMuxedConnection,
  httpServerOptions,
  natsHealthCheck,
  type AuditAggregator,
  type Health,
  type Logger,
  type Metrics,
  type MuxedConnection,
} from '@orderwire/platform';
import { createTokenVerifier, type TokenVerifier } from '@orderwire/token-verifier';
import type { FastifyInstance } from 'fastify';
import type { EdgeConfig } from './config.js';
import { createDeliveryEngine, type DeliveryEngine, type DeliveryEngineOptions } from './delivery/engine.js';
import { createReceiptWriter } from './delivery/receipt-writer.js';
import { createEdgeMetrics, type EdgeMetrics } from './metrics.js';
import { createPresence, type Presence } from './socket/presence.js';
import { createRedisAdapter, type RedisAdapterHandle } from './socket/redis-adapter.js';
import { createEdgeSocketServer, type EdgeSocketServer } from './socket/server.js';

/**
 * How long the drain waits for pull answers in flight (their messages are nak'ed back too) and
 * for double acks and receipts already sent.
 */
const DRAIN_SETTLE_MS = 3_000;
/** At most one presence error log line per this interval. */
const PRESENCE_ERROR_LOG_INTERVAL_MS = 10_000;
/** The edge's HTTP routes are probes and /metrics: no request body is ever needed. */
const EDGE_HTTP_BODY_LIMIT = 1024;

export interface EdgeAppDeps {
  config: EdgeConfig;
  logger: Logger;
  nc: NatsConnection;
  metrics?: Metrics;
  health?: Health;
  /** Defaults to a verifier of `config.jwksUrl` / `config.issuer` for audience `edge`. */
  verifier?: TokenVerifier;
  /** false: no Redis adapter (single node, in-memory). @default true */
  redis?: boolean;
  /** The delivery engine's pull transport (a benchmark's or a test's wrapper); the raw single-shot puller when absent. */
  createPuller?: DeliveryEngineOptions['createPuller'];
}

export interface EdgeApp {
  http: FastifyInstance;
  sockets: EdgeSocketServer;
  engine: DeliveryEngine;
  metrics: Metrics;
  edgeMetrics: EdgeMetrics;
  health: Health;
  redis: RedisAdapterHandle | undefined;
  /** Aggregated audit of refused handshakes (`auth_failures`). */
  audit: AuditAggregator;
  /** Listens on `config.host:config.port`; resolves to `http://host:port`. */
  listen(): Promise<string>;
  /**
   * SIGTERM path: not ready, refuse handshakes, tell every display to reconnect elsewhere,
   * hand every held message back at once, stop pulling. Idempotent.
   */
  drain(): Promise<void>;
  /** drain(), then close Socket.IO, HTTP and Redis (NATS belongs to the caller). */
  close(): Promise<void>;
}

export async function createApp(deps: EdgeAppDeps): Promise<EdgeApp> {
  // The JetStream API reads of handshakes (the mailbox's consumer info, the display's expired
  // notices) and the audit's publishes go over one reply mux: the client library's own
  // `request()` builds three stack-capturing errors per call, 4 % of the edge's CPU while 10,000
  // displays connect (issue 14 round 10). Subscriptions stay on the connection itself.
  const muxed = createMuxedConnection(deps.nc, { logger: deps.logger });
  try {
    return await build(deps, muxed);
  } catch (err) {
    muxed.close();
    throw err;
  }
}

async function build(deps: EdgeAppDeps, muxed: MuxedConnection): Promise<EdgeApp> {
  const { config, logger, nc } = deps;
  const metrics = deps.metrics ?? createMetrics({ service: 'edge' });
  const health = deps.health ?? createHealth();
  const edgeMetrics = createEdgeMetrics(metrics);
  const verifier =
    deps.verifier ??
    createTokenVerifier({
      jwksUrl: config.jwksUrl,
      issuer: config.issuer,
      audience: DISPLAY_AUDIENCE,
      logger: logger.child({ component: 'token-verifier' }),
      // An edge sees a display token once per connection (a refresh brings a new one), so a cache
      // of verified tokens saved almost no signature checks here — and kept up to 10,000 tokens
      // (~0.6 KB each) alive for connected displays that never present them again.
      verifiedTokenCacheSize: 0,
    });
  const jsm = await jetstreamManager(muxed.nc);

  // Bound once: a ring is counted on the delivery path, per order.
  const ringsMatched = edgeMetrics.doorbellRings.labels({ outcome: 'matched' });
  const ringsUnmatched = edgeMetrics.doorbellRings.labels({ outcome: 'unmatched' });
  const engine = createDeliveryEngine({
    nc,
    logger: logger.child({ component: 'delivery' }),
    batchMax: config.batchMax,
    maxOutstandingPulls: config.pullConcurrency,
    sweepIntervalMs: config.sweepIntervalMs,
    sweepMaxRate: config.sweepMaxRate,
    ...(deps.createPuller === undefined ? {} : { createPuller: deps.createPuller }),
    onPull(o) {
      edgeMetrics.pulls.inc({ outcome: o.status });
      edgeMetrics.pullWakeups.inc({ reason: o.reason });
      edgeMetrics.pullLatency.observe(o.ms / 1000);
    },
    onRing(matched) {
      (matched ? ringsMatched : ringsUnmatched).inc();
    },
  });
  const receipts = createReceiptWriter({ mux: engine.mux, instanceId: config.instanceId, timeoutMs: config.jsAckTimeoutMs });
  const redis = deps.redis === false ? undefined : createRedisAdapter(config, logger, edgeMetrics);
  const presenceLog = logger.child({ component: 'presence' });
  let presenceLoggedAt = 0;
  const presence: Presence | undefined =
    redis === undefined
      ? undefined
      : createPresence({
          redis: redis.pub,
          instanceId: config.instanceId,
          refreshMs: config.presenceRefreshMs,
          ttlMs: config.presenceTtlMs,
          onError(err) {
            edgeMetrics.redisErrors.inc({ op: 'presence' });
            // An outage is one event, not one line per display.
            if (Date.now() - presenceLoggedAt < PRESENCE_ERROR_LOG_INTERVAL_MS) return;
            presenceLoggedAt = Date.now();
            presenceLog.warn({ err }, 'presence not written (Redis unavailable); delivery unaffected');
          },
        });

  // EDGE_TRUST_PROXY is the older spelling of TRUSTED_PROXIES; `true` meant "one proxy in front".
  const httpOptions = httpServerOptions(config, { env: 'EDGE_TRUST_PROXY', value: config.trustProxy ? '1' : undefined });
  const http = createHttpServer({ logger, health, metrics, bodyLimit: EDGE_HTTP_BODY_LIMIT, ...httpOptions });
  // Refused handshakes reach AUDIT aggregated: one `auth_failures` event per address per window.
  const audit = createAuditAggregator({
    js: jetstream(muxed.nc),
    service: 'edge',
    instance: config.instanceId,
    logger,
    metrics,
    windowMs: config.auditWindowMs,
    maxKeys: config.auditMaxKeys,
  });
  audit.start();
  const sockets = createEdgeSocketServer({
    audit,
    httpServer: http.server,
    nc,
    jsm,
    streams: createOrderStreamLocator(jsm),
    engine,
    receipts,
    verifier,
    metrics: edgeMetrics,
    logger,
    instanceId: config.instanceId,
    settings: {
      ackTimeoutMs: config.ackTimeoutMs,
      batchMax: config.batchMax,
      batchMaxBytes: config.batchMaxBytes,
      maxFailures: config.maxFailures,
      nakDelayMs: config.nakDelayMs,
      nakDelayMaxMs: config.nakDelayMaxMs,
      jsAckTimeoutMs: config.jsAckTimeoutMs,
    },
    transports: config.transports as ('websocket' | 'polling')[],
    allowedOrigins: config.allowedOrigins,
    handshakeRate: config.handshakeRate,
    handshakeBurst: config.handshakeBurst,
    handshakeConsumerReads: config.handshakeConsumerReads,
    trustedProxies: httpOptions.trustedProxies!,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    maxMessageBytes: config.maxMessageBytes,
    socketEventRate: config.socketEventRate,
    socketEventBurst: config.socketEventBurst,
    pingIntervalMs: config.pingIntervalMs,
    pingTimeoutMs: config.pingTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    ...(redis === undefined ? {} : { adapter: redis.adapter }),
    ...(presence === undefined ? {} : { presence }),
    notices: createExpiredNotices(await new Kvm(muxed.nc).open(KV_BUCKETS.EXPIRED_NOTICES)),
  });

  edgeMetrics.bind({
    connections: () => sockets.sessions,
    natsConnected: () => engine.natsConnected(),
    redisConnected: () => redis?.connected(),
    displaysWithBacklog: () => sockets.displaysWithBacklog(),
    oldestUnackedAgeSeconds: () => sockets.oldestHeldAgeSeconds(),
    outstandingPulls: () => engine.stats().outstandingPulls,
    doorbellSubscriptions: () => engine.stats().doorbellSubscriptions,
    storeCounts: () => presence?.storeCounts(config.presenceStoreLabels) ?? [],
  });
  health.register('nats', natsHealthCheck(nc));
  if (redis !== undefined) {
    // Not critical: without Redis this node still delivers (see docs/delivery.md).
    health.register(
      'redis',
      async () => {
        const error = redis.lastError();
        return { ok: redis.connected(), detail: `pub ${redis.pub.status}, sub ${redis.sub.status}${error === undefined ? '' : `; ${error}`}` };
      },
      {
        critical: false,
      },
    );
  }

  let draining: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  async function drainOnce(): Promise<void> {
    const started = Date.now();
    health.markStopping();
    const { sessions, handedBack } = sockets.drain();
    // Pulls still in flight: their messages arrive to closed mailboxes and are nak'ed back.
    await engine.close(DRAIN_SETTLE_MS);
    logger.info({ sessions, handedBack, ms: Date.now() - started }, 'edge drained');
  }

  const app: EdgeApp = {
    http,
    sockets,
    engine,
    metrics,
    edgeMetrics,
    health,
    redis,
    audit,
    async listen() {
      await http.listen({ host: config.host, port: config.port });
      const addr = http.server.address() as AddressInfo;
      return `http://${addr.address}:${addr.port}`;
    },
    drain() {
      draining ??= drainOnce();
      return draining;
    },
    close() {
      closing ??= (async () => {
        await app.drain();
        await sockets.close();
        presence?.close();
        if (http.server.listening) await http.close();
        await audit.stop();
        muxed.close();
        await redis?.close();
      })();
      return closing;
    },
  };
  return app;
}
