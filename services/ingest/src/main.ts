/**
 * The ingest process: config → logger → NATS → topology → Redis → app → listen. Shutdown runs
 * in reverse: stop taking requests, let in-flight ones finish, then Redis, then drain NATS.
 */
import { API_AUDIENCE } from '@orderwire/contracts';
import {
  closeNats,
  connectNats,
  createHealth,
  createLogger,
  createMetrics,
  trackNatsConnection,
  trackRedisConnection,
  createShutdown,
  ensureTopology,
  KV_BUCKETS,
  redactConfig,
  STREAMS,
} from '@orderwire/platform';
import { createTokenVerifier } from '@orderwire/token-verifier';
import { Redis } from 'ioredis';
import { createApp } from './app.js';
import { CONFIG_SPEC, loadIngestConfig } from './config.js';
import { packageVersion } from './version.js';

/** @default 2 s cap between Redis reconnect attempts */
const REDIS_RECONNECT_MAX_MS = 2_000;
/** @default 200 ms × attempt between Redis reconnect attempts (capped above) */
const REDIS_RECONNECT_STEP_MS = 200;

async function main(): Promise<void> {
  const config = loadIngestConfig();
  const version = packageVersion();
  const logger = createLogger({ service: 'ingest', version, instance: config.instanceId, level: config.logLevel });
  logger.info({ config: redactConfig(CONFIG_SPEC, config) }, 'ingest starting');
  const metrics = createMetrics({ service: 'ingest' });
  const health = createHealth();
  const shutdown = createShutdown({ logger, deadlineMs: config.shutdownGraceMs });
  const abort = new AbortController();
  const uninstall = shutdown.install();
  shutdown.add('signals', () => uninstall());
  shutdown.add('startup', () => abort.abort());

  const nc = await connectNats({ servers: config.natsUrl, name: `ingest-${config.instanceId ?? process.pid}`, logger, signal: abort.signal });
  trackNatsConnection(metrics, nc);
  shutdown.add('nats', () => closeNats(nc, logger));
  await ensureTopology(nc, { streams: [STREAMS.ORDERS, STREAMS.RECEIPTS], buckets: [KV_BUCKETS.DISPLAYS], logger });

  // Redis only holds rate-limit counters: never wait for it, never queue commands for it.
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: config.rateLimitRedisTimeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * REDIS_RECONNECT_STEP_MS, REDIS_RECONNECT_MAX_MS),
  });
  trackRedisConnection(metrics, redis);
  redis.on('error', (err: Error) => logger.debug({ err }, 'redis error'));
  redis.connect().catch((err: unknown) => logger.warn({ err }, 'redis not reachable at start; rate limiting per process until it is'));
  shutdown.add('redis', () => {
    redis.disconnect();
  });

  const verifier = createTokenVerifier({ jwksUrl: config.authJwksUrl, issuer: config.authIssuer, audience: API_AUDIENCE, logger });
  const ingest = await createApp({ config, logger, metrics, health, nc, redis, verifier, version });
  shutdown.add('http', () => ingest.close());
  shutdown.add('readiness', () => health.markStopping());

  await ingest.app.listen({ host: config.host, port: config.port });
  health.markStarted();
  logger.info({ host: config.host, port: config.port }, 'ingest ready');
}

main().catch((err: unknown) => {
  // The logger may not exist yet (bad config): stderr is the one channel that always works.
  console.error(JSON.stringify({ level: 'fatal', service: 'ingest', msg: 'ingest failed to start', err: String(err), code: (err as { code?: unknown }).code }));
  process.exit(1);
});
