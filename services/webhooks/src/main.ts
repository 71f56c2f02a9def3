/**
 * The webhooks dispatcher process: config → logger → NATS → topology verified → Redis (presence,
 * loss-tolerant) → app (endpoints, scheduler, intake, presence, HTTP) → listen. Shutdown runs
 * in reverse: stop reading events, let attempts in flight finish and record, then drain NATS.
 */
import {
  defaultInstanceId,
  describeRedisError,
  KV_BUCKETS,
  natsIdentityOptions,
  packageVersion,
  redactConfig,
  redisTlsOptions,
  runService,
  startService,
  STREAMS,
} from '@orderwire/platform';
import { Redis } from 'ioredis';
import { createApp } from './app.js';
import { CONFIG_SPEC, loadWebhooksConfig } from './config.js';

/** Reconnect backoff to Redis: 200 ms more per attempt, at most 5 s. */
const REDIS_RECONNECT_STEP_MS = 200;
const REDIS_RECONNECT_MAX_MS = 5_000;
/** Presence reads are one MGET per chunk: a slow Redis is an unavailable one. */
const REDIS_COMMAND_TIMEOUT_MS = 2_000;

async function main(): Promise<void> {
  const config = loadWebhooksConfig();
  const version = packageVersion(import.meta.url);
  const instance = config.instanceId ?? defaultInstanceId();
  const proc = startService({
    service: 'webhooks',
    version,
    instance,
    logLevel: config.logLevel,
    shutdownGraceMs: config.shutdownGraceMs,
    config: redactConfig(CONFIG_SPEC, config),
  });
  const { logger, metrics, health, shutdown } = proc;

  const nc = await proc.connectNats({
    servers: config.natsUrl,
    name: `webhooks-${instance}`,
    identity: natsIdentityOptions(config, 'webhooks'),
    topology: {
      streams: [STREAMS.RECEIPTS, STREAMS.ORDERS],
      buckets: [KV_BUCKETS.WEBHOOKS, KV_BUCKETS.WEBHOOK_DELIVERIES, KV_BUCKETS.DISPLAYS],
    },
  });

  const redis = new Redis(config.redisUrl, {
    ...redisTlsOptions(config),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * REDIS_RECONNECT_STEP_MS, REDIS_RECONNECT_MAX_MS),
  });
  redis.on('error', (err: Error) => {
    const reason = describeRedisError(err);
    if (reason === err.message) logger.debug({ err }, 'redis error');
    else logger.error({ err, reason }, 'redis refused the credentials in REDIS_URL');
  });
  redis.connect().catch((err: unknown) => logger.warn({ err }, 'redis not reachable at start; display.* events wait for it'));
  shutdown.add('redis', () => {
    redis.disconnect();
  });

  const webhooks = await createApp({ config, logger, metrics, health, nc, redis, instance });
  await proc.serve(webhooks, { host: config.host, port: config.port, step: 'app' });
}

runService('webhooks', main);
