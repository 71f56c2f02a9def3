/**
 * Builds the webhooks dispatcher from its dependencies (tests call this with a real NATS, Redis
 * and HTTP receivers): endpoint mirror → scheduler (pending deliveries, attempts) → intake
 * (RECEIPTS consumer) → presence monitor → the platform's HTTP base (healthz, readyz, metrics;
 * no API). `close()` stops in reverse: no new events, then attempts finish, then the mirrors.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import {
  addressPolicyOf,
  createHttpServer,
  httpServerOptions,
  KV_BUCKETS,
  natsHealthCheck,
  type Health,
  type Logger,
  type Metrics,
  type NatsConnection,
} from '@orderwire/platform';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { WebhooksConfig } from './config.js';
import { createEndpoints, type Endpoints } from './endpoints.js';
import { createIntake, type Intake } from './intake.js';
import { createWebhooksMetrics, type WebhooksMetrics } from './metrics.js';
import { createPresenceMonitor, type PresenceMonitor } from './presence.js';
import { createScheduler, type Scheduler } from './scheduler.js';
import { createSender } from './sender.js';

export type AppConfig = Omit<WebhooksConfig, 'retrySchedule'>;

export interface AppDeps {
  config: AppConfig;
  logger: Logger;
  metrics: Metrics;
  health: Health;
  nc: NatsConnection;
  /** Display presence; without it there are no display.* events. */
  redis: Redis | undefined;
  /** INSTANCE_ID: recorded in delivery claims. */
  instance: string;
}

export interface WebhooksApp {
  app: FastifyInstance;
  endpoints: Endpoints;
  scheduler: Scheduler;
  intake: Intake;
  presence: PresenceMonitor | undefined;
  metrics: WebhooksMetrics;
  close(): Promise<void>;
}

export async function createApp(deps: AppDeps): Promise<WebhooksApp> {
  const { config, logger, nc, health } = deps;
  const metrics = createWebhooksMetrics(deps.metrics);
  for (const state of ['enabled', 'disabled']) metrics.endpoints.set({ state }, 0);
  for (const reason of ['gone', 'failing']) metrics.endpointsDisabled.inc({ reason }, 0);
  const js = jetstream(nc, { timeout: config.natsTimeoutMs });
  const jsm = await jetstreamManager(nc, { timeout: config.natsTimeoutMs });
  const deliveriesKv = await new Kvm(js).open(KV_BUCKETS.WEBHOOK_DELIVERIES);
  const policy = addressPolicyOf(config);
  const sender = createSender({ policy, allowHttp: config.webhooksAllowHttp, timeoutMs: config.requestTimeoutMs });

  // The gauges follow every change of the mirror (which calls back before it is returned).
  const holder: { eps?: Endpoints } = {};
  const updateEndpointGauges = (): void => {
    if (holder.eps === undefined) return;
    const c = holder.eps.counts();
    metrics.endpoints.set({ state: 'enabled' }, c.enabled);
    metrics.endpoints.set({ state: 'disabled' }, c.disabled);
  };
  const eps = await createEndpoints({ nc, logger, onChange: updateEndpointGauges });
  holder.eps = eps;
  const scheduler = createScheduler({
    nc,
    kv: deliveriesKv,
    endpoints: eps,
    sender,
    metrics,
    logger,
    instance: deps.instance,
    retryScheduleMs: config.retryScheduleMs,
    requestTimeoutMs: config.requestTimeoutMs,
    concurrency: config.concurrency,
    endpointConcurrency: config.endpointConcurrency,
    disableAfterMs: config.disableAfterMs,
    tickMs: config.tickMs,
    retryAfterMaxMs: config.retryAfterMaxMs,
    breaker: {
      errorThresholdPercentage: config.breakerErrorThreshold,
      volumeThreshold: config.breakerVolumeThreshold,
      resetTimeoutMs: config.breakerResetTimeoutMs,
      windowMs: config.breakerWindowMs,
    },
  });
  const intake = createIntake({ js, jsm, kv: deliveriesKv, endpoints: eps, metrics, logger, consumer: config.receiptsConsumer, timeoutMs: config.natsTimeoutMs });
  const presence =
    deps.redis === undefined
      ? undefined
      : createPresenceMonitor({
          nc,
          jsm,
          redis: deps.redis,
          kv: deliveriesKv,
          endpoints: eps,
          metrics,
          logger,
          offlineAfterMs: config.offlineAfterMs,
          intervalMs: config.presenceIntervalMs,
        });

  const started: Array<() => Promise<void>> = [];
  try {
    await eps.synced(config.syncTimeoutMs);
    updateEndpointGauges();
    started.push(() => eps.stop());
    await scheduler.start(config.syncTimeoutMs);
    started.push(() => scheduler.stop());
    // Events flow only once endpoints are known (an event must find its subscribers).
    await intake.start();
    started.push(() => intake.stop());
    if (presence !== undefined) {
      await presence.start(config.syncTimeoutMs);
      started.push(() => presence.stop());
    }
  } catch (err) {
    for (const stop of started.reverse()) await stop();
    sender.close();
    throw err;
  }

  const app = createHttpServer({ logger, health, metrics: deps.metrics, ...httpServerOptions(config) });
  health.register('nats', natsHealthCheck(nc));
  health.register('endpoints', async () => (eps.watching() ? { ok: true, detail: `${eps.counts().enabled} enabled` } : { ok: false, detail: 'watch restarting' }));
  health.register('deliveries', async () =>
    scheduler.watching() ? { ok: true, detail: `${scheduler.pendingCount()} pending` } : { ok: false, detail: 'watch restarting' },
  );
  health.register('receipts-intake', async () => (intake.running() ? { ok: true } : { ok: false, detail: 'consumer stopped' }));
  if (presence !== undefined) {
    health.register('presence-redis', async () => (presence.healthy() ? { ok: true } : { ok: false, detail: 'redis unavailable; display.* events paused' }), {
      critical: false,
    });
  }
  await app.ready();

  return {
    app,
    endpoints: eps,
    scheduler,
    intake,
    presence,
    metrics,
    async close() {
      await app.close();
      if (presence !== undefined) await presence.stop();
      await intake.stop();
      await scheduler.stop();
      await eps.stop();
      sender.close();
    },
  };
}
