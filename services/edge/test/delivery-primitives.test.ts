/** Small pieces of the delivery engine: ack-subject parsing, the limiter, reading a display's answer (the doorbell: test/doorbell.test.ts). */
import { describe, expect, it } from 'vitest';
import { parseAckSubject } from '../src/delivery/js-message.js';
import { createLimiter, withSlot } from '../src/delivery/limiter.js';
import { ackedIds, rejectReason } from '../src/socket/answer.js';

describe('parseAckSubject', () => {
  it('reads the v1 layout', () => {
    expect(parseAckSubject('$JS.ACK.ORDERS.display_t1_d1.3.42.7.1795852027990362053.5')).toEqual({
      stream: 'ORDERS',
      consumer: 'display_t1_d1',
      deliveryCount: 3,
      streamSeq: 42,
      deliverySeq: 7,
      storedAt: 1795852027990,
      pending: 5,
    });
  });
  it('reads the v2 layout with domain and account hash', () => {
    expect(parseAckSubject('$JS.ACK.hub.ACCHASH.ORDERS.c.1.2.3.1795852027990362053.0.rnd')).toMatchObject({
      stream: 'ORDERS',
      consumer: 'c',
      deliveryCount: 1,
      streamSeq: 2,
      pending: 0,
    });
  });
  it('rejects anything else', () => {
    expect(parseAckSubject('_INBOX.abc.def')).toBeUndefined();
    expect(parseAckSubject('$JS.ACK.ORDERS.c.1.2')).toBeUndefined();
    expect(parseAckSubject('$JS.ACK.ORDERS.c.x.y.z.notanumber.0')).toBeUndefined();
  });
});

describe('limiter', () => {
  it('grants up to max at once, then FIFO; a cancelled waiter is skipped', () => {
    const l = createLimiter(2);
    const order: string[] = [];
    const w = (name: string) => ({ onSlot: () => order.push(name) });
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(w);
    l.acquire(a!);
    l.acquire(b!);
    l.acquire(c!);
    l.acquire(d!);
    l.acquire(d!); // queued once only
    l.acquire(e!);
    expect(order).toEqual(['a', 'b']);
    expect(l.queued).toBe(3);
    expect(l.cancel(d!)).toBe(true);
    l.release();
    l.release();
    expect(order).toEqual(['a', 'b', 'c', 'e']);
    expect(l.active).toBe(2);
    expect(l.queued).toBe(0);
  });
  it('refuses a nonsensical size', () => {
    expect(() => createLimiter(0)).toThrow(RangeError);
  });
});

describe('withSlot', () => {
  it('runs at most max tasks at once, the rest in arrival order, and frees the slot when a task fails', async () => {
    const limiter = createLimiter(2);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const task = (i: number) => async (): Promise<number> => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (i === 1) throw new Error('boom');
      return i;
    };
    const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => withSlot(limiter, task(i))));
    expect(peak).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(limiter.active).toBe(0);
    expect(limiter.queued).toBe(0);
  });
});


describe("a display's answer", () => {
  it('acks exactly the string ids of its ack array, short or long; anything else acks nothing', () => {
    const short = ackedIds({ ack: ['ORDERS_P0:1', 7, null, 'ORDERS_P0:3'] });
    expect(['ORDERS_P0:1', 'ORDERS_P0:2', 'ORDERS_P0:3', '7'].map((id) => short.has(id))).toEqual([true, false, true, false]);
    const ids = Array.from({ length: 500 }, (_, i) => `ORDERS_P0:${i}`);
    const long = ackedIds({ ack: [...ids, 9] });
    expect(long.has('ORDERS_P0:499')).toBe(true);
    expect(long.has('ORDERS_P0:500')).toBe(false);
    expect(long.has('9')).toBe(false);
    for (const raw of [undefined, null, 'ORDERS_P0:1', ['ORDERS_P0:1'], { ack: 'ORDERS_P0:1' }, { reject: [] }]) {
      expect(ackedIds(raw).has('ORDERS_P0:1')).toBe(false);
    }
  });

  it("gives a rejection's reason (the last entry for the id, at most 100 characters), or why there is none", () => {
    const answer = {
      ack: [],
      reject: [
        { deliveryId: 'a', reason: 'first' },
        { deliveryId: 'a', reason: 'cannot render' },
        { deliveryId: 'b' },
        { deliveryId: 'c', reason: 'x'.repeat(300) },
        null,
        'd',
      ],
    };
    expect(rejectReason(answer, 'a')).toBe('cannot render');
    expect(rejectReason(answer, 'b')).toBe('rejected');
    expect(rejectReason(answer, 'c')).toBe('x'.repeat(100));
    expect(rejectReason(answer, 'd')).toBe('not_acknowledged');
    expect(rejectReason({ ack: ['a'] }, 'a')).toBe('not_acknowledged');
    expect(rejectReason(null, 'a')).toBe('not_acknowledged');
  });
});
