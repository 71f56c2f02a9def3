/**
 * What the presence refresh leaves in V8's old generation, per way of sending it: every display
 * in one pipeline per tick (`--chunk=0`) against chunks of `--chunk` sent one after the other.
 * A pipeline is alive until Redis answered all of it; what survives two scavenges meanwhile is
 * promoted and stays in old space until the next major GC. Measured as the sum of old space's
 * rises between 20 ms samples over `--ticks` refreshes of `--displays` displays, on a real
 * redis-server, in a fresh process per variant (run the variants interleaved):
 *
 *   npx tsx services/edge/bench/presence-memory.ts --chunk=0   [--displays=10000] [--ticks=20]
 *   npx tsx services/edge/bench/presence-memory.ts --chunk=256
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { startRedis } from '@orderwire/test-harness';
import { Redis } from 'ioredis';
import { createPresence } from '../src/socket/presence.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'];
  }),
);
const displays = Number(args.get('displays') ?? 10_000);
const ticks = Number(args.get('ticks') ?? 20);
const chunkArg = Number(args.get('chunk') ?? 256);
const chunk = chunkArg > 0 ? chunkArg : displays;
/** One tick every this many ms: room for a whole refresh, so ticks do not overlap. */
const REFRESH_MS = 500;
const SAMPLE_MS = 20;
const MB = 2 ** 20;

const oldUsed = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;

const server = await startRedis();
const redis = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
await new Promise<void>((r) => (redis.status === 'ready' ? r() : redis.once('ready', () => r())));
/** Errors while measuring (the disconnect at the end fails the chunk in flight: not counted). */
let errors = 0;
let stopping = false;
const presence = createPresence({ redis, instanceId: 'edge-bench', refreshMs: REFRESH_MS, ttlMs: REFRESH_MS * 10, refreshChunk: chunk, onError: () => {
  if (!stopping) errors++;
} });
for (let i = 0; i < displays; i++) {
  presence.online({ tenant: 't1', displayId: `d${i}`, storeId: `s${i % 500}`, socketId: `sock-${i}`, connectedAt: Date.now() });
  if (i % 500 === 499) await new Promise((r) => setTimeout(r, 5));
}
// Let the connects settle before measuring.
await new Promise((r) => setTimeout(r, REFRESH_MS * 2));
let rises = 0;
let last = oldUsed();
const sampler = setInterval(() => {
  const now = oldUsed();
  if (now > last) rises += now - last;
  last = now;
}, SAMPLE_MS);
const started = Date.now();
await new Promise((r) => setTimeout(r, REFRESH_MS * ticks));
clearInterval(sampler);
stopping = true;
presence.close();
redis.disconnect();
await server.dispose();
console.log(
  JSON.stringify({
    displays,
    chunk,
    ticks,
    seconds: (Date.now() - started) / 1000,
    oldSpaceRisesMB: +(rises / MB).toFixed(1),
    promotedKBPerDisplayRefresh: +((rises / 1024 / displays / ticks) * 1).toFixed(2),
    errors,
  }),
);
