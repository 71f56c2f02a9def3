/**
 * Rate-limit counting shared by every service: fixed windows counted in Redis (one budget for all
 * replicas), failing open to per-process windows while Redis is unreachable — Redis holds nothing
 * that cannot be lost, so its outage must never stop order intake or the DLQ API; a flood is then
 * still throttled, at worst replicas × the limit. The same counter backs `@fastify/rate-limit`
 * (its `Store`) and the plain `limitHook` below (routes that need the check at a chosen hook,
 * or keyed on something the plugin cannot see).
 *
 * Also here: the pre-authentication failure gate. It refuses an address that has just failed
 * authentication too often BEFORE its token is parsed or verified, so a flood of forged tokens
 * costs a map lookup per request, not a signature check.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** 10000 keys counted per process before expired windows are swept / the oldest dropped. */
export const DEFAULT_LOCAL_LIMITER_CAPACITY = 10_000;

// One round trip: count, start the window on the first hit, report the window's remaining ms.
const INCR_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {current, ttl}
`;

// A quota: admit `cost` units only if they fit in what is left of the window; a refusal counts nothing.
const TAKE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
if current + cost > max then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = tonumber(ARGV[3]) end
  return {0, current, ttl}
end
current = redis.call('INCRBY', KEYS[1], cost)
if current == cost then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]); ttl = tonumber(ARGV[3]) end
return {1, current, ttl}
`;

// A rate-limit hit and a quota take in one round trip (one request's two counters): count the hit
// as INCR_SCRIPT does; over its limit, stop there (the quota is not touched, as when the two ran in
// turn and the first refused); else take from the quota as TAKE_SCRIPT does.
// KEYS: hit, quota. ARGV: hit window ms, hit max, cost, quota max, quota window ms.
const HIT_TAKE_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
if current > tonumber(ARGV[2]) then return {current, ttl} end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local cost = tonumber(ARGV[3])
if used + cost > tonumber(ARGV[4]) then
  local qttl = redis.call('PTTL', KEYS[2])
  if qttl < 0 then qttl = tonumber(ARGV[5]) end
  return {current, ttl, 0, used, qttl}
end
used = redis.call('INCRBY', KEYS[2], cost)
if used == cost then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
local qttl = redis.call('PTTL', KEYS[2])
if qttl < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[5]); qttl = tonumber(ARGV[5]) end
return {current, ttl, 1, used, qttl}
`;

/** Outcome of a quota `take`. */
export interface QuotaResult {
  allowed: boolean;
  /** Units used in the window after this take (before it, when refused). */
  used: number;
  /** ms until the window resets. */
  ttl: number;
}

export interface WindowCount {
  /** Hits in the current window, this one included. */
  current: number;
  /** ms until the window resets. */
  ttl: number;
}

/** A fixed-window counter in process memory, bounded to `capacity` keys. */
export interface LocalWindows {
  hit(key: string, windowMs: number, now?: number): WindowCount;
  /** Adds `cost` only if the window then stays within `max`. */
  take(key: string, cost: number, max: number, windowMs: number, now?: number): QuotaResult;
  /** The current count without counting (0 when no live window). */
  peek(key: string, now?: number): WindowCount;
  readonly size: number;
}

export function createLocalWindows(capacity = DEFAULT_LOCAL_LIMITER_CAPACITY): LocalWindows {
  const windows = new Map<string, { count: number; resetAt: number }>();
  function live(key: string, windowMs: number, now: number): { count: number; resetAt: number } {
    let w = windows.get(key);
    if (w === undefined || w.resetAt <= now) {
      if (w !== undefined) windows.delete(key);
      if (windows.size >= capacity) {
        for (const [k, v] of windows) if (v.resetAt <= now) windows.delete(k);
        // Still full of live windows: forget the oldest rather than grow without bound.
        if (windows.size >= capacity) windows.delete(windows.keys().next().value!);
      }
      w = { count: 0, resetAt: now + windowMs };
      windows.set(key, w);
    }
    return w;
  }
  return {
    take(key, cost, max, windowMs, now = Date.now()) {
      const w = live(key, windowMs, now);
      if (w.count + cost > max) return { allowed: false, used: w.count, ttl: w.resetAt - now };
      w.count += cost;
      return { allowed: true, used: w.count, ttl: w.resetAt - now };
    },
    hit(key, windowMs, now = Date.now()) {
      const w = live(key, windowMs, now);
      w.count += 1;
      return { current: w.count, ttl: w.resetAt - now };
    },
    peek(key, now = Date.now()) {
      const w = windows.get(key);
      if (w === undefined || w.resetAt <= now) return { current: 0, ttl: 0 };
      return { current: w.count, ttl: w.resetAt - now };
    },
    get size() {
      return windows.size;
    },
  };
}
/** A counted hit against a limit of `max` per `windowMs`. */
export interface HitSpec {
  key: string;
  windowMs: number;
  /** Over this many hits in the window the quota is not touched. */
  max: number;
}

/** Units to take from a quota of `max` per `windowMs`. */
export interface TakeSpec {
  key: string;
  cost: number;
  max: number;
  windowMs: number;
}

export interface HitAndTakeResult {
  hit: WindowCount;
  /** Undefined when the hit was over its limit: nothing was taken. */
  take?: QuotaResult;
}

type IncrCallback = (error: Error | null, result?: WindowCount) => void;

/** The store interface `@fastify/rate-limit` expects (structurally; platform does not depend on the plugin). */
export interface RateLimitStore {
  incr(key: string, callback: IncrCallback, timeWindow: number, max: number): void;
  child(routeOptions: unknown): RateLimitStore;
}

export interface RateLimiterOptions {
  /** Undefined: count per process only (no Redis configured for this service). */
  redis: Redis | undefined;
  /** Redis key prefix, e.g. `ow:rl:ingest:`. */
  keyPrefix: string;
  logger: Logger;
  /** Called when the limiter starts or stops failing open (metrics gauge). */
  onDegradedChange?: (degraded: boolean) => void;
  /** Called for every decision the per-process fallback makes while Redis is configured but unavailable (metrics counter). */
  onFallback?: () => void;
  /** @default {@link DEFAULT_LOCAL_LIMITER_CAPACITY} */
  localCapacity?: number;
}

export interface RateLimiter {
  /** Counts one hit of `key` in a window of `windowMs`; never rejects (falls back to local counting). */
  hit(key: string, windowMs: number): Promise<WindowCount>;
  /**
   * Takes `cost` units of a quota of `max` per `windowMs`, or none when they do not fit. Never
   * rejects: Redis down fails open to per-process counting (each replica then admits up to `max`).
   */
  take(key: string, cost: number, max: number, windowMs: number): Promise<QuotaResult>;
  /**
   * `hit`, then — unless that hit is over `hit.max` — `take`, in one Redis round trip: the same
   * counts and decisions as calling the two in turn. Never rejects (local counting as above).
   */
  hitAndTake(hit: HitSpec, take: TakeSpec): Promise<HitAndTakeResult>;
  /** A `@fastify/rate-limit` store class backed by `hit`. */
  readonly Store: new (routeOptions?: unknown) => RateLimitStore;
  /** True while the per-process fallback decides. */
  degraded(): boolean;
}

/** Names the counting scripts are registered under on the service's Redis client. */
const INCR_COMMAND = 'owRateLimitIncr';
const TAKE_COMMAND = 'owRateLimitTake';
const HIT_TAKE_COMMAND = 'owRateLimitHitTake';

/** The client with the two scripts registered (`defineCommand`: EVALSHA, the script text sent once per connection). */
interface ScriptedRedis {
  owRateLimitIncr(key: string, windowMs: number): Promise<[number, number]>;
  owRateLimitTake(key: string, cost: number, max: number, windowMs: number): Promise<[number, number, number]>;
  owRateLimitHitTake(
    hitKey: string,
    takeKey: string,
    hitWindowMs: number,
    hitMax: number,
    cost: number,
    max: number,
    windowMs: number,
  ): Promise<[number, number] | [number, number, number, number, number]>;
}

/**
 * Registers the counting scripts on `redis` (idempotent). `eval` would send the script's text with
 * every request and make Redis hash it each time — measured at 15–20 % of ingest's CPU per order
 * (issue 14); a defined command sends its SHA and falls back to the text once on NOSCRIPT.
 */
function scripted(redis: Redis): ScriptedRedis {
  const r = redis as Redis & Partial<ScriptedRedis>;
  if (typeof r.owRateLimitIncr !== 'function') redis.defineCommand(INCR_COMMAND, { numberOfKeys: 1, lua: INCR_SCRIPT });
  if (typeof r.owRateLimitTake !== 'function') redis.defineCommand(TAKE_COMMAND, { numberOfKeys: 1, lua: TAKE_SCRIPT });
  if (typeof r.owRateLimitHitTake !== 'function') redis.defineCommand(HIT_TAKE_COMMAND, { numberOfKeys: 2, lua: HIT_TAKE_SCRIPT });
  return redis as Redis & ScriptedRedis;
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { redis, keyPrefix, logger } = options;
  const scripts = redis === undefined ? undefined : scripted(redis);
  const local = createLocalWindows(options.localCapacity);
  let degraded = false;

  function setDegraded(next: boolean, err?: unknown): void {
    if (next) options.onFallback?.();
    if (next === degraded) return;
    degraded = next;
    options.onDegradedChange?.(next);
    if (next) logger.warn({ err }, 'rate limiter: redis unavailable, failing open to per-process counting');
    else logger.info('rate limiter: redis available again');
  }
  options.onDegradedChange?.(false);

  async function hit(key: string, windowMs: number): Promise<WindowCount> {
    if (redis === undefined || scripts === undefined || redis.status !== 'ready') {
      // Without Redis configured at all, per-process counting is the design, not a degradation.
      if (redis !== undefined) setDegraded(true, `redis connection ${redis.status}`);
      return local.hit(key, windowMs);
    }
    try {
      const [current, ttl] = await scripts.owRateLimitIncr(keyPrefix + key, windowMs);
      setDegraded(false);
      return { current, ttl };
    } catch (err) {
      setDegraded(true, err);
      return local.hit(key, windowMs);
    }
  }

  async function take(key: string, cost: number, max: number, windowMs: number): Promise<QuotaResult> {
    if (redis === undefined || scripts === undefined || redis.status !== 'ready') {
      if (redis !== undefined) setDegraded(true, `redis connection ${redis.status}`);
      return local.take(key, cost, max, windowMs);
    }
    try {
      const [allowed, used, ttl] = await scripts.owRateLimitTake(keyPrefix + key, cost, max, windowMs);
      setDegraded(false);
      return { allowed: allowed === 1, used, ttl };
    } catch (err) {
      setDegraded(true, err);
      return local.take(key, cost, max, windowMs);
    }
  }

  function localHitAndTake(h: HitSpec, t: TakeSpec): HitAndTakeResult {
    const counted = local.hit(h.key, h.windowMs);
    return counted.current > h.max ? { hit: counted } : { hit: counted, take: local.take(t.key, t.cost, t.max, t.windowMs) };
  }

  async function hitAndTake(h: HitSpec, t: TakeSpec): Promise<HitAndTakeResult> {
    if (redis === undefined || scripts === undefined || redis.status !== 'ready') {
      if (redis !== undefined) setDegraded(true, `redis connection ${redis.status}`);
      return localHitAndTake(h, t);
    }
    try {
      const r = await scripts.owRateLimitHitTake(keyPrefix + h.key, keyPrefix + t.key, h.windowMs, h.max, t.cost, t.max, t.windowMs);
      setDegraded(false);
      const hitCount: WindowCount = { current: r[0], ttl: r[1] };
      return r.length === 2 ? { hit: hitCount } : { hit: hitCount, take: { allowed: r[2] === 1, used: r[3], ttl: r[4] } };
    } catch (err) {
      setDegraded(true, err);
      return localHitAndTake(h, t);
    }
  }

  class SharedRateLimitStore implements RateLimitStore {
    incr(key: string, callback: IncrCallback, timeWindow: number): void {
      hit(key, timeWindow).then(
        (res) => callback(null, res),
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
      );
    }
    // Keys already name the route group (see the key generators), so children share one store.
    child(): RateLimitStore {
      return this;
    }
  }

  return { hit, take, hitAndTake, Store: SharedRateLimitStore, degraded: () => degraded };
}

export interface LimitHookOptions {
  /** Bounded label for metrics and the key namespace. */
  name: string;
  max: number;
  windowMs: number;
  /** The counted identity (address, tenant). */
  key: (request: FastifyRequest) => string;
  /** The error to throw when over the limit (a 429 of the service's catalogue); `retryAfter` in seconds. */
  error: (retryAfter: number, max: number) => Error;
  onLimited?: (request: FastifyRequest) => void;
}

/** A route hook counting each request; over the limit it sets `Retry-After` and throws `error`. */
export function limitHook(limiter: RateLimiter, options: LimitHookOptions): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request, reply) => {
    const res = await limiter.hit(`${options.name}:${options.key(request)}`, options.windowMs);
    if (res.current <= options.max) return;
    options.onLimited?.(request);
    const after = Math.max(1, Math.ceil(res.ttl / 1000));
    void reply.header('retry-after', String(after));
    throw options.error(after, options.max);
  };
}

/**
 * The counted identity of a client address: IPv4 as is, IPv6 by its /64 prefix — one subscriber
 * usually holds a whole /64, so counting single IPv6 addresses would let one client rotate through
 * 2^64 of them. IPv4-mapped IPv6 (`::ffff:1.2.3.4`) counts as the IPv4 address.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped !== null) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.split('%')[0]!.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** 100 failed authentications per address per window before the address is refused unread. */
export const DEFAULT_AUTH_FAILURE_MAX = 100;
export const DEFAULT_AUTH_FAILURE_WINDOW_MS = 60_000;

export interface FailureGateOptions {
  /** Failures per key per window; the next request of that key is refused before any parsing. */
  max: number;
  windowMs: number;
  capacity?: number;
}

/**
 * Per-process on purpose: its job is to keep THIS process's CPU from verifying forged tokens, and
 * a Redis round trip on every legitimate request would cost more than the signature check it saves.
 */
export interface FailureGate {
  /** Seconds until the key may try again, or undefined when it may try now. */
  blocked(key: string): number | undefined;
  /** Records one failure of `key`. */
  fail(key: string): void;
}

export function createFailureGate(options: FailureGateOptions): FailureGate {
  const windows = createLocalWindows(options.capacity);
  return {
    blocked(key) {
      const w = windows.peek(key);
      return w.current >= options.max ? Math.max(1, Math.ceil(w.ttl / 1000)) : undefined;
    },
    fail(key) {
      windows.hit(key, options.windowMs);
    },
  };
}
