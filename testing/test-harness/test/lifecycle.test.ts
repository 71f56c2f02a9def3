import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { disposeAll, freePort, livePids, startNats, startRedis } from '../src/index.js';
import { expectGone, tcpProbe } from './helpers.js';

describe('freePort', () => {
  it('returns distinct loopback ports that can be bound', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(new Set(ports).size).toBe(20);
    for (const port of ports.slice(0, 3)) {
      await new Promise<void>((resolve, reject) => {
        const srv = createServer();
        srv.once('error', reject);
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
      });
    }
  });
});

describe('disposeAll', () => {
  it('stops every server this process started and removes their dirs', async () => {
    const [n, r] = await Promise.all([startNats(), startRedis()]);
    expect(livePids()).toEqual(expect.arrayContaining([n.pid, r.pid]));
    await disposeAll();
    await expectGone(n.pid, 1_000);
    await expectGone(r.pid, 1_000);
    expect(livePids()).not.toContain(n.pid);
    expect(await tcpProbe(n.port)).toBe('ECONNREFUSED');
    expect(existsSync(n.dir)).toBe(false);
    expect(existsSync(r.dir)).toBe(false);
    // Idempotent, and a handle disposed by disposeAll can still be disposed directly.
    await disposeAll();
    await n.dispose();
  });

  it('serialises concurrent lifecycle calls on one handle', async () => {
    const r = await startRedis();
    try {
      const first = r.pid;
      await Promise.all([r.restart(), r.restart(), r.kill(), r.start()]);
      expect(r.running).toBe(true);
      expect(r.pid).not.toBe(first);
      // Exactly one server left: no interleaving spawned a second one.
      expect(livePids()).toEqual([r.pid]);
      expect(await tcpProbe(r.port)).toBe('connected');
    } finally {
      await r.dispose();
    }
  });
});
