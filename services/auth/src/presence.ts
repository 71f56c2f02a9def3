/**
 * Presence for `GET /v1/displays`: what the edges wrote to Redis (contracts `presence.ts`) —
 * online, which edge, connected since, last seen — plus each display's backlog from its
 * JetStream consumer (`num_pending + num_ack_pending`: what it has not yet acked).
 *
 * Redis is loss-tolerant: when it cannot be read the list still answers, with `online: null`
 * and `presence: "unavailable"`. A consumer that cannot be read has `backlog: null`.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { presenceLiveKey, presenceSeenKey, type DisplayRecord, type PresenceLive, type PresenceSeen } from '@orderwire/contracts';
import { createOrderStreamLocator, type Logger } from '@orderwire/platform';
import type { Redis } from 'ioredis';

/** 16 consumer-info requests in flight while listing. */
const BACKLOG_CONCURRENCY = 16;
/** 500 keys per MGET. */
const MGET_CHUNK = 500;

export interface DisplayBacklog {
  /** Messages on the consumer not yet delivered. */
  pending: number;
  /** Delivered, not yet acked (held by a session, or by a dead edge until ack_wait). */
  ackPending: number;
  total: number;
}

export interface DisplayPresence {
  /** null when Redis could not be read. */
  online: boolean | null;
  /** Edge instance holding the session. */
  edge: string | null;
  connectedSince: string | null;
  lastSeen: string | null;
  backlog: DisplayBacklog | null;
}

export type DisplayWithPresence = DisplayRecord & DisplayPresence;

export interface PresenceReader {
  read(tenant: string, records: readonly DisplayRecord[]): Promise<{ available: boolean; displays: DisplayWithPresence[] }>;
}

function parse<T>(raw: string | null | undefined): T | undefined {
  if (raw === null || raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}

const iso = (ms: number | undefined): string | null => (typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : null);

export function createPresenceReader(deps: { redis: Redis; jsm: JetStreamManager; logger: Logger }): PresenceReader {
  const { redis, jsm, logger } = deps;
  // The mailbox is on its store's partition stream; the map is cached (one list per 30 s).
  const streams = createOrderStreamLocator(jsm);

  async function backlog(record: DisplayRecord): Promise<DisplayBacklog | null> {
    if (record.status === 'decommissioned') return null;
    try {
      const info = await jsm.consumers.info(await streams.streamFor(record.tenant, record.storeId), record.consumer);
      return { pending: info.num_pending, ackPending: info.num_ack_pending, total: info.num_pending + info.num_ack_pending };
    } catch (err) {
      logger.warn({ err, displayId: record.displayId }, 'display backlog not readable');
      return null;
    }
  }

  return {
    async read(tenant, records) {
      let live: (PresenceLive | undefined)[] = [];
      let seen: (PresenceSeen | undefined)[] = [];
      let available = true;
      try {
        const ids = records.map((r) => r.displayId);
        for (let i = 0; i < ids.length; i += MGET_CHUNK) {
          const chunk = ids.slice(i, i + MGET_CHUNK);
          const [values, seenValues] = await Promise.all([
            redis.mget(chunk.map((id) => presenceLiveKey(tenant, id))),
            redis.hmget(presenceSeenKey(tenant), ...chunk),
          ]);
          live = live.concat(values.map((v) => parse<PresenceLive>(v)));
          seen = seen.concat(seenValues.map((v) => parse<PresenceSeen>(v)));
        }
      } catch (err) {
        available = false;
        logger.warn({ err }, 'display presence not readable (Redis unavailable)');
      }
      const backlogs: (DisplayBacklog | null)[] = [];
      for (let i = 0; i < records.length; i += BACKLOG_CONCURRENCY) {
        backlogs.push(...(await Promise.all(records.slice(i, i + BACKLOG_CONCURRENCY).map(backlog))));
      }
      const displays = records.map((record, i): DisplayWithPresence => {
        const l = available ? live[i] : undefined;
        const s = available ? seen[i] : undefined;
        return {
          ...record,
          online: available ? l !== undefined : null,
          edge: l?.edge ?? null,
          connectedSince: iso(l?.connectedAt),
          // While online, "last seen" is now-ish: the last refresh of the live key.
          lastSeen: iso(s?.at),
          backlog: backlogs[i] ?? null,
        };
      });
      return { available, displays };
    },
  };
}
