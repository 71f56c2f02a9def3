import { Writable } from 'node:stream';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderwireError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { DEFAULT_NATS_MAX_PINGS_OUT, DEFAULT_NATS_PING_INTERVAL_MS, closeNats, connectNats, isNatsConnected, natsHealthCheck } from '../src/nats.js';

function capture() {
  const lines: { level: string; msg: string; nats?: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as (typeof lines)[number]);
      cb();
    },
  });
  return { lines, logger: createLogger({ service: 't', version: '0', destination, level: 'debug' }) };
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('connectNats against a real nats-server', () => {
  let server: NatsServerHandle;
  beforeAll(async () => {
    server = await startNats();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('connects, reports healthy, logs disconnect/reconnect across a server restart, drains on close', async () => {
    const { lines, logger } = capture();
    const nc = await connectNats({
      servers: server.url,
      name: 'platform-test',
      logger,
      reconnectTimeWaitMs: 100,
      reconnectJitterMs: 50,
    });
    const check = natsHealthCheck(nc);
    expect(await check()).toMatchObject({ ok: true });

    await server.restart({ hard: true });
    await until(() => lines.some((l) => l.nats === 'disconnect'));
    await until(() => lines.some((l) => l.nats === 'reconnect'), 15_000);
    expect(lines.find((l) => l.nats === 'disconnect')).toMatchObject({ level: 'warn', msg: 'nats disconnected' });
    expect(lines.find((l) => l.nats === 'reconnect')).toMatchObject({ level: 'info' });
    expect(await check()).toMatchObject({ ok: true });

    await closeNats(nc, logger, { timeoutMs: 5_000 });
    expect(nc.isClosed()).toBe(true);
    expect(lines.some((l) => l.msg === 'nats drained')).toBe(true);
    expect(await check()).toEqual({ ok: false, detail: 'connection closed' });
    // Closing twice is harmless.
    await closeNats(nc, logger);
  });

  it('reports not ready at once while disconnected', async () => {
    const { logger, lines } = capture();
    const nc = await connectNats({ servers: [server.url], name: 'hc', logger, reconnectTimeWaitMs: 100 });
    try {
      await server.stop();
      await until(() => lines.some((l) => l.nats === 'disconnect'));
      expect(isNatsConnected(nc)).toBe(false);
      const t0 = Date.now();
      expect(await natsHealthCheck(nc)()).toEqual({ ok: false, detail: 'disconnected; reconnecting' });
      expect(Date.now() - t0).toBeLessThan(500);
      await server.start();
      await until(async () => (await natsHealthCheck(nc)()).ok === true, 15_000);
      expect(isNatsConnected(nc)).toBe(true);
    } finally {
      if (!server.running) await server.start();
      await closeNats(nc, logger, { timeoutMs: 2_000 });
    }
  });

  it('gives up on the first connect after timeoutMs with ORDERWIRE_ERR_NATS_CONNECT', async () => {
    const { logger, lines } = capture();
    const stopped = await startNats({ jetstream: false });
    const url = stopped.url;
    await stopped.dispose();
    const t0 = Date.now();
    const err = await connectNats({ servers: url, name: 'nope', logger, timeoutMs: 600, reconnectTimeWaitMs: 100, reconnectJitterMs: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OrderwireError);
    expect((err as OrderwireError).code).toBe('ORDERWIRE_ERR_NATS_CONNECT');
    expect((err as OrderwireError).message).toContain(url);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(lines.filter((l) => l.msg === 'nats connect failed; retrying').length).toBeGreaterThanOrEqual(2);
  });

  it('waits for a server that comes up during the first-connect window', async () => {
    const { logger } = capture();
    const late = await startNats({ jetstream: false });
    await late.stop();
    try {
      const connecting = connectNats({ servers: late.url, name: 'late', logger, timeoutMs: 15_000, reconnectTimeWaitMs: 100 });
      await new Promise((r) => setTimeout(r, 300));
      await late.start();
      const nc = await connecting;
      expect(nc.isClosed()).toBe(false);
      await closeNats(nc, logger);
    } finally {
      await late.dispose();
    }
  });

  it('fails fast on bad credentials instead of retrying until the timeout', async () => {
    const { logger } = capture();
    const secured = await startNats({ jetstream: false, config: 'authorization { token: "right-token" }' });
    try {
      const t0 = Date.now();
      const err = await connectNats({ servers: secured.url, name: 'bad', logger, token: 'wrong-token', timeoutMs: 10_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as OrderwireError).code).toBe('ORDERWIRE_ERR_NATS_CONNECT');
      expect((err as OrderwireError).message).toContain('authorization failed');
      expect(Date.now() - t0).toBeLessThan(3_000);

      const nc = await connectNats({ servers: secured.url, name: 'good', logger, token: 'right-token' });
      expect(await natsHealthCheck(nc)()).toMatchObject({ ok: true });
      await closeNats(nc, logger);
    } finally {
      await secured.dispose();
    }
  });

  it('stops the first-connect loop when aborted', async () => {
    const { logger } = capture();
    const gone = await startNats({ jetstream: false });
    const url = gone.url;
    await gone.dispose();
    const ac = new AbortController();
    const t0 = Date.now();
    const pending = connectNats({ servers: url, name: 'abort', logger, timeoutMs: 30_000, reconnectTimeWaitMs: 5_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const err = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as OrderwireError).code).toBe('ORDERWIRE_ERR_NATS_CONNECT');
    expect((err as OrderwireError).message).toContain('aborted');
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});

describe('a server that stops answering without closing its sockets (SIGSTOP)', () => {
  it('is given up after the unanswered PINGs and the connection moves to another listed server', async () => {
    // Production: 5 s × 3 PINGs (nats.js alone waits 2 min × 2); the test runs the same path faster.
    expect(DEFAULT_NATS_PING_INTERVAL_MS).toBe(5_000);
    expect(DEFAULT_NATS_MAX_PINGS_OUT).toBe(3);
    const [a, b] = await Promise.all([startNats({ jetstream: false }), startNats({ jetstream: false })]);
    const { lines, logger } = capture();
    let paused: number | undefined;
    try {
      const nc = await connectNats({ servers: [a.url, b.url], name: 'ping-test', logger, pingIntervalMs: 300, maxPingsOut: 2, reconnectTimeWaitMs: 100, reconnectJitterMs: 0 });
      const first = nc.getServer();
      const stuck = first.endsWith(`:${a.port}`) ? a : b;
      const other = stuck === a ? b : a;
      paused = stuck.pid;
      process.kill(paused, 'SIGSTOP');
      const t0 = Date.now();
      await until(() => isNatsConnected(nc) && nc.getServer().endsWith(`:${other.port}`), 10_000);
      // 2 PINGs of 300 ms, a reconnect wait of 100 ms: well under the 10 s bound even on a loaded box.
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(lines.some((l) => l.nats === 'staleConnection' || l.nats === 'disconnect')).toBe(true);
      await nc.close();
    } finally {
      if (paused !== undefined) process.kill(paused, 'SIGCONT');
      await Promise.all([a.dispose(), b.dispose()]);
    }
  }, 30_000);
});
