import { Writable } from 'node:stream';
import { jetstreamManager } from '@nats-io/jetstream';
import { freePort, startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderwireError } from '../src/errors.js';
import { createHttpServer } from '../src/http.js';
import { startService, type StartServiceOptions } from '../src/service-process.js';
import { ensureTopology, STREAMS } from '../src/topology.js';
import { connectNats, closeNats } from '../src/nats.js';

const quiet = pino({ level: 'silent' });

interface Line {
  level: string;
  msg: string;
  step?: string;
  config?: unknown;
  port?: number;
}

function start(overrides: Partial<StartServiceOptions> = {}) {
  const lines: Line[] = [];
  const exits: number[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  const proc = startService({
    service: 'svc',
    version: '0',
    logLevel: 'info',
    shutdownGraceMs: 10_000,
    config: { port: 1 },
    destination,
    exit: (code) => exits.push(code),
    // No process signal handlers in a test worker.
    signals: [],
    ...overrides,
  });
  return { proc, lines, exits };
}

describe('startService against a real nats-server', () => {
  let server: NatsServerHandle;
  beforeAll(async () => {
    server = await startNats();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('refuses to start when a stream it needs is missing, naming it, and creates nothing', async () => {
    const fresh = await startNats();
    try {
      const { proc } = start();
      const err = await proc.connectNats({ servers: fresh.url, name: 'svc-test', topology: { streams: [STREAMS.ORDERS] } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as OrderwireError).code).toBe('ORDERWIRE_ERR_TOPOLOGY_MISMATCH');
      expect((err as OrderwireError).message).toContain('svc needs: stream ORDERS exists: missing');
      expect((await proc.health.ready()).state).not.toBe('ready');
      await proc.shutdown.run('test');
      const nc = await connectNats({ servers: fresh.url, name: 'check', logger: quiet });
      const jsm = await jetstreamManager(nc);
      const names: string[] = [];
      for await (const n of jsm.streams.names()) names.push(n);
      expect(names).toEqual([]);
      await closeNats(nc, quiet);
    } finally {
      await fresh.dispose();
    }
  });

  it('starts NATS, verifies the topology, HTTP, then stops them in reverse order', async () => {
    const { proc, lines, exits } = start();
    expect(lines[0]).toMatchObject({ msg: 'svc starting', config: { port: 1 } });

    // The owner applies; the service only verifies.
    const owner = await connectNats({ servers: server.url, name: 'owner', logger: quiet });
    await ensureTopology(owner, { streams: [STREAMS.ORDERS], buckets: [] });
    await closeNats(owner, quiet);
    const nc = await proc.connectNats({ servers: server.url, name: 'svc-test', topology: { streams: [STREAMS.ORDERS], buckets: [] } });
    expect(lines.some((l) => l.msg === 'jetstream topology verified')).toBe(true);

    const app = createHttpServer({ logger: proc.logger, health: proc.health, metrics: proc.metrics });
    let closed = 0;
    const port = await freePort();
    await proc.serve({ app, close: async () => ((closed += 1), await app.close()) }, { host: '127.0.0.1', port, step: 'http' });
    expect(lines.at(-1)).toMatchObject({ msg: 'svc ready', port });
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    expect(await proc.metrics.text()).toMatch(/orderwire_nats_connected\S* 1/);

    expect(await proc.shutdown.run('test')).toBe(0);
    expect(exits).toEqual([0]);
    expect(closed).toBe(1);
    expect(nc.isClosed()).toBe(true);
    expect((await proc.health.ready()).state).toBe('stopping');
    const steps = lines.filter((l) => l.msg === 'shutdown step done').map((l) => l.step);
    expect(steps).toEqual(['readiness', 'http', 'nats', 'startup', 'signals']);
  });

  it('a shutdown during start-up aborts a NATS connect that is still retrying', async () => {
    const { proc, exits } = start();
    const unreachable = `nats://127.0.0.1:${await freePort()}`;
    const connecting = proc.connectNats({ servers: unreachable, name: 'svc-test', topology: {} });
    const outcome = connecting.then(
      () => 'connected',
      (err: unknown) => err,
    );
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    expect(await proc.shutdown.run('SIGTERM')).toBe(0);
    const err = await outcome;
    // The retry loop sleeps up to ~3 s between attempts; the abort cuts that short.
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(err).toBeInstanceOf(OrderwireError);
    expect((err as OrderwireError).code).toBe('ORDERWIRE_ERR_NATS_CONNECT');
    expect(exits).toEqual([0]);
  });
});
