/** The delivery processor's dedupe window and its acks. */
import { describe, expect, it } from 'vitest';
import type { Delivery, DeliveryAck } from '@orderwire/contracts';
import { createDeliveryProcessor } from '../src/delivery.js';
import type { DisplaySdkError } from '../src/errors.js';
import { LruSet } from '../src/lru.js';

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
