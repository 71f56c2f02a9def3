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

describe('ring subjects', () => {
  it('prefix an order subject and map back; anything else is not a ring', () => {
    expect(ringSubject('orders.t1.s1.grill')).toBe('ow.ring.orders.t1.s1.grill');
    expect(orderSubjectOfRing('ow.ring.orders.t1.s1.display.d1')).toBe('orders.t1.s1.display.d1');
    expect(orderSubjectOfRing('orders.t1.s1.grill')).toBeUndefined();
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
