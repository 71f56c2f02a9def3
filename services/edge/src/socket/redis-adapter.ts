/**
 * The Socket.IO Redis adapter, made safe for a Redis outage.
 *
 * Redis holds nothing the edge cannot lose: the adapter only carries cross-node room
 * broadcasts (here: the takeover of a display's older session on another node). The adapter
 * calls `pubClient.publish()` without handling its promise, so a Redis outage would surface as
 * unhandled rejections; the publish is wrapped to log and count instead, and runs without an
 * offline queue, so a broadcast made during the outage is dropped rather than replayed minutes
 * later against a newer session. Local delivery never touches Redis.
 */
import { describeRedisError, redisTlsOptions, type RedisClientConfig } from '@orderwire/platform';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { REDIS_OPS, type EdgeMetrics } from '../metrics.js';

/** At most one Redis error log line per this interval (an outage is one event, not thousands). */
const ERROR_LOG_INTERVAL_MS = 10_000;
/** 'orderwire-edge' Redis channel prefix of the adapter. */
export const ADAPTER_KEY = 'orderwire-edge';

export interface RedisAdapterHandle {
  adapter: ReturnType<typeof createAdapter>;
  pub: Redis;
  sub: Redis;
  /** True while both clients are connected. */
  connected(): boolean;
  /** The last connection error, as `describeRedisError` words it (cleared when both are ready). */
  lastError(): string | undefined;
  close(): Promise<void>;
}

/**
 * The publishing client's options (adapter broadcasts, takeover notices, presence). Commands fail
 * at once while disconnected (no offline queue). Autopipelining: the takeover notice and the
 * presence claim every handshake sends go out with those of the other handshakes of the same
 * event-loop turn, in one write (ioredis flushes at the next `setImmediate`; each command keeps
 * its own reply or error, in order) — a reconnection storm handles many handshakes per turn:
 * redis-server's CPU per connecting display −14 to −20 %, the edge's −4 to −9 % with the muxed
 * JetStream reads (issue 14 round 10).
 */
export function publisherOptions(): RedisOptions {
  return { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false, enableAutoPipelining: true };
}

export function createRedisAdapter(config: RedisClientConfig, logger: Logger, metrics: EdgeMetrics): RedisAdapterHandle {
  const log = logger.child({ component: 'redis-adapter' });
  let lastLog = 0;
  let lastError: string | undefined;
  const report = (op: (typeof REDIS_OPS)[number], err: unknown): void => {
    metrics.redisErrors.inc({ op });
    lastError = describeRedisError(err);
    const now = Date.now();
    if (now - lastLog < ERROR_LOG_INTERVAL_MS) return;
    lastLog = now;
    if (lastError !== (err instanceof Error ? err.message : String(err))) {
      // A refused password is a deployment error, not an outage: say so, loudly.
      log.error({ err, op, reason: lastError }, 'redis refused the credentials in REDIS_URL: cross-node broadcasts disabled');
      return;
    }
    log.warn({ err, op }, 'redis unavailable: cross-node broadcasts degraded, local delivery unaffected');
  };

  const tls = redisTlsOptions(config);
  const pub = new Redis(config.redisUrl, { ...tls, ...publisherOptions() });
  // Subscriptions issued while Redis is down must wait for it, not fail: they are re-sent on connect.
  const sub = new Redis(config.redisUrl, { ...tls, maxRetriesPerRequest: null, lazyConnect: false });
  pub.on('error', (err: unknown) => report('pub', err));
  sub.on('error', (err: unknown) => report('sub', err));
  const onReady = (role: string) => (): void => {
    log.info(`redis ${role} connected`);
    if (pub.status === 'ready' && sub.status === 'ready') lastError = undefined;
  };
  pub.on('ready', onReady('publisher'));
  sub.on('ready', onReady('subscriber'));

  // The adapter fires commands without handling their promises (publish on every broadcast,
  // (un)subscribe at start and close); each one is guarded so an outage is counted and
  // logged, never an unhandled rejection. A failed publish resolves to 0 receivers.
  const guard = (client: Redis, role: 'pub' | 'sub'): Redis =>
    new Proxy(client, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        const fn = value as (...a: unknown[]) => unknown;
        return (...a: unknown[]): unknown => {
          const result = fn.apply(target, a);
          if (!(result instanceof Promise)) return result;
          if (prop === 'publish') return result.catch((err: unknown) => (report('publish', err), 0));
          // The label is the client role, not the command: bounded cardinality.
          result.catch((err: unknown) => report(role, err));
          return result;
        };
      },
    });

  return {
    adapter: createAdapter(guard(pub, 'pub'), guard(sub, 'sub'), { key: ADAPTER_KEY }),
    pub,
    sub,
    connected: () => pub.status === 'ready' && sub.status === 'ready',
    lastError: () => lastError,
    async close() {
      await Promise.all(
        [pub, sub].map(async (c) => {
          try {
            if (c.status === 'ready') await c.quit();
            else c.disconnect();
          } catch {
            c.disconnect();
          }
        }),
      );
    },
  };
}
