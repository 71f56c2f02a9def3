/**
 * Display presence in Redis (contracts `presence.ts`): which display is online, on which edge,
 * since when, and when it was last seen — read by auth's `GET /v1/displays`.
 *
 *   connect ──▶ CLAIM  live key := our value (PX ttl), seen[display] := now
 *   every refreshMs ──▶ REFRESH  live key still ours (or gone)? set it again; seen := now
 *   disconnect ──▶ RELEASE  live key still ours? delete it; seen := now
 *   edge SIGKILLed ──▶ nothing: the live keys expire after ttl, the displays read offline
 *
 * Loss-tolerant by design: commands fail fast while Redis is down (no offline queue) and are
 * counted (`orderwire_edge_redis_errors_total{op="presence"}`); the next refresh rewrites
 * everything this node holds. Delivery never waits on presence.
 */
import { presenceLiveKey, presenceSeenKey, type PresenceLive, type PresenceSeen } from '@orderwire/contracts';
import type { Redis } from 'ioredis';

/** Seen entries outlive any reasonable outage of a display, and vanish with abandoned tenants. */
export const PRESENCE_SEEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/**
 * Live keys rewritten per pipeline. One pipeline of every display (10,000 commands at 10,000
 * displays: their Command objects, arguments, promises and the encoded request) is alive until Redis
 * answers all of it, long enough to be promoted to V8's old generation wholesale on every tick;
 * chunks sent one after the other are each small and answered quickly, and die young.
 */
export const PRESENCE_REFRESH_CHUNK = 256;
/** Store label value that aggregates stores beyond the metric's label cap. */
export const OTHER_STORES = '_other';

// KEYS[1] live key, KEYS[2] seen hash; ARGV[1] value, ARGV[2] ttl ms, ARGV[3] displayId,
// ARGV[4] seen JSON, ARGV[5] seen ttl ms.
/** The newest session owns the key, whatever an older one on another node wrote. */
const CLAIM_LUA = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1`;

const REFRESH_LUA = `
local cur = redis.call('GET', KEYS[1])
local mine = 0
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  mine = 1
end
if mine == 1 then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return mine`;

const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  return 1
end
return 0`;

/** The presence scripts as commands on the edge's Redis client (EVALSHA: the text goes once per connection). */
interface PresenceScripts {
  owPresenceClaim(live: string, seen: string, value: string, ttlMs: number, displayId: string, seenValue: string, seenTtlMs: number): Promise<number>;
  owPresenceRefresh(live: string, seen: string, value: string, ttlMs: number, displayId: string, seenValue: string, seenTtlMs: number): Promise<number>;
  owPresenceRelease(live: string, seen: string, value: string, ttlMs: number, displayId: string, seenValue: string, seenTtlMs: number): Promise<number>;
}

/**
 * Registers the scripts on `redis` once. `eval` sent a script's whole text for every display on
 * every refresh tick (10,000 scripts per tick at 10,000 displays) and Redis hashed each one. The
 * claim at connect is a script too: one command, where MULTI/SET/HSET/PEXPIRE/EXEC were five
 * (five Command objects and promises on the edge, five commands for Redis) per connection.
 */
function presenceScripts(redis: Redis): Redis & PresenceScripts {
  const r = redis as Redis & Partial<PresenceScripts>;
  if (typeof r.owPresenceClaim !== 'function') redis.defineCommand('owPresenceClaim', { numberOfKeys: 2, lua: CLAIM_LUA });
  if (typeof r.owPresenceRefresh !== 'function') redis.defineCommand('owPresenceRefresh', { numberOfKeys: 2, lua: REFRESH_LUA });
  if (typeof r.owPresenceRelease !== 'function') redis.defineCommand('owPresenceRelease', { numberOfKeys: 2, lua: RELEASE_LUA });
  return redis as Redis & PresenceScripts;
}

export interface PresenceSession {
  tenant: string;
  displayId: string;
  storeId: string;
  socketId: string;
  connectedAt: number;
}

export interface PresenceOptions {
  redis: Redis;
  instanceId: string;
  /** How often every live key of this node is rewritten. */
  refreshMs: number;
  /** Live-key TTL: a crashed node's displays read offline this long after its last refresh. */
  ttlMs: number;
  onError(err: unknown): void;
  now?: () => number;
  /** @default PRESENCE_REFRESH_CHUNK */
  refreshChunk?: number;
}

export interface StoreCount {
  tenant: string;
  store: string;
  online: number;
}

export interface Presence {
  online(session: PresenceSession): void;
  offline(socketId: string): void;
  /** Displays online on this node per (tenant, store), largest first, at most `cap` rows plus one `_other` row. */
  storeCounts(cap: number): StoreCount[];
  readonly size: number;
  close(): void;
}

interface Entry {
  session: PresenceSession;
  value: string;
}

export function createPresence(options: PresenceOptions): Presence {
  const { instanceId, ttlMs } = options;
  const redis = presenceScripts(options.redis);
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const seen = (): string => JSON.stringify({ at: now(), edge: instanceId } satisfies PresenceSeen);
  const fail = (err: unknown): void => options.onError(err);

  const release = (e: Entry): void => {
    const { tenant, displayId } = e.session;
    redis
      .owPresenceRelease(presenceLiveKey(tenant, displayId), presenceSeenKey(tenant), e.value, ttlMs, displayId, seen(), PRESENCE_SEEN_TTL_MS)
      .then(() => undefined, fail);
  };

  const chunk = options.refreshChunk ?? PRESENCE_REFRESH_CHUNK;
  /** A refresh still sending its chunks: the next tick is skipped rather than run beside it. */
  let refreshing = false;

  /** Rewrites the live keys of `socketIds` still held, `chunk` per pipeline, one pipeline after the other. */
  const refreshChunks = async (socketIds: string[]): Promise<void> => {
    const seenValue = seen();
    for (let i = 0; i < socketIds.length; i += chunk) {
      if (redis.status !== 'ready') return;
      const pipe = redis.pipeline() as ReturnType<Redis['pipeline']> & { owPresenceRefresh: (...args: Array<string | number>) => unknown };
      let n = 0;
      for (const socketId of socketIds.slice(i, i + chunk)) {
        // Looked up now, not at the tick: a display released since must not be written back
        // (its release went out before this chunk, on the same connection).
        const e = entries.get(socketId);
        if (e === undefined) continue;
        const { tenant, displayId } = e.session;
        pipe.owPresenceRefresh(presenceLiveKey(tenant, displayId), presenceSeenKey(tenant), e.value, ttlMs, displayId, seenValue, PRESENCE_SEEN_TTL_MS);
        n++;
      }
      if (n === 0) continue;
      const results = await pipe.exec();
      const failed = results?.find(([err]) => err !== null);
      if (failed !== undefined) fail(failed[0]);
    }
  };

  const refreshAll = (): void => {
    if (refreshing || redis.status !== 'ready' || entries.size === 0) return;
    refreshing = true;
    refreshChunks([...entries.keys()])
      .catch(fail)
      .finally(() => {
        refreshing = false;
      });
  };
  const timer = setInterval(refreshAll, options.refreshMs);
  timer.unref();

  return {
    online(session) {
      const live: PresenceLive = { edge: instanceId, socketId: session.socketId, storeId: session.storeId, connectedAt: session.connectedAt };
      const e: Entry = { session, value: JSON.stringify(live) };
      entries.set(session.socketId, e);
      const { tenant, displayId } = session;
      // The newest session owns the key, whatever an older one on another node wrote (CLAIM).
      redis
        .owPresenceClaim(presenceLiveKey(tenant, displayId), presenceSeenKey(tenant), e.value, ttlMs, displayId, seen(), PRESENCE_SEEN_TTL_MS)
        .then(() => undefined, fail);
    },
    offline(socketId) {
      const e = entries.get(socketId);
      if (e === undefined) return;
      entries.delete(socketId);
      release(e);
    },
    storeCounts(cap) {
      const counts = new Map<string, StoreCount>();
      for (const { session } of entries.values()) {
        // Ids have no space: the key is injective.
        const key = `${session.tenant} ${session.storeId}`;
        const c = counts.get(key);
        if (c === undefined) counts.set(key, { tenant: session.tenant, store: session.storeId, online: 1 });
        else c.online++;
      }
      const rows = [...counts.values()].sort((a, b) => b.online - a.online || a.store.localeCompare(b.store));
      if (rows.length <= cap) return rows;
      const other = rows.slice(cap).reduce((n, r) => n + r.online, 0);
      return [...rows.slice(0, cap), { tenant: OTHER_STORES, store: OTHER_STORES, online: other }];
    },
    get size() {
      return entries.size;
    },
    close() {
      clearInterval(timer);
    },
  };
}
