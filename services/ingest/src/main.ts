/**
 * The ingest process: config → logger → NATS → topology verified → Redis → app → listen. Shutdown runs
 * in reverse: stop taking requests, let in-flight ones finish, then Redis, then drain NATS.
 */
import { API_AUDIENCE } from '@orderwire/contracts';
import {
  createRevocationWatcher,
  describeRedisError,
  KV_BUCKETS,
  natsIdentityOptions,
  packageVersion,
  redactConfig,
  redisTlsOptions,
  runService,
  startService,
  STREAMS,
  trackRedisConnection,
} from '@orderwire/platform';
import { createTokenVerifier } from '@orderwire/token-verifier';
import { Redis } from 'ioredis';
import { createApp } from './app.js';
import { CONFIG_SPEC, loadIngestConfig } from './config.js';
import { rateLimitRedisOptions } from './redis-client.js';

async function main(): Promise<void> {
  const config = loadIngestConfig();
  const version = packageVersion(import.meta.url);
  const proc = startService({
    service: 'ingest',
    version,
    instance: config.instanceId,
    logLevel: config.logLevel,
    shutdownGraceMs: config.shutdownGraceMs,
    config: redactConfig(CONFIG_SPEC, config),
  });
  const { logger, metrics, health, shutdown } = proc;

  const nc = await proc.connectNats({
    servers: config.natsUrl,
    name: `ingest-${config.instanceId ?? process.pid}`,
    identity: natsIdentityOptions(config, 'ingest'),
    // RECEIPTS is read by subject with direct get (order status).
    topology: {
      streams: [STREAMS.ORDERS, { name: STREAMS.RECEIPTS, allowDirect: true }, STREAMS.AUDIT],
      buckets: [KV_BUCKETS.DISPLAYS, KV_BUCKETS.TENANTS, KV_BUCKETS.REVOKED_CLIENTS, KV_BUCKETS.WEBHOOKS, KV_BUCKETS.WEBHOOK_DELIVERIES],
    },
  });

  // Redis only holds rate-limit counters: never wait for it, never queue commands for it (redis-client.ts).
  const redis = new Redis(config.redisUrl, { ...redisTlsOptions(config), ...rateLimitRedisOptions(config), lazyConnect: true });
  trackRedisConnection(metrics, redis);
  // Debug only (counters fall back per process), except a refused password: that needs an operator.
  redis.on('error', (err: Error) => {
    const reason = describeRedisError(err);
    if (reason === err.message) logger.debug({ err }, 'redis error');
    else logger.error({ err, reason }, 'redis refused the credentials in REDIS_URL');
  });
  redis.connect().catch((err: unknown) => logger.warn({ err }, 'redis not reachable at start; rate limiting per process until it is'));
  shutdown.add('redis', () => {
    redis.disconnect();
  });

  // Every revoked client is known before the first request is served (see revocations.ts).
  const revocations = await createRevocationWatcher({ nc, logger, metrics });
  shutdown.add('revocations', () => revocations.stop());
  await revocations.synced(config.registrySyncTimeoutMs);
  const verifier = createTokenVerifier({
    jwksUrl: config.authJwksUrl,
    issuer: config.authIssuer,
    audience: API_AUDIENCE,
    logger,
    revocations,
  });
  const ingest = await createApp({
    config,
    logger,
    metrics,
    health,
    nc,
    redis,
    verifier,
    revocations,
    instance: config.instanceId ?? `ingest-${process.pid}`,
    version,
  });
  await proc.serve(ingest, { host: config.host, port: config.port, step: 'http' });
}

runService('ingest', main);
