/**
 * Auth service process: config → `startService` (logger, metrics, health, signals) → NATS
 * (+ topology verified) → Redis → app → listen. Shutdown runs in reverse: readiness off, stop
 * HTTP and rotation (lease released), Redis, then drain NATS.
 */
import { Redis } from 'ioredis';
import { describeRedisError, natsIdentityOptions, packageVersion, REDACTED, redisTlsOptions, runService, startService, trackRedisConnection } from '@orderwire/platform';
import { createApp } from './app.js';
import { loadAuthConfig } from './config.js';
import { authRedisOptions } from './redis-client.js';
import { startMailboxMigration } from './mailbox-migration.js';
import { authTopologyRequirements } from './topology.js';

async function main(): Promise<void> {
  const config = loadAuthConfig();
  const proc = startService({
    service: 'auth',
    version: packageVersion(import.meta.url),
    instance: config.instanceId,
    logLevel: config.logLevel,
    shutdownGraceMs: config.shutdownGraceMs,
    config: { ...config, kek: REDACTED, kekPrevious: config.kekPrevious === undefined ? undefined : REDACTED },
  });
  const { logger, metrics, health, shutdown } = proc;

  const nc = await proc.connectNats({
    servers: config.natsUrl,
    name: `auth/${config.instanceId}`,
    identity: natsIdentityOptions(config.natsIdentity, 'auth'),
    topology: authTopologyRequirements(config),
  });

  const redis = new Redis(config.redisUrl, { ...redisTlsOptions(config), ...authRedisOptions() });
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
  // Display mailboxes still under the legacy (ambiguous) consumer name move to the injective one.
  const migration = startMailboxMigration({ jsm: auth.ctx.jsm, displays: auth.ctx.displays, logger });
  shutdown.add('mailbox-migration', () => {
    migration.stop();
    return migration.done;
  });
  logger.info({ kid: auth.ctx.keys.signer().kid }, 'signing key loaded');
  await proc.serve(auth, { host: config.host, port: config.port, step: 'http' });
}

runService('auth', main);
