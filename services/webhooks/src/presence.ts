/**
 * display.offline / display.online. Presence is what the edges write to Redis (contracts
 * `presence.ts`: a live key while connected, a last-seen time per display); the backlog is the
 * display's mailbox consumer. Every `intervalMs`, for the tenants subscribed to a display.*
 * event only, this reads presence of their displays (MGET/HMGET in chunks, like auth's
 * `GET /v1/displays`) and decides:
 *
 *   offline: no live key, last seen ≥ offlineAfter ago, and orders waiting (backlog > 0),
 *            not yet reported ──► display.offline; a presence record `p.<tenant>.<display>`
 *   online:  live key, and a presence record exists ──► display.online; the record is deleted
 *
 * The events' ids hash the absence (display + last-seen time), and the deliveries are created
 * before the presence record changes, so a crash in between repeats the step without a second
 * event. Redis is loss-tolerant: when it cannot be read the sweep is skipped (no event is made
 * up from missing data).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  presenceLiveKey,
  presenceSeenKey,
  webhookPresenceKey,
  type DisplayRecord,
  type PresenceSeen,
  type WebhookPresenceRecord,
} from '@orderwire/contracts';
import { createKvMirror, createOrderStreamLocator, isWrongLastSequence, KV_BUCKETS, type KvMirror, type Logger, type NatsConnection } from '@orderwire/platform';
import type { Redis } from 'ioredis';
import type { Endpoints } from './endpoints.js';
import { displayEvent } from './events.js';
import { createDeliveries } from './intake.js';
import type { WebhooksMetrics } from './metrics.js';

/** Keys per MGET / fields per HMGET. */
const PRESENCE_CHUNK = 500;
const DISPLAY_EVENTS = ['display.offline', 'display.online'] as const;

interface DisplayRef {
  tenant: string;
  displayId: string;
  storeId: string;
  consumer: string;
}

export interface PresenceMonitor {
  start(syncTimeoutMs: number): Promise<void>;
  /** One sweep now (tests; the timer calls it too). */
  sweep(): Promise<void>;
  stop(): Promise<void>;
  /** False after a sweep that could not read Redis. */
  healthy(): boolean;
}

export function createPresenceMonitor(deps: {
  nc: NatsConnection;
  jsm: JetStreamManager;
  redis: Redis;
  kv: KV;
  endpoints: Endpoints;
  metrics: WebhooksMetrics;
  logger: Logger;
  offlineAfterMs: number;
  intervalMs: number;
}): PresenceMonitor {
  const { redis, kv, endpoints, metrics } = deps;
  const log = deps.logger.child({ component: 'presence' });
  const displays = new Map<string, Map<string, DisplayRef>>();
  /** Presence records known to exist (`p.<tenant>.<display>`): loaded at start, kept by our writes. */
  const reported = new Set<string>();
  let mirror: KvMirror<DisplayRef> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  let redisOk = true;

  // The mailbox lives on the order stream of the display's store (vp → stream, cached).
  const streams = createOrderStreamLocator(deps.jsm);

  async function backlog(d: DisplayRef): Promise<number | undefined> {
    try {
      const info = await deps.jsm.consumers.info(await streams.streamFor(d.tenant, d.storeId), d.consumer);
      return info.num_pending + info.num_ack_pending;
    } catch (err) {
      // A partition move since the map was read: read it again next time.
      streams.invalidate();
      log.warn({ err, tenant: d.tenant, displayId: d.displayId }, 'display backlog not readable');
      return undefined;
    }
  }

  async function offline(d: DisplayRef, lastSeen: number, now: number): Promise<void> {
    const n = await backlog(d);
    if (n === undefined || n === 0) return;
    const key = webhookPresenceKey(d.tenant, d.displayId);
    const e = displayEvent('display.offline', { tenant: d.tenant, displayId: d.displayId, storeId: d.storeId, lastSeen: new Date(lastSeen).toISOString(), backlog: n }, now, lastSeen);
    await createDeliveries(kv, endpoints, metrics, e, now);
    const record: WebhookPresenceRecord = { v: 1, tenant: d.tenant, displayId: d.displayId, lastSeen, reportedAt: new Date(now).toISOString() };
    try {
      await kv.create(key, JSON.stringify(record));
      metrics.presenceEvents.inc({ type: 'display.offline' });
      log.info({ tenant: d.tenant, displayId: d.displayId, backlog: n }, 'display offline with a backlog: reported');
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err; // another replica reported it
    }
    reported.add(key);
  }

  async function online(d: DisplayRef, now: number): Promise<void> {
    const key = webhookPresenceKey(d.tenant, d.displayId);
    const entry = await kv.get(key);
    if (entry === null || entry.operation !== 'PUT') {
      reported.delete(key);
      return;
    }
    const rec = entry.json<WebhookPresenceRecord>();
    const e = displayEvent(
      'display.online',
      { tenant: d.tenant, displayId: d.displayId, storeId: d.storeId, lastSeen: new Date(rec.lastSeen).toISOString(), offlineSeconds: Math.max(0, Math.round((now - rec.lastSeen) / 1000)) },
      now,
      rec.lastSeen,
    );
    await createDeliveries(kv, endpoints, metrics, e, now);
    try {
      await kv.delete(key, { previousSeq: entry.revision });
      metrics.presenceEvents.inc({ type: 'display.online' });
      log.info({ tenant: d.tenant, displayId: d.displayId }, 'display back online: reported');
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err;
    }
    reported.delete(key);
  }

  async function sweepTenant(tenant: string, now: number): Promise<void> {
    const list = [...(displays.get(tenant)?.values() ?? [])];
    for (let i = 0; i < list.length; i += PRESENCE_CHUNK) {
      const chunk = list.slice(i, i + PRESENCE_CHUNK);
      let live: (string | null)[];
      let seen: (string | null)[];
      try {
        [live, seen] = await Promise.all([
          redis.mget(chunk.map((d) => presenceLiveKey(tenant, d.displayId))),
          redis.hmget(presenceSeenKey(tenant), ...chunk.map((d) => d.displayId)),
        ]);
        redisOk = true;
      } catch (err) {
        redisOk = false;
        log.warn({ err }, 'display presence not readable (Redis unavailable); sweep skipped');
        return;
      }
      for (const [j, d] of chunk.entries()) {
        const isLive = live[j] !== null && live[j] !== undefined;
        const key = webhookPresenceKey(tenant, d.displayId);
        if (isLive) {
          if (reported.has(key)) await online(d, now);
          continue;
        }
        if (reported.has(key)) continue;
        let s: PresenceSeen | undefined;
        try {
          s = seen[j] === null || seen[j] === undefined ? undefined : (JSON.parse(seen[j]) as PresenceSeen);
        } catch {
          s = undefined;
        }
        // Never seen: it has not been gone, it has not come yet.
        if (s === undefined || typeof s.at !== 'number') continue;
        if (now - s.at >= deps.offlineAfterMs) await offline(d, s.at, now);
      }
    }
  }

  async function sweep(): Promise<void> {
    const now = Date.now();
    for (const tenant of endpoints.tenantsSubscribedTo(DISPLAY_EVENTS)) {
      try {
        await sweepTenant(tenant, now);
      } catch (err) {
        log.error({ err, tenant }, 'presence sweep failed for a tenant; next sweep retries');
      }
    }
  }

  function sweepOnce(): Promise<void> {
    sweeping ??= sweep().finally(() => {
      sweeping = undefined;
    });
    return sweeping;
  }

  return {
    async start(syncTimeoutMs) {
      for await (const k of await kv.keys('p.>')) reported.add(k);
      mirror = await createKvMirror<DisplayRef>({
        nc: deps.nc,
        bucket: KV_BUCKETS.DISPLAYS,
        logger: deps.logger,
        parse: (_key, value) => {
          const r = value as DisplayRecord | undefined;
          if (r === undefined || r === null || typeof r !== 'object' || typeof r.tenant !== 'string') return undefined;
          return r.status === 'decommissioned' ? null : { tenant: r.tenant, displayId: r.displayId, storeId: r.storeId, consumer: r.consumer };
        },
        onChange: (key, value) => {
          const tenant = key.slice(0, key.indexOf('.'));
          const id = key.slice(key.indexOf('.') + 1);
          let m = displays.get(tenant);
          if (value === undefined) {
            m?.delete(id);
            if (m?.size === 0) displays.delete(tenant);
            return;
          }
          if (m === undefined) {
            m = new Map<string, DisplayRef>();
            displays.set(tenant, m);
          }
          m.set(id, value);
        },
      });
      await mirror.synced(syncTimeoutMs);
      timer = setInterval(() => {
        sweepOnce().catch((err: unknown) => log.error({ err }, 'presence sweep failed'));
      }, deps.intervalMs);
      timer.unref();
    },
    sweep: sweepOnce,
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      await sweeping;
      await mirror?.stop();
    },
    healthy: () => redisOk,
  };
}
