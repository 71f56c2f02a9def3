/**
 * The per-tenant order quota: order publishes per minute, counting what each order costs JetStream
 * — one publish for a station order, one per target display for a targeted order — so a tenant
 * cannot fill the shared ORDERS stream (and with it every other tenant's intake) by targeting
 * many displays. The quota is the tenant record's `quotas.ordersPerMinute` in `ow_tenants` (set
 * with `orderwire-auth tenant create|update --orders-per-minute`), watched here, else
 * INGEST_TENANT_ORDERS_PER_MINUTE.
 *
 * Counted in Redis with the shared limiter, so all ingest replicas share one budget per tenant;
 * Redis down fails open to per-process counting (each replica admits up to the quota): intake
 * continues, `orderwire_ingest_rate_limit_degraded` is 1 and the limiter logs it. A refused
 * request takes nothing from the budget.
 */
import {
  createKvMirror,
  KV_BUCKETS,
  type KvMirror,
  type Logger,
  type NatsConnection,
  type QuotaResult,
  type RateLimiter,
  type TakeSpec,
} from '@orderwire/platform';
import type { FastifyReply } from 'fastify';
import { INGEST_ERRORS } from './errors.js';
import type { IngestMetrics } from './metrics.js';

/** The quota is per minute. */
export const ORDER_QUOTA_WINDOW_MS = 60_000;

export interface OrderQuota {
  /**
   * Takes `cost` publishes from the tenant's budget of this minute.
   * @throws ORDERWIRE_ERR_INGEST_ORDER_QUOTA_EXCEEDED (429, `Retry-After` set on `reply`)
   */
  take(tenant: string, cost: number, reply: FastifyReply): Promise<void>;
  /** What `take` takes, for a limiter call that counts something else in the same round trip. */
  spec(tenant: string, cost: number): TakeSpec;
  /**
   * Judges the result of taking `taken` (a `spec(tenant, …)`).
   * @throws ORDERWIRE_ERR_INGEST_ORDER_QUOTA_EXCEEDED (429, `Retry-After` set on `reply`)
   */
  settle(tenant: string, taken: TakeSpec, res: QuotaResult, reply: FastifyReply): void;
  /** The quota that applies to `tenant` now. */
  quotaOf(tenant: string): number;
  synced(timeoutMs: number): Promise<void>;
  watching(): boolean;
  stop(): Promise<void>;
}

export interface OrderQuotaOptions {
  nc: NatsConnection;
  limiter: RateLimiter;
  /** INGEST_TENANT_ORDERS_PER_MINUTE */
  defaultPerMinute: number;
  metrics: IngestMetrics;
  logger: Logger;
}

/** Publishes an order costs: its target displays, or one for the station subject. */
export function orderCost(order: { displayIds?: readonly string[] | undefined }): number {
  return order.displayIds !== undefined && order.displayIds.length > 0 ? order.displayIds.length : 1;
}

export async function createOrderQuota(options: OrderQuotaOptions): Promise<OrderQuota> {
  const { limiter, defaultPerMinute, metrics } = options;
  metrics.quotaExceeded.inc({ quota: 'orders' }, 0);
  const overrides: KvMirror<number> = await createKvMirror<number>({
    nc: options.nc,
    bucket: KV_BUCKETS.TENANTS,
    logger: options.logger,
    // Only tenants with an override are kept; the others use the default.
    parse: (_key, value) => {
      const q = (value as { quotas?: { ordersPerMinute?: unknown } } | null)?.quotas?.ordersPerMinute;
      return typeof q === 'number' && Number.isSafeInteger(q) && q > 0 ? q : undefined;
    },
  });
  const quotaOf = (tenant: string): number => overrides.get(tenant) ?? defaultPerMinute;
  const spec = (tenant: string, cost: number): TakeSpec => ({ key: `quota:orders:${tenant}`, cost, max: quotaOf(tenant), windowMs: ORDER_QUOTA_WINDOW_MS });
  function settle(tenant: string, taken: TakeSpec, res: QuotaResult, reply: FastifyReply): void {
    if (res.allowed) return;
    const { max: quota, cost } = taken;
    metrics.quotaExceeded.inc({ quota: 'orders' });
    const retryAfterSeconds = Math.max(1, Math.ceil(res.ttl / 1000));
    void reply.header('retry-after', String(retryAfterSeconds));
    throw INGEST_ERRORS.create(
      'ORDERWIRE_ERR_INGEST_ORDER_QUOTA_EXCEEDED',
      { tenant, quota, after: `${retryAfterSeconds}s` },
      { details: { quota, used: res.used, cost, windowSeconds: ORDER_QUOTA_WINDOW_MS / 1000, retryAfterSeconds } },
    );
  }
  return {
    quotaOf,
    spec,
    settle,
    async take(tenant, cost, reply) {
      const s = spec(tenant, cost);
      settle(tenant, s, await limiter.take(s.key, s.cost, s.max, s.windowMs), reply);
    },
    synced: (timeoutMs) => overrides.synced(timeoutMs),
    watching: () => overrides.watching(),
    stop: () => overrides.stop(),
  };
}
