/**
 * Connection-state gauges for the two dependencies every SRE asks about first. They are
 * read at scrape time (collect callbacks), so they never go stale between events.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Metrics } from './metrics.js';
import { isNatsConnected } from './nats.js';

/** The part of an ioredis client the gauge reads (`'ready'` when commands can run). */
export interface RedisStatusSource {
  readonly status: string;
}

/** Registers `orderwire_nats_connected` (1 connected, 0 disconnected/reconnecting/closed). */
export function trackNatsConnection(metrics: Metrics, nc: NatsConnection): void {
  metrics.gauge({
    name: 'orderwire_nats_connected',
    help: 'Whether this process is connected to NATS (1) or not (0)',
    collect() {
      this.set(isNatsConnected(nc) ? 1 : 0);
    },
  });
}

/** Registers `orderwire_redis_connected` (1 when the client is ready, else 0). */
export function trackRedisConnection(metrics: Metrics, redis: RedisStatusSource): void {
  metrics.gauge({
    name: 'orderwire_redis_connected',
    help: 'Whether this process has a ready Redis connection (1) or not (0)',
    collect() {
      this.set(redis.status === 'ready' ? 1 : 0);
    },
  });
}
