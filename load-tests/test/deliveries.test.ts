import { describe, expect, it } from 'vitest';
import type { Delivery, DeliveryAck } from '@orderwire/contracts';
import { boundedSet, deliveryProblem, displayMemory, handleOrders, type WireAck, type WireDelivery } from '../k6/lib/deliveries.ts';

const d = (seq: number, over: Partial<WireDelivery> = {}): WireDelivery => ({
  deliveryId: `ORDERS:${seq}`,
  orderId: `o${seq}`,
  seq,
  deliveryCount: 1,
  acceptedAt: 1_000,
  order: { orderId: `o${seq}` },
  ...over,
});

describe('the k6 display', () => {
  it('restates the contract types exactly (both directions assign)', () => {
    const fromContract: Delivery = d(1);
    const toWire: WireDelivery = fromContract;
    const ack: DeliveryAck = { ack: ['x'], reject: [{ deliveryId: 'y', reason: 'z' }] };
    const wireAck: WireAck = ack;
    expect(toWire.seq).toBe(1);
    expect(wireAck.reject).toHaveLength(1);
  });

  it('acks a batch, shows it in seq order and measures accept → now', () => {
    const memory = displayMemory();
    const out = handleOrders([[d(3), d(1), d(2, { acceptedAt: 990 })]], memory, 1_010);
    expect(out.answer).toEqual({ ack: ['ORDERS:1', 'ORDERS:2', 'ORDERS:3'] });
    expect(out.fresh.map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(out.latenciesMs).toEqual([10, 20, 10]);
    expect(out.duplicates).toBe(0);
  });

  it('acks but does not show a redelivery or the same order under another delivery id', () => {
    const memory = displayMemory();
    handleOrders([[d(1)]], memory, 1_000);
    const again = handleOrders([[d(1, { deliveryCount: 2 }), d(9, { orderId: 'o1' }), d(2)]], memory, 1_000);
    expect(again.answer.ack).toEqual(['ORDERS:1', 'ORDERS:2', 'ORDERS:9']);
    expect(again.fresh.map((x) => x.deliveryId)).toEqual(['ORDERS:2']);
    expect(again.duplicates).toBe(2);
  });

  it('rejects malformed entries that name a delivery and drops the rest', () => {
    const out = handleOrders([[d(1), { deliveryId: 'ORDERS:7' }, 42, null]], displayMemory(), 1_000);
    expect(out.answer.ack).toEqual(['ORDERS:1']);
    expect(out.answer.reject).toEqual([{ deliveryId: 'ORDERS:7', reason: 'malformed_delivery: orderId missing' }]);
    expect(out.malformed).toBe(3);
    expect(handleOrders(['not a batch'], displayMemory(), 0).malformed).toBe(1);
  });

  it('names what is missing', () => {
    expect(deliveryProblem(d(1))).toBeUndefined();
    expect(deliveryProblem({ ...d(1), seq: 'x' })).toBe('seq missing');
    expect(deliveryProblem({ ...d(1), acceptedAt: undefined })).toBe('acceptedAt missing');
    expect(deliveryProblem([])).toBe('not an object');
  });

  it('forgets the oldest id beyond its capacity', () => {
    const s = boundedSet(2);
    s.add('a');
    s.add('b');
    s.add('a');
    s.add('c');
    expect([s.has('a'), s.has('b'), s.has('c'), s.size]).toEqual([false, true, true, 2]);
    expect(() => boundedSet(0)).toThrow(RangeError);
  });
});
