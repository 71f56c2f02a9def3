import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis, type RedisServerHandle } from '../src/index.js';
import { expectGone, tcpProbe } from './helpers.js';

const handles: RedisServerHandle[] = [];
const clients: Redis[] = [];

async function redis(opts?: Parameters<typeof startRedis>[0]): Promise<RedisServerHandle> {
  const h = await startRedis(opts);
  handles.push(h);
  return h;
}

function client(url: string): Redis {
  // Fail fast: a test talking to a dead server should see the error, not queue forever.
  const r = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, lazyConnect: true });
  clients.push(r);
  return r;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(handles.splice(0).map((h) => h.dispose()));
});

describe('startRedis', () => {
  it('starts on a random loopback port and serves commands', async () => {
    const r = await redis();
    expect(r.url).toBe(`redis://127.0.0.1:${r.port}`);
    const c = client(r.url);
    await c.connect();
    await c.set('k', 'v');
    expect(await c.get('k')).toBe('v');
    const config = await c.config('GET', 'bind');
    expect(config).toEqual(['bind', '127.0.0.1']);
    expect(await c.config('GET', 'dir')).toEqual(['dir', r.dir]);
  });

  it('kill() kills redis itself (the .tools wrapper execs), and restart() comes back empty without persistence', async () => {
    const r = await redis();
    const c = client(r.url);
    await c.connect();
    await c.set('k', 'v');
    const serverPid = Number(/process_id:(\d+)/.exec(await c.info('server'))?.[1]);
    expect(serverPid).toBe(r.pid);
    c.disconnect();

    const port = r.port;
    await r.kill();
    await expectGone(serverPid, 1_000);
    expect(await tcpProbe(port)).toBe('ECONNREFUSED');

    await r.restart();
    expect(r.port).toBe(port);
    expect(r.pid).not.toBe(serverPid);
    const c2 = client(r.url);
    await c2.connect();
    expect(await c2.get('k')).toBeNull();
  });

  it('with persistence keeps data across stop/start and across kill/restart', async () => {
    const r = await redis({ persistence: true });
    const c = client(r.url);
    await c.connect();
    await c.set('a', '1');
    c.disconnect();

    await r.stop();
    expect(r.running).toBe(false);
    await r.start();
    const c2 = client(r.url);
    await c2.connect();
    expect(await c2.get('a')).toBe('1');
    await c2.set('b', '2');
    c2.disconnect();

    await r.restart({ hard: true });
    const c3 = client(r.url);
    await c3.connect();
    expect(await c3.mget('a', 'b')).toEqual(['1', '2']);
  });

  it('passes extra args and removes its dir on dispose', async () => {
    const r = await redis({ args: ['--maxmemory', '12mb'] });
    const c = client(r.url);
    await c.connect();
    expect(await c.config('GET', 'maxmemory')).toEqual(['maxmemory', String(12 * 1024 * 1024)]);
    c.disconnect();
    const pid = r.pid;
    await r[Symbol.asyncDispose]();
    await expectGone(pid, 1_000);
    expect(existsSync(r.dir)).toBe(false);
    expect(r.logs()).toContain('Ready to accept connections');
  });

  it('counts a password-protected server as ready (PING answers NOAUTH)', async () => {
    const r = await redis({ args: ['--requirepass', 's3cret'] });
    const c = new Redis(r.url, { password: 's3cret', lazyConnect: true, maxRetriesPerRequest: 0 });
    clients.push(c);
    await c.connect();
    expect(await c.ping()).toBe('PONG');
  });
});
