/**
 * Auth service process: config → logger → NATS (+ topology) → Redis → app → listen.
 * Shutdown runs in reverse: stop HTTP and rotation (lease released), Redis, then drain NATS.
 */
import { Redis } from 'ioredis';
import {
  closeNats,
  connectNats,
  createHealth,
  createLogger,
  createMetrics,
  trackNatsConnection,
  trackRedisConnection,
  createShutdown,
  describeRedisError,
  ensureTopology,
  natsIdentityOptions,
  redisTlsOptions,
  runService,
} from '@orderwire/platform';
import { createApp } from './app.js';
import { loadAuthConfig } from './config.js';
import { authTopologyOptions } from './topology.js';
import { AUTH_VERSION } from './version.js';

/** @default 500 ms per Redis command; a slow Redis must not stall token requests. */
const REDIS_COMMAND_TIMEOUT_MS = 500;

async function main(): Promise<void> {
  const config = loadAuthConfig();
  const logger = createLogger({ service: 'auth', version: AUTH_VERSION, instance: config.instanceId, level: config.logLevel });
  const shutdown = createShutdown({ logger, deadlineMs: config.shutdownGraceMs });
  shutdown.install();
  const health = createHealth();
  const metrics = createMetrics({ service: 'auth' });

  const nc = await connectNats({
    servers: config.natsUrl,
    name: `auth/${config.instanceId}`,
    logger,
    ...natsIdentityOptions(config.natsIdentity, 'auth'),
  });
  trackNatsConnection(metrics, nc);
  shutdown.add('nats', () => closeNats(nc, logger));
  await ensureTopology(nc, { logger, ...authTopologyOptions(config) });

  const redis = new Redis(config.redisUrl, {
    ...redisTlsOptions(config),
    // Fail fast while disconnected: the limiter then uses its local fallback.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    lazyConnect: false,
  });
  trackRedisConnection(metrics, redis);
  // ioredis reports every failed reconnect; one line per outage is enough.
  let redisDown = false;
  redis.on('error', (err: Error) => {
    if (redisDown) return;
    redisDown = true;
    logger.warn({ err, reason: describeRedisError(err) }, 'redis unavailable; rate limits fall back to per-process counting');
  });
  redis.on('ready', () => {
    if (redisDown) logger.info('redis available again');
    redisDown = false;
  });
  shutdown.add('redis', async () => {
    await redis.quit().catch(() => redis.disconnect());
  });

  const auth = await createApp({ config, logger, nc, redis, metrics, health });
  shutdown.add('http', async () => {
    health.markStopping();
    await auth.close();
  });
  await auth.app.listen({ host: config.host, port: config.port });
  health.markStarted();
  logger.info({ host: config.host, port: config.port, kid: auth.ctx.keys.signer().kid }, 'auth service ready');
}

runService('auth', main);
