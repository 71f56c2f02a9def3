/** Pure pieces: dedupe window, backoff, JWT payload reading, the event hub. */
import { describe, expect, it } from 'vitest';
import type { Delivery, DeliveryAck } from '@orderwire/contracts';
import { createDeliveryProcessor } from '../src/delivery.js';
import { EventHub } from '../src/emitter.js';
import type { DisplaySdkError } from '../src/errors.js';
import { decodeJwtPayload } from '../src/jwt.js';
import { LruSet } from '../src/lru.js';
import { backoffDelay } from '../src/timing.js';

function d(seq: number, orderId = `o-${seq}`): Delivery {
  return { deliveryId: `ORDERS:${seq}`, orderId, seq, deliveryCount: 1, acceptedAt: 0, order: {} };
}

async function answer(processor: ReturnType<typeof createDeliveryProcessor>, batch: unknown): Promise<DeliveryAck> {
  let reply: DeliveryAck | undefined;
  let calls = 0;
  await processor.handleBatch(batch, (a: DeliveryAck) => {
    calls++;
    reply = a;
  });
  expect(calls).toBe(1);
  return reply!;
}

describe('dedupe window', () => {
  it('forgets the least recently seen id once the window is full', async () => {
    const shown: number[] = [];
    const processor = createDeliveryProcessor({
      dedupeWindow: 3,
      handlers: () => [(x: Delivery) => void shown.push(x.seq)],
      onError: () => undefined,
    });
    await answer(processor, [d(1), d(2), d(3)]);
    await answer(processor, [d(1)]); // duplicate; also refreshes 1's recency
    await answer(processor, [d(4)]); // evicts 2 (least recent), not 1
    await answer(processor, [d(1), d(2)]);
    expect(shown).toEqual([1, 2, 3, 4, 2]);
    expect(processor.stats()).toMatchObject({ received: 7, shown: 5, duplicatesOnWire: 2, acked: 7 });
  });

  it('LruSet keeps at most its capacity', () => {
    const set = new LruSet(2);
    set.add('a');
    set.add('b');
    set.add('c');
    expect(set.size).toBe(2);
    expect(set.has('a')).toBe(false);
    expect(set.has('b')).toBe(true);
  });

  it('answers a non-array batch with an empty ack and reports it', async () => {
    const errors: DisplaySdkError[] = [];
    const processor = createDeliveryProcessor({ dedupeWindow: 10, handlers: () => [], onError: (e) => void errors.push(e) });
    expect(await answer(processor, { not: 'an array' })).toEqual({ ack: [] });
    expect(errors.map((e) => e.code)).toEqual(['ORDERWIRE_ERR_SDK_MALFORMED_DELIVERY']);
  });

  it('truncates long reject reasons', async () => {
    const processor = createDeliveryProcessor({
      dedupeWindow: 10,
      handlers: () => [
        () => {
          throw new Error('x'.repeat(2_000));
        },
      ],
      onError: () => undefined,
    });
    const reply = await answer(processor, [d(1)]);
    expect(reply.reject?.[0]?.reason.length).toBe(500);
  });
});

describe('backoffDelay', () => {
  const policy = { baseMs: 100, maxMs: 1_000 };
  it('doubles per failure within [d/2, d] and stops at maxMs', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, () => 1))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });
});

describe('decodeJwtPayload', () => {
  it('reads a base64url payload, including non-ASCII text', () => {
    const payload = { sub: 'd-1', exp: 123, note: 'Küche ✓' };
    const token = `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;
    expect(decodeJwtPayload(token)).toEqual(payload);
  });

  it('returns undefined for anything that is not a JWT with an object payload', () => {
    expect(decodeJwtPayload('opaque')).toBeUndefined();
    expect(decodeJwtPayload('a.b')).toBeUndefined();
    expect(decodeJwtPayload('a.!!!.c')).toBeUndefined();
    expect(decodeJwtPayload(`a.${Buffer.from('[1]').toString('base64url')}.c`)).toBeUndefined();
  });
});

describe('EventHub', () => {
  it('reports a throwing or rejecting listener on error instead of breaking the emitter', async () => {
    const hub = new EventHub<{ ping: () => void | Promise<void>; error: (err: DisplaySdkError) => void }>();
    const errors: DisplaySdkError[] = [];
    let after = 0;
    hub.on('error', (e) => void errors.push(e));
    hub.on('ping', () => {
      throw new Error('boom');
    });
    hub.on('ping', async () => {
      await Promise.resolve();
      throw new Error('async boom');
    });
    hub.on('ping', () => void after++);
    hub.emit('ping');
    await new Promise((r) => setTimeout(r, 0));
    expect(after).toBe(1);
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['ORDERWIRE_ERR_SDK_LISTENER_FAILED', 'a ping listener threw: boom'],
      ['ORDERWIRE_ERR_SDK_LISTENER_FAILED', 'a ping listener threw: async boom'],
    ]);
  });

  it('on() returns an unsubscribe function', () => {
    const hub = new EventHub<{ ping: () => void; error: (err: DisplaySdkError) => void }>();
    let n = 0;
    const off = hub.on('ping', () => void n++);
    hub.emit('ping');
    off();
    hub.emit('ping');
    expect(n).toBe(1);
  });
});
