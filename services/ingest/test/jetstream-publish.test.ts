/**
 * The mux-based JetStream publish answers like @nats-io/jetstream's `js.publish()`, which it
 * replaces on ingest's hot path: checked side by side against a real nats-server.
 */
import { errors as natsErrors, headers as natsHeaders, type MsgHdrs, MsgHdrsImpl } from '@nats-io/nats-core';
import { JetStreamApiCodes, JetStreamApiError, JetStreamError, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createLogger, ensureTopology, orderStreamFor, STREAMS } from '@orderwire/platform';
import { stationSubject } from '@orderwire/contracts';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJsPublisher, messageHeaders, type JsPublisher } from '../src/jetstream-publish.js';

const logger = createLogger({ service: 'ingest', version: 'test', level: 'silent' });
const te = new TextEncoder();
let server: NatsServerHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: Awaited<ReturnType<typeof jetstreamManager>>;
let mux: JsPublisher;

beforeAll(async () => {
  server = await startNats();
  nc = await connect({ servers: server.url });
  await ensureTopology(nc, { streams: [STREAMS.ORDERS, STREAMS.RECEIPTS], buckets: [] });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  mux = createJsPublisher(nc, logger);
  nc.subscribe('silent.service', { callback: () => undefined }); // listens, never answers
  await nc.flush();
});
afterAll(async () => {
  mux?.close();
  await nc?.close();
  await server?.dispose();
});

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('messageHeaders', () => {
  const entries: Array<[string, string]> = [
    ['Ow-Order-Id', 'order-1'],
    ['Ow-Tenant', 't1'],
    ['Ow-Accepted-At', '1765080000000'],
    ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
    ['Ow-Body-Hash', 'sha256:abc'],
    ['Ow-Tenant', 't2'], // a name set twice keeps the last value, as set() does
  ];
  /** What the library's `headers()` and `set()` make (a MsgHdrsImpl: encode() is not on the interface). */
  function viaSet(list: Array<[string, string]>): MsgHdrsImpl {
    const h = natsHeaders() as MsgHdrsImpl;
    for (const [k, v] of list) h.set(k, v);
    return h;
  }

  it('makes the wire bytes headers() + set() make, before and after the publish headers are added', async () => {
    const mine = messageHeaders(entries);
    const theirs = viaSet(entries);
    expect(Buffer.from(mine.encode()).toString()).toBe(Buffer.from(theirs.encode()).toString());
    expect(mine.get('Ow-Tenant')).toBe('t2');
    // The publish adds Nats-Msg-Id to the object it is given (as js.publish does): stored as set() stores it.
    const subject = stationSubject('t1', 's1', 'grill');
    const ack = await mux.publish(subject, te.encode('{}'), { msgID: 'hdr-1', headers: mine, timeoutMs: 2_000 });
    theirs.set('Nats-Msg-Id', 'hdr-1');
    expect(Buffer.from(mine.encode()).toString()).toBe(Buffer.from(theirs.encode()).toString());
    const stored = await jsm.streams.getMessage(ack.stream, { seq: ack.seq });
    const record = (h: MsgHdrs) => Object.fromEntries(h.keys().map((k) => [k, h.values(k)]));
    expect(record(stored!.header)).toEqual(theirs.toRecord());
    expect(Buffer.from(messageHeaders([]).encode()).length).toBe(0);
  });

  it('refuses what set() refuses: CR or LF in a value, a bad character in a name; trims a value as set() does', () => {
    expect(() => messageHeaders([['Ow-Order-Id', 'a\r\nInjected: 1']])).toThrow(/cannot contain/);
    expect(() => viaSet([['Ow-Order-Id', 'a\r\nInjected: 1']])).toThrow(/cannot contain/);
    expect(() => messageHeaders([['Bad Name', 'x']])).toThrow(/not a valid character/);
    expect(() => messageHeaders([['Bad:Name', 'x']])).toThrow(/not a valid character/);
    expect(messageHeaders([['Ow-Order-Id', ' padded ']]).get('Ow-Order-Id')).toBe(viaSet([['Ow-Order-Id', ' padded ']]).get('Ow-Order-Id'));
  });
});

describe('createJsPublisher', () => {
  it('stores the message with Nats-Msg-Id and the given headers; a repeat is a duplicate with the first seq, as with js.publish', async () => {
    const h = natsHeaders();
    h.set('Ow-Test', 'one');
    const subject = stationSubject('t1', 's1', 'grill');
    const first = await mux.publish(subject, te.encode('{"a":1}'), { msgID: 'mux-1', headers: h, timeoutMs: 2_000 });
    expect(first).toMatchObject({ stream: await orderStreamFor(jsm, 't1', 's1'), duplicate: false });
    expect(first.seq).toBeGreaterThan(0);
    const repeat = await mux.publish(subject, te.encode('{"a":1}'), { msgID: 'mux-1', timeoutMs: 2_000 });
    expect(repeat).toEqual({ ...first, duplicate: true });

    const lib = await js.publish(subject, te.encode('{"a":2}'), { msgID: 'lib-1', timeout: 2_000 });
    const libRepeat = await js.publish(subject, te.encode('{"a":2}'), { msgID: 'lib-1', timeout: 2_000 });
    const mine = await mux.publish(subject, te.encode('{"a":2}'), { msgID: 'lib-1', timeoutMs: 2_000 });
    expect(Object.keys(mine).sort()).toEqual(Object.keys(libRepeat).sort());
    expect(mine).toEqual(libRepeat);
    expect(lib.duplicate).toBe(false);

    const stored = await jsm.streams.getMessage(first.stream, { seq: first.seq });
    expect(stored?.header.get('Nats-Msg-Id')).toBe('mux-1');
    expect(stored?.header.get('Ow-Test')).toBe('one');
  });

  it('expect.lastSubjectSequence refused → JetStreamApiError StreamWrongLastSequence, the same error js.publish throws', async () => {
    const subject = 'receipts.t1.order-x.d1';
    await mux.publish(subject, te.encode('{}'), { expect: { lastSubjectSequence: 0 }, timeoutMs: 2_000 });
    const mine = await failure(mux.publish(subject, te.encode('{}'), { expect: { lastSubjectSequence: 0 }, timeoutMs: 2_000 }));
    const lib = await failure(js.publish(subject, te.encode('{}'), { expect: { lastSubjectSequence: 0 }, timeout: 2_000 }));
    expect(mine).toBeInstanceOf(JetStreamApiError);
    expect((mine as JetStreamApiError).code).toBe(JetStreamApiCodes.StreamWrongLastSequence);
    expect([mine.name, mine.message, (mine as JetStreamApiError).code]).toEqual([lib.name, lib.message, (lib as JetStreamApiError).code]);
  });

  it('no PubAck in time → nats TimeoutError (what the publisher maps to `timeout`)', async () => {
    const started = Date.now();
    const err = await failure(mux.publish('silent.service', te.encode('x'), { timeoutMs: 150 }));
    expect(err).toBeInstanceOf(natsErrors.TimeoutError);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('no stream on the subject (no responders) → a JetStreamError caused by NoRespondersError, not a timeout', async () => {
    const err = await failure(mux.publish('nowhere.at.all', te.encode('x'), { timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(JetStreamError);
    expect(err).not.toBeInstanceOf(natsErrors.TimeoutError);
    expect(err.cause).toBeInstanceOf(natsErrors.NoRespondersError);
  });

  it('a closed connection → the connection error itself, as nc.request rejects', async () => {
    const own = await connect({ servers: server.url });
    const p = createJsPublisher(own, logger);
    await own.close();
    const err = await failure(p.publish(stationSubject('t1', 's1', 'grill'), te.encode('x'), { timeoutMs: 1_000 }));
    expect(err).toBeInstanceOf(natsErrors.ClosedConnectionError);
    p.close();
  });
});
