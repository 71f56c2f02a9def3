import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { errors as natsErrors } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { createMuxedConnection, type MuxedConnection } from '../src/nats-mux-connection.js';

const logger = createLogger({ service: 'test', version: '0', level: 'silent' });
let server: NatsServerHandle;
let nc: NatsConnection;
let muxed: MuxedConnection | undefined;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  server = await startNats();
  nc = await connect({ servers: server.url });
  nc.subscribe('echo', {
    callback: (_err, msg) => {
      msg.respond(msg.data, { headers: msg.headers });
    },
  });
  nc.subscribe('silent', { callback: () => undefined });
  await nc.flush();
  await new Kvm(nc).create('mux_test', { history: 1 });
});
afterEach(() => {
  muxed?.close();
  muxed = undefined;
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

describe('createMuxedConnection', () => {
  it('answers requests over the mux: one pending entry while in flight, the reply as request() gives it', async () => {
    muxed = createMuxedConnection(nc, { logger });
    const p = muxed.nc.request('echo', 'ping', { timeout: 1_000 });
    expect(muxed.mux.pending).toBe(1);
    expect((await p).string()).toBe('ping');
    expect(muxed.mux.pending).toBe(0);
  });

  it('KV reads and compare-and-set writes through the managers behave as on the plain connection', async () => {
    muxed = createMuxedConnection(nc, { logger });
    const kv = await new Kvm(muxed.nc).open('mux_test');
    const rev = await kv.create('k', 'v1');
    const created = kv.create('k', 'again');
    expect(muxed.mux.pending).toBe(1);
    const err = await rejection(created);
    expect(err).toBeInstanceOf(JetStreamApiError);
    expect((err as JetStreamApiError).code).toBe(JetStreamApiCodes.StreamWrongLastSequence);
    const stale = await rejection(kv.update('k', 'v2', rev + 100));
    expect((stale as JetStreamApiError).code).toBe(JetStreamApiCodes.StreamWrongLastSequence);
    const rev2 = await kv.update('k', 'v2', rev);
    const entry = await kv.get('k');
    expect(entry?.string()).toBe('v2');
    expect(entry?.revision).toBe(rev2);
    await kv.delete('k', { previousSeq: rev2 });
    expect((await kv.get('k'))?.operation).toBe('DEL');
    expect(await kv.get('never')).toBeNull();
    expect(muxed.mux.pending).toBe(0);
  });

  it('JetStream API errors keep their codes, and publishes their PubAcks', async () => {
    muxed = createMuxedConnection(nc, { logger });
    const jsm = await jetstreamManager(muxed.nc);
    const missing = await rejection(jsm.consumers.info('KV_mux_test', 'nobody'));
    expect(missing).toBeInstanceOf(JetStreamApiError);
    expect((missing as JetStreamApiError).code).toBe(JetStreamApiCodes.ConsumerNotFound);
    const ack = await jetstream(muxed.nc).publish('$KV.mux_test.p', 'x');
    expect(ack.stream).toBe('KV_mux_test');
  });

  it('fails like request(): TimeoutError, no responders, a closed connection', async () => {
    muxed = createMuxedConnection(nc, { logger, sweepMs: 20 });
    const timedOut = await rejection(muxed.nc.request('silent', 'x', { timeout: 50 }));
    expect(timedOut).toBeInstanceOf(natsErrors.TimeoutError);
    const nobody = await rejection(muxed.nc.request('nobody.listens', 'x', { timeout: 1_000 }));
    expect(nobody).toBeInstanceOf(natsErrors.RequestError);
    expect((nobody as InstanceType<typeof natsErrors.RequestError>).isNoResponders()).toBe(true);
    const other = await connect({ servers: server.url });
    const own = createMuxedConnection(other, { logger });
    await other.close();
    const closed = await rejection(own.nc.request('echo', 'x', { timeout: 1_000 }));
    expect(closed).toBeInstanceOf(natsErrors.ClosedConnectionError);
    own.close();
  });

  it('leaves everything but request() to the connection', async () => {
    muxed = createMuxedConnection(nc, { logger });
    const got: string[] = [];
    const sub = muxed.nc.subscribe('plain.>', {
      callback: (_e, m) => {
        got.push(m.subject);
      },
    });
    muxed.nc.publish('plain.a', 'x');
    await muxed.nc.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(['plain.a']);
    sub.unsubscribe();
    expect(muxed.nc.isClosed()).toBe(false);
    expect(muxed.nc.info?.server_id).toBe(nc.info?.server_id);
  });
});
