import { jetstream, jetstreamManager, JetStreamApiError, JetStreamError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { headers } from '@nats-io/nats-core';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CAS_CONFLICT,
  DEFAULT_CAS_ATTEMPTS,
  JS_API_CODES,
  compareAndSet,
  isJetStreamApiError,
  isWrongLastSequence,
  parseMsgGetReply,
  parsePubAck,
} from '../src/jetstream.js';
import { closeNats, connectNats } from '../src/nats.js';

const logger = pino({ level: 'silent' });

let server: NatsServerHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let kv: KV;

beforeAll(async () => {
  server = await startNats();
  nc = await connectNats({ servers: server.url, name: 'jetstream-toolkit-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'CAS', subjects: ['cas.>'] });
  kv = await new Kvm(nc).create('cas_test');
});
afterAll(async () => {
  await closeNats(nc, logger);
  await server.dispose();
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('isWrongLastSequence: the one check for a lost compare-and-set, on what the server really answers', () => {
  it('a publish whose expected last subject sequence is stale', async () => {
    const first = await js.publish('cas.subject', 'a', { expect: { lastSubjectSequence: 0 } });
    await js.publish('cas.subject', 'b', { expect: { lastSubjectSequence: first.seq } });
    const err = await rejection(js.publish('cas.subject', 'c', { expect: { lastSubjectSequence: first.seq } }));
    expect(isWrongLastSequence(err)).toBe(true);
  });

  it('a KV update at a stale revision, and a KV create of a key that exists', async () => {
    const rev = await kv.create('k1', 'a');
    await kv.update('k1', 'b', rev);
    expect(isWrongLastSequence(await rejection(kv.update('k1', 'c', rev)))).toBe(true);
    expect(isWrongLastSequence(await rejection(kv.create('k1', 'd')))).toBe(true);
  });

  it('is false for every other failure', async () => {
    const notFound = await rejection(jsm.streams.info('NO_SUCH_STREAM'));
    expect(notFound).toBeInstanceOf(JetStreamApiError);
    expect(isWrongLastSequence(notFound)).toBe(false);
    expect(isWrongLastSequence(new Error('wrong last sequence'))).toBe(false);
    expect(isWrongLastSequence(undefined)).toBe(false);
  });
});

describe('JS_API_CODES: the server codes we branch on, by name', () => {
  it('names what the server answers for a missing stream, a missing consumer and a name in use', async () => {
    const stream = await rejection(jsm.streams.info('NO_SUCH_STREAM'));
    expect(isJetStreamApiError(stream, JS_API_CODES.StreamNotFound)).toBe(true);
    expect(isJetStreamApiError(stream, JS_API_CODES.ConsumerNotFound)).toBe(false);

    const consumer = await rejection(jsm.consumers.info('CAS', 'no_such_consumer'));
    expect(isJetStreamApiError(consumer, JS_API_CODES.ConsumerNotFound)).toBe(true);

    // Not named by the client library: the server's JSStreamNameExistErr.
    const inUse = await rejection(jsm.streams.add({ name: 'CAS', subjects: ['other.>'] }));
    expect(isJetStreamApiError(inUse, JS_API_CODES.StreamNameInUse)).toBe(true);
  });
});

describe('compareAndSet', () => {
  it('concurrent read-modify-writes of one KV key all land: every loser re-reads and writes again', async () => {
    await kv.put('counter', '0');
    const writers = 6;
    let conflicts = 0;
    await Promise.all(
      Array.from({ length: writers }, () =>
        compareAndSet(
          async () => {
            const cur = await kv.get('counter');
            if (cur === null) throw new Error('counter vanished');
            const next = Number(cur.string()) + 1;
            try {
              return await kv.update('counter', String(next), cur.revision);
            } catch (err) {
              if (isWrongLastSequence(err)) conflicts++;
              throw err;
            }
          },
          { attempts: writers + 1, exhausted: () => new Error('exhausted') },
        ),
      ),
    );
    expect((await kv.get('counter'))?.string()).toBe(String(writers));
    // The writers really raced (each read before any wrote), so the retry path was taken.
    expect(conflicts).toBeGreaterThan(0);
  });

  it('a round returning CAS_CONFLICT runs again; the first other value is the result', async () => {
    const seen: number[] = [];
    const out = await compareAndSet(
      (attempt) => {
        seen.push(attempt);
        return Promise.resolve(attempt < 3 ? CAS_CONFLICT : `done at ${attempt}`);
      },
      { exhausted: () => new Error('exhausted') },
    );
    expect(out).toBe('done at 3');
    expect(seen).toEqual([1, 2, 3]);
  });

  it(`gives up after ${DEFAULT_CAS_ATTEMPTS} lost rounds (or the attempts given) with the caller's error`, async () => {
    let rounds = 0;
    const lose = () => {
      rounds++;
      return Promise.resolve(CAS_CONFLICT);
    };
    await expect(compareAndSet(lose, { exhausted: () => new Error('hot key') })).rejects.toThrow('hot key');
    expect(rounds).toBe(DEFAULT_CAS_ATTEMPTS);
    rounds = 0;
    await expect(compareAndSet(lose, { attempts: 2, exhausted: () => new Error('hot key') })).rejects.toThrow('hot key');
    expect(rounds).toBe(2);
  });

  it('any other error ends the loop at once', async () => {
    let rounds = 0;
    const failure = new Error('store unavailable');
    await expect(
      compareAndSet(
        () => {
          rounds++;
          return Promise.reject(failure);
        },
        { exhausted: () => new Error('exhausted') },
      ),
    ).rejects.toBe(failure);
    expect(rounds).toBe(1);
  });
});

describe('raw JetStream API replies read as the client library reads them', () => {
  const te = new TextEncoder();
  const td = new TextDecoder();

  it('parsePubAck: the PubAck of a real publish; a lost compare-and-set keeps its code', async () => {
    const ok = await nc.request('cas.raw', 'x', { timeout: 5_000 });
    const ack = parsePubAck(ok.data);
    expect(ack).toMatchObject({ stream: 'CAS', duplicate: false });
    const stale = await nc.request('cas.raw', 'y', {
      timeout: 5_000,
      headers: (() => {
        const h = headers();
        h.set('Nats-Expected-Last-Subject-Sequence', String(ack.seq - 1));
        return h;
      })(),
    });
    let err: unknown;
    try {
      parsePubAck(stale.data);
    } catch (e) {
      err = e;
    }
    expect(isWrongLastSequence(err)).toBe(true);
    expect(() => parsePubAck(te.encode('{"seq":1}'))).toThrow(JetStreamError);
    expect(() => parsePubAck(te.encode('{"stream":"","seq":1}'))).toThrow('invalid ack response');
  });

  it('parseMsgGetReply: the same message as jsm.streams.getMessage, null when the subject is empty', async () => {
    await js.publish('cas.get', 'first');
    const second = await js.publish('cas.get', 'second');
    const raw = await nc.request('$JS.API.STREAM.MSG.GET.CAS', JSON.stringify({ last_by_subj: 'cas.get' }), { timeout: 5_000 });
    const got = parseMsgGetReply(raw.data);
    const lib = await jsm.streams.getMessage('CAS', { last_by_subj: 'cas.get' });
    expect(got?.seq).toBe(second.seq);
    expect(got?.seq).toBe(lib?.seq);
    expect(td.decode(got?.data)).toBe('second');

    const none = await nc.request('$JS.API.STREAM.MSG.GET.CAS', JSON.stringify({ last_by_subj: 'cas.nothing' }), { timeout: 5_000 });
    expect(parseMsgGetReply(none.data)).toBeNull();

    const missing = await nc.request('$JS.API.STREAM.MSG.GET.NO_SUCH_STREAM', JSON.stringify({ last_by_subj: 'x' }), { timeout: 5_000 });
    expect(() => parseMsgGetReply(missing.data)).toThrow(JetStreamApiError);
  });
});
