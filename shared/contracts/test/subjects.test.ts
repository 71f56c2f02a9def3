import { describe, expect, it } from 'vitest';
import {
  orderSubjectOfRing,
  ringSubject,
  InvalidIdError,
  orderIdFromKey,
  orderKey,
  parseReceiptSubject,
  receiptSubject,
  receiptsForOrderFilter,
  stationSubject,
  displaySubject,
  displayConsumerName,
  displayFilterSubjects,
  fnv1a32,
  orderPartition,
  orderPartitionSubject,
  parseOrderPartitionSubject,
  parseOrderSubject,
  parseLegacyOrderSubject,
  storeOrdersWildcard,
  ORDER_VIRTUAL_PARTITIONS,
} from '../src/index.js';

const injections = ['a.b', '*', '>', 'a b', 'a\tb', 'a\r\nb', 'a\u0000', '', 'x'.repeat(65), 'orders.>'];

describe('subject builders', () => {
  it.each(injections)('reject injected id %j in every position', (bad) => {
    expect(() => stationSubject(bad, 's', 'st')).toThrow(InvalidIdError);
    expect(() => stationSubject('t', bad, 'st')).toThrow(InvalidIdError);
    expect(() => stationSubject('t', 's', bad)).toThrow(InvalidIdError);
    expect(() => displaySubject('t', 's', bad)).toThrow(InvalidIdError);
    expect(() => displayConsumerName(bad, 'd')).toThrow(InvalidIdError);
    expect(() => receiptSubject(bad, 'o1', 'd1')).toThrow(InvalidIdError);
    expect(() => receiptSubject('t1', 'o1', bad)).toThrow(InvalidIdError);
    expect(() => receiptsForOrderFilter(bad, 'o1')).toThrow(InvalidIdError);
  });

  it('reject order ids outside ORDER_ID_PATTERN with the order kind', () => {
    for (const bad of ['a b', '', 'x'.repeat(129), 'a*', 'a>b', 'ä']) {
      try {
        receiptSubject('t1', bad, 'd1');
        expect.unreachable(`accepted ${JSON.stringify(bad)}`);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidIdError);
        expect((err as InvalidIdError).kind).toBe('order');
        expect((err as InvalidIdError).code).toBe('ORDERWIRE_ERR_INVALID_ID');
      }
    }
  });
});

describe('virtual partitions (ADR 0003)', () => {
  it('FNV-1a-32 matches the reference vectors (Go hash/fnv New32a)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('vp = FNV-1a-32("<tenant>.<store>") mod 256, and it is the second token of every order subject', () => {
    expect(ORDER_VIRTUAL_PARTITIONS).toBe(256);
    const vp = fnv1a32('acme.store-1') % 256;
    expect(orderPartition('acme', 'store-1')).toBe(vp);
    expect(stationSubject('acme', 'store-1', 'grill')).toBe(`orders.${vp}.acme.store-1.grill`);
    expect(displaySubject('acme', 'store-1', 'd1')).toBe(`orders.${vp}.acme.store-1.display.d1`);
    expect(storeOrdersWildcard('acme', 'store-1')).toBe(`orders.${vp}.acme.store-1.>`);
    expect(displayFilterSubjects('acme', 'store-1', 'd1', ['grill', 'grill'])).toEqual([
      `orders.${vp}.acme.store-1.grill`,
      `orders.${vp}.acme.store-1.display.d1`,
    ]);
  });

  it('spreads stores over the partitions', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2_000; i++) seen.add(orderPartition('t', `store-${i}`));
    expect(seen.size).toBeGreaterThan(240);
  });

  it('partition subjects round-trip; anything else is not one', () => {
    expect(orderPartitionSubject(0)).toBe('orders.0.>');
    expect(orderPartitionSubject(255)).toBe('orders.255.>');
    expect(() => orderPartitionSubject(256)).toThrow(RangeError);
    expect(() => orderPartitionSubject(-1)).toThrow(RangeError);
    for (let vp = 0; vp < 256; vp++) expect(parseOrderPartitionSubject(orderPartitionSubject(vp))).toBe(vp);
    for (const bad of ['orders.>', 'orders.256.>', 'orders.01.>', 'orders.1.*', 'orders.1', 'x.1.>', 'orders.a.>']) {
      expect(parseOrderPartitionSubject(bad)).toBeUndefined();
    }
  });

  it('parses a subject only with its store’s vp; the legacy parser reads the old layout', () => {
    const vp = orderPartition('t1', 's1');
    expect(parseOrderSubject(`orders.${vp}.t1.s1.grill`)).toEqual({ kind: 'station', vp, tenant: 't1', store: 's1', station: 'grill' });
    expect(parseOrderSubject(`orders.${(vp + 1) % 256}.t1.s1.grill`)).toBeUndefined();
    expect(parseOrderSubject('orders.t1.s1.grill')).toBeUndefined();
    expect(parseLegacyOrderSubject('orders.t1.s1.grill')).toEqual({ kind: 'station', tenant: 't1', store: 's1', station: 'grill' });
    expect(parseLegacyOrderSubject('orders.t1.s1.display.d1')).toEqual({ kind: 'display', tenant: 't1', store: 's1', displayId: 'd1' });
    expect(parseLegacyOrderSubject('orders.t1.s1')).toBeUndefined();
  });
});

describe('ring subjects', () => {
  it('prefix an order subject and map back; anything else is not a ring', () => {
    expect(ringSubject('orders.7.t1.s1.grill')).toBe('ow.ring.orders.7.t1.s1.grill');
    expect(orderSubjectOfRing('ow.ring.orders.7.t1.s1.display.d1')).toBe('orders.7.t1.s1.display.d1');
    expect(orderSubjectOfRing('orders.7.t1.s1.grill')).toBeUndefined();
    expect(orderSubjectOfRing('ow.ring.receipts.t1.x.d1')).toBeUndefined();
  });
});

describe('receipt subjects', () => {
  it('encode the order id as one subject-safe token', () => {
    const subject = receiptSubject('t1', 'POS.17.0042', 'display-1');
    const tokens = subject.split('.');
    expect(tokens).toHaveLength(4);
    expect(tokens[0]).toBe('receipts');
    expect(tokens[2]).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(tokens[2]).toBe(orderKey('POS.17.0042'));
    expect(receiptsForOrderFilter('t1', 'POS.17.0042')).toBe(`receipts.t1.${tokens[2]}.*`);
  });

  it.each(['POS.17.0042', 'a', 'ab', 'abc', 'a.b.c:d#e/f-g_h', '...', '#:/', 'x'.repeat(128), '0', 'zzz', '____'])(
    'round-trips order id %j',
    (orderId) => {
      const parsed = parseReceiptSubject(receiptSubject('t1', orderId, 'd1'));
      expect(parsed).toEqual({ tenant: 't1', orderId, displayId: 'd1' });
      expect(orderIdFromKey(orderKey(orderId))).toBe(orderId);
      expect(orderKey(orderId)).not.toContain('=');
    },
  );

  it('distinguishes ids that differ only around dots', () => {
    const keys = ['a.b', 'a..b', 'ab.', '.ab'].map(orderKey);
    expect(new Set(keys).size).toBe(4);
  });

  it('reject keys and subjects that are not ours', () => {
    expect(orderIdFromKey('')).toBeUndefined();
    expect(orderIdFromKey('a')).toBeUndefined(); // impossible base64 length
    expect(orderIdFromKey('YR')).toBeUndefined(); // non-canonical trailing bits for "a" (canonical "YQ")
    expect(orderIdFromKey('YQ==')).toBeUndefined(); // padding is not part of the key
    expect(orderIdFromKey('_w')).toBeUndefined(); // byte 0xff is not UTF-8
    expect(orderIdFromKey(orderKey('a').replace(/./, '+'))).toBeUndefined();
    expect(orderIdFromKey('YSBi')).toBeUndefined(); // "a b" is not a valid order id
    expect(parseReceiptSubject('receipts.t1.YQ')).toBeUndefined();
    expect(parseReceiptSubject('orders.t1.YQ.d1')).toBeUndefined();
    expect(parseReceiptSubject('receipts.t1.YQ.d1.x')).toBeUndefined();
    expect(parseReceiptSubject('receipts.t1.YQ.d1')).toEqual({ tenant: 't1', orderId: 'a', displayId: 'd1' });
  });
});
