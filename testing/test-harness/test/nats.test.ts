import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import { HarnessError, HarnessErrorCode, startNats, waitFor, type NatsServerHandle } from '../src/index.js';
import { expectGone } from './helpers.js';

const handles: NatsServerHandle[] = [];
const clients: NatsConnection[] = [];

async function nats(opts?: Parameters<typeof startNats>[0]): Promise<NatsServerHandle> {
  const h = await startNats(opts);
  handles.push(h);
  return h;
}

async function client(servers: string | string[]): Promise<NatsConnection> {
  const nc = await connect({ servers, reconnectTimeWait: 50, maxReconnectAttempts: -1, timeout: 2_000 });
  clients.push(nc);
  return nc;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((nc) => nc.close()));
  await Promise.all(handles.splice(0).map((h) => h.dispose()));
});

describe('startNats', () => {
  it('starts a JetStream server on random loopback ports, then stops and cleans up', async () => {
    const n = await nats();
    expect(n.url).toBe(`nats://127.0.0.1:${n.port}`);
    expect(n.monitorUrl).toBe(`http://127.0.0.1:${n.monitorPort}`);
    expect(n.running).toBe(true);

    const nc = await client(n.url);
    const jsm = await jetstreamManager(nc);
    const account = await jsm.getAccountInfo();
    expect(account.streams).toBe(0);
    await nc.close();

    const jsz = (await (await fetch(`${n.monitorUrl}/jsz`)).json()) as { config?: { store_dir?: string } };
    expect(jsz.config?.store_dir).toContain(n.storeDir);

    const pid = n.pid;
    await n.stop();
    expect(n.running).toBe(false);
    await expectGone(pid, 1_000);
    expect(n.logs()).toContain('Server is ready');

    await n.dispose();
    expect(existsSync(n.dir)).toBe(false);
    await expect(n.restart()).rejects.toMatchObject({ code: HarnessErrorCode.Disposed });
  });

  it('starts without JetStream when asked', async () => {
    const n = await nats({ jetstream: false });
    const nc = await client(n.url);
    await expect(jetstreamManager(nc)).rejects.toThrow(/jetstream/i);
  });

  it('keeps JetStream data across kill() + restart() on the same port and store', async () => {
    const n = await nats();
    const { port, storeDir } = n;
    const nc = await client(n.url);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'] });
    const js = jetstream(nc);
    for (let i = 1; i <= 5; i++) await js.publish('orders.t1.s1.grill', `order-${i}`);
    await nc.close();

    const oldPid = n.pid;
    await n.kill();
    await expectGone(oldPid, 1_000);
    await n.restart();
    expect(n.pid).not.toBe(oldPid);
    expect(n.port).toBe(port);
    expect(n.storeDir).toBe(storeDir);

    const nc2 = await client(n.url);
    const jsm2 = await jetstreamManager(nc2);
    const info = await jsm2.streams.info('ORDERS');
    expect(info.state.messages).toBe(5);
    const third = await jsm2.streams.getMessage('ORDERS', { seq: 3 });
    expect(third?.string()).toBe('order-3');
  });

  it('lets a connected client reconnect after a restart and keep publishing', async () => {
    const n = await nats();
    const nc = await client(n.url);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'RECEIPTS', subjects: ['receipts.>'] });
    const js = jetstream(nc);
    await js.publish('receipts.a', 'before');

    const reconnected = (async () => {
      for await (const s of nc.status()) if (s.type === 'reconnect') return s.server;
      return undefined;
    })();
    await n.restart({ hard: true });
    expect(await reconnected).toContain(String(n.port));

    const ack = await waitFor(() => js.publish('receipts.a', 'after'), { timeoutMs: 5_000, message: 'publish after reconnect' });
    expect(ack.seq).toBe(2);
  });

  it('waits for a pinned port that is briefly taken after a kill', async () => {
    const n = await nats();
    const port = n.port;
    await n.kill();
    const squatter = await listen(port);
    const released = new Promise<void>((resolve) => setTimeout(() => squatter.close(() => resolve()), 600));
    await n.start();
    await released;
    expect(n.port).toBe(port);
    expect(n.running).toBe(true);
    expect(n.logs()).toMatch(/port busy, retrying/);
  });

  it('applies extra config text and args, and honours a caller store dir', async () => {
    const storeDir = await mkdtemp(join(tmpdir(), 'harness-store-'));
    try {
      const n = await nats({ name: 'custom-1', storeDir, config: 'max_payload: 65536', args: ['-D'] });
      const nc = await client(n.url);
      expect(nc.info?.max_payload).toBe(65536);
      expect(nc.info?.server_name).toBe('custom-1');
      expect(n.logs()).toContain('[DBG]');
      await (await jetstreamManager(nc)).streams.add({ name: 'S', subjects: ['s'] });
      await n.dispose();
      expect(existsSync(n.dir)).toBe(false);
      expect(await readdir(join(storeDir, 'jetstream'))).not.toHaveLength(0);
    } finally {
      await rm(storeDir, { recursive: true, force: true });
    }
  });

  it('gives nats-server the extra environment over its own, on every (re)start', async () => {
    const environ = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const n = await nats({ env: { GOGC: '150', ORDERWIRE_HARNESS_ENV_TEST: 'yes' } });
    expect(environ(n.pid)).toEqual(expect.arrayContaining(['GOGC=150', 'ORDERWIRE_HARNESS_ENV_TEST=yes', `PATH=${process.env.PATH}`]));
    await n.restart();
    expect(environ(n.pid)).toEqual(expect.arrayContaining(['GOGC=150', 'ORDERWIRE_HARNESS_ENV_TEST=yes']));
    const plain = await nats();
    expect(environ(plain.pid).some((v) => v.startsWith('ORDERWIRE_HARNESS_ENV_TEST='))).toBe(false);
  });

  it('puts jetstreamConfig inside the generated jetstream block, next to its store dir', async () => {
    const n = await nats({ jetstreamConfig: 'sync_interval: always' });
    const res = await fetch(`${n.monitorUrl}/varz`);
    const varz = (await res.json()) as { jetstream?: { config?: { store_dir?: string; sync_always?: boolean } } };
    expect(varz.jetstream?.config?.sync_always).toBe(true);
    expect(varz.jetstream?.config?.store_dir).toContain(n.storeDir);
  });

  it('fails with ExitedEarly and the server output when the config is invalid', async () => {
    const err = await startNats({ config: 'this is { not valid' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HarnessError);
    expect((err as HarnessError).code).toBe(HarnessErrorCode.ExitedEarly);
    expect((err as HarnessError).message).toMatch(/nats\.conf/);
  });

  it('supports Symbol.asyncDispose', async () => {
    const n = await startNats({ jetstream: false });
    const pid = n.pid;
    await n[Symbol.asyncDispose]();
    await expectGone(pid, 1_000);
    expect(existsSync(n.dir)).toBe(false);
  });
});

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}
