/**
 * Display presence in a real Redis: the newest session owns a display's live key, an older
 * session closing elsewhere never marks it offline, a node that stops refreshing (crashed) lets
 * its displays expire, and the per-store metric rows are capped.
 */
import { presenceLiveKey, presenceSeenKey, type PresenceLive, type PresenceSeen } from '@orderwire/contracts';
import { startRedis, waitFor, type RedisServerHandle } from '@orderwire/test-harness';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEdgeConfig } from '../src/config.js';
import { createPresence, OTHER_STORES, type Presence, type PresenceSession } from '../src/socket/presence.js';
import { publisherOptions } from '../src/socket/redis-adapter.js';

let server: RedisServerHandle;
let redis: Redis;
const errors: unknown[] = [];
const nodes: Presence[] = [];

function node(instanceId: string, refreshMs = 100, ttlMs = 400, refreshChunk?: number): Presence {
  const p = createPresence({ redis, instanceId, refreshMs, ttlMs, onError: (e) => errors.push(e), ...(refreshChunk === undefined ? {} : { refreshChunk }) });
  nodes.push(p);
  return p;
}

const session = (displayId: string, socketId: string, storeId = 's1', tenant = 't1'): PresenceSession => ({
  tenant,
  displayId,
  storeId,
  socketId,
  connectedAt: Date.now(),
});

async function live(displayId: string, tenant = 't1'): Promise<PresenceLive | undefined> {
  const raw = await redis.get(presenceLiveKey(tenant, displayId));
  return raw === null ? undefined : (JSON.parse(raw) as PresenceLive);
}

beforeAll(async () => {
  server = await startRedis();
  // The edge's own publishing client (autopipelined), as presence runs on it.
  redis = new Redis(server.url, publisherOptions());
  await new Promise<void>((r) => (redis.status === 'ready' ? r() : redis.once('ready', () => r())));
});

afterAll(async () => {
  for (const n of nodes) n.close();
  redis?.disconnect();
  await server?.dispose();
});

describe('edge presence', () => {
  it('marks a display online on connect and offline on disconnect, keeping when it was last seen', async () => {
    const a = node('edge-a');
    a.online(session('d1', 'sock-1'));
    await waitFor(async () => (await live('d1'))?.edge === 'edge-a', { timeoutMs: 2_000 });
    expect(await live('d1')).toMatchObject({ edge: 'edge-a', socketId: 'sock-1', storeId: 's1' });
    a.offline('sock-1');
    await waitFor(async () => (await live('d1')) === undefined, { timeoutMs: 2_000 });
    const seen = JSON.parse((await redis.hget(presenceSeenKey('t1'), 'd1'))!) as PresenceSeen;
    expect(seen.edge).toBe('edge-a');
    expect(Date.now() - seen.at).toBeLessThan(2_000);
  });

  it('lets the newest session own the key: the old one closing on another node does not mark the display offline', async () => {
    const a = node('edge-a');
    const b = node('edge-b');
    a.online(session('d2', 'old'));
    await waitFor(async () => (await live('d2'))?.socketId === 'old', { timeoutMs: 2_000 });
    b.online(session('d2', 'new'));
    await waitFor(async () => (await live('d2'))?.socketId === 'new', { timeoutMs: 2_000 });
    // The old node's refreshes must not take the key back either.
    await new Promise((r) => setTimeout(r, 300));
    expect((await live('d2'))?.edge).toBe('edge-b');
    a.offline('old');
    await new Promise((r) => setTimeout(r, 200));
    expect((await live('d2'))?.edge).toBe('edge-b');
  });

  it('keeps a live display online through refreshes, and lets a crashed node’s displays expire', async () => {
    const c = node('edge-c', 100, 400);
    c.online(session('d3', 'sock-3'));
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await live('d3'))?.edge).toBe('edge-c');
    const started = Date.now();
    c.close(); // no more refreshes, no release: what a SIGKILL leaves behind
    await waitFor(async () => (await live('d3')) === undefined, { timeoutMs: 3_000 });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('refreshes with the scripts’ SHA: its text goes to Redis once per connection, not once per display per tick', async () => {
    await redis.config('RESETSTAT');
    const e = node('edge-sha', 50, 400);
    for (let i = 0; i < 20; i++) e.online(session(`sha-${i}`, `sock-sha-${i}`));
    await new Promise((r) => setTimeout(r, 400));
    e.offline('sock-sha-0');
    await waitFor(async () => (await live('sha-0')) === undefined, { timeoutMs: 2_000 });
    const info = await redis.info('commandstats');
    const calls = (cmd: string): number => Number(new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    // 20 claims, 20 displays × several ticks + a release: over a hundred script runs, at most three texts sent.
    expect(calls('evalsha')).toBeGreaterThanOrEqual(60);
    expect(calls('eval')).toBeLessThanOrEqual(3);
    expect((await live('sha-1'))?.edge).toBe('edge-sha');
    e.close();
  });

  it('claims a connecting display with one script command: no MULTI/EXEC transaction per connection', async () => {
    const g = node('edge-claim', 60_000, 60_000);
    // Loads the scripts, so the counted claims below are one EVALSHA each.
    g.online(session('claim-warm', 'sock-claim-warm', 's1', 't9'));
    await waitFor(async () => (await live('claim-warm', 't9'))?.edge === 'edge-claim', { timeoutMs: 2_000 });
    await redis.config('RESETSTAT');
    for (let i = 0; i < 10; i++) g.online(session(`claim-${i}`, `sock-claim-${i}`, 's1', 't9'));
    await waitFor(async () => (await live('claim-9', 't9'))?.edge === 'edge-claim', { timeoutMs: 2_000 });
    const info = await redis.info('commandstats');
    const calls = (cmd: string): number => Number(new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    expect(calls('evalsha')).toBe(10);
    expect(calls('multi') + calls('exec')).toBe(0);
    for (let i = 0; i < 10; i++) expect(await live(`claim-${i}`, 't9'), `claim-${i}`).toMatchObject({ edge: 'edge-claim', socketId: `sock-claim-${i}` });
    const seen = await redis.hgetall(presenceSeenKey('t9'));
    expect(Object.keys(seen).sort()).toEqual(['claim-warm', ...Array.from({ length: 10 }, (_, i) => `claim-${i}`)].sort());
    expect(await redis.pttl(presenceSeenKey('t9'))).toBeGreaterThan(60_000);
    g.close();
  });

  it('refreshes in chunks of pipelines: every display stays online, and one released mid-refresh is not written back', async () => {
    await redis.config('RESETSTAT');
    const n = 30;
    const f = node('edge-chunks', 50, 300, 4);
    for (let i = 0; i < n; i++) f.online(session(`ch-${i}`, `sock-ch-${i}`));
    // Several TTLs long: only refreshes keep the keys.
    await new Promise((r) => setTimeout(r, 1_000));
    for (let i = 0; i < n; i++) expect((await live(`ch-${i}`))?.edge, `ch-${i}`).toBe('edge-chunks');
    const info = await redis.info('commandstats');
    // 30 displays × several ticks, 4 per pipeline: all of them rewritten every tick.
    expect(Number(/^cmdstat_evalsha:calls=(\d+)/m.exec(info)?.[1] ?? 0)).toBeGreaterThanOrEqual(3 * n);
    for (let i = 0; i < n; i += 2) f.offline(`sock-ch-${i}`);
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < n; i++) expect((await live(`ch-${i}`))?.edge, `ch-${i}`).toBe(i % 2 === 0 ? undefined : 'edge-chunks');
    f.close();
  });

  it('caps the per-store rows of the metric and sums the rest under _other', () => {
    const d = node('edge-d', 60_000, 120_000);
    for (let i = 0; i < 5; i++) d.online(session(`m${i}`, `m-sock-${i}`, 'big'));
    for (let i = 0; i < 3; i++) d.online(session(`n${i}`, `n-sock-${i}`, `small-${i}`));
    expect(d.storeCounts(10)).toHaveLength(4);
    expect(d.storeCounts(1)).toEqual([
      { tenant: 't1', store: 'big', online: 5 },
      { tenant: OTHER_STORES, store: OTHER_STORES, online: 3 },
    ]);
    expect(d.storeCounts(0)).toEqual([{ tenant: OTHER_STORES, store: OTHER_STORES, online: 8 }]);
  });

  it('reported no Redis errors while Redis was up', () => {
    expect(errors).toEqual([]);
  });

  it('refuses a TTL that a refresh cannot keep alive', () => {
    expect(() => loadEdgeConfig({ EDGE_PRESENCE_REFRESH: '30s', EDGE_PRESENCE_TTL: '20s' })).toThrow(/EDGE_PRESENCE_TTL/);
  });
});
