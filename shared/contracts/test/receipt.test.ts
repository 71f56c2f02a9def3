import { describe, expect, it } from 'vitest';
import {
  EXPIRED_NOTICE_MAX,
  ORDER_ACCEPTED_FILTER,
  addExpiredOrders,
  expiredNoticeKey,
  orderAcceptedSubject,
  parseExpiredNotice,
  parseOrderAcceptedRecord,
  parseOrderAcceptedSubject,
  parseReceiptSubject,
  receiptSubject,
  removeToldOrders,
  type ExpiredOrder,
  RECEIPT_STATUSES,
  RECEIPT_TRANSITIONS,
  receiptOnlyStartsSubject,
  receiptState,
  receiptTransition,
  type ReceiptDecision,
  type ReceiptStatus,
} from '../src/index.js';

const W: ReceiptDecision = 'write';
const U: ReceiptDecision = 'unchanged';
const S: ReceiptDecision = 'superseded';

// Written out by hand, not derived from RECEIPT_TRANSITIONS: this is the behaviour the table
// must produce. Rows: what the subject holds; columns: the receipt being written.
const TO: readonly ReceiptStatus[] = ['pending', 'delivered', 'dead_lettered', 'replayed', 'expired'];
const SAME_MESSAGE: Record<string, readonly ReceiptDecision[]> = {
  // stored ↓          pending delivered dead_lettered replayed expired
  '(empty)':          [W,      W,        W,            W,       W],
  pending:            [U,      W,        W,            W,       W],
  delivered:          [S,      U,        S,            S,       S],
  dead_lettered:      [S,      W,        U,            S,       S],
  replayed:           [S,      W,        W,            U,       W],
  // Aged out unseen; an ack confirmed just before the removal, or a late dead letter, wins.
  expired:            [S,      W,        W,            S,       U],
  // A status from a newer version of the contract: never replaced for the same message.
  future_status:      [S,      S,        S,            S,       S],
};
// The stored receipt is of an OLDER copy of the order (a lower ORDERS sequence).
const OLDER_MESSAGE_STORED: readonly ReceiptDecision[] = [S, W, W, W, W];

const SEQ = 100;

function stored(status: string): { status: string; seq: number } | undefined {
  return status === '(empty)' ? undefined : { status, seq: SEQ };
}

describe('receipt state machine: every (stored, written) pair', () => {
  it('the hand-written table covers every status', () => {
    expect([...TO].sort()).toEqual([...RECEIPT_STATUSES].sort());
    expect(Object.keys(RECEIPT_TRANSITIONS).sort()).toEqual([...RECEIPT_STATUSES].sort());
    for (const s of RECEIPT_STATUSES) expect(Object.keys(SAME_MESSAGE)).toContain(s);
  });

  describe.each(Object.entries(SAME_MESSAGE))('stored %s', (from, row) => {
    it.each(TO.map((to, i) => [to, row[i]!] as const))('for the same message, writing %s → %s', (to, expected) => {
      expect(receiptTransition(stored(from), { status: to, seq: SEQ })).toBe(expected);
    });

    it.each(TO.map((to, i) => [to, from === '(empty)' ? W : OLDER_MESSAGE_STORED[i]!] as const))(
      'for a newer copy of the order, writing %s → %s',
      (to, expected) => {
        expect(receiptTransition(stored(from), { status: to, seq: SEQ + 1 })).toBe(expected);
      },
    );

    it.each(TO.map((to) => [to, from === '(empty)' ? W : S] as const))('for an older copy of the order, writing %s → %s', (to, expected) => {
      expect(receiptTransition(stored(from), { status: to, seq: SEQ - 1 })).toBe(expected);
    });
  });

  it('treats a receipt of another stream as a newer copy of the order (a moved partition)', () => {
    expect(receiptTransition({ status: 'delivered', seq: 90, stream: 'ORDERS_P0' }, { status: 'replayed', seq: 3, stream: 'ORDERS_P1' })).toBe(W);
    expect(receiptTransition({ status: 'delivered', seq: 2, stream: 'ORDERS_P0' }, { status: 'pending', seq: 9, stream: 'ORDERS_P1' })).not.toBe(W);
    expect(receiptTransition({ status: 'pending', seq: 5, stream: 'ORDERS_P0' }, { status: 'delivered', seq: 5, stream: 'ORDERS_P0' })).toBe(W);
    expect(receiptState({ status: 'delivered', seq: 3, stream: 'ORDERS_P2' })).toEqual({ status: 'delivered', seq: 3, stream: 'ORDERS_P2' });
  });

  it('never overwrites delivered with pending, whatever the sequences', () => {
    for (const seq of [SEQ - 1, SEQ, SEQ + 1]) {
      expect(receiptTransition({ status: 'delivered', seq: SEQ }, { status: 'pending', seq })).not.toBe(W);
    }
  });

  it('expired never hides a final state of the same message: delivered and dead_lettered stay', () => {
    for (const final of ['delivered', 'dead_lettered'] as const) {
      expect(receiptTransition({ status: final, seq: SEQ }, { status: 'expired', seq: SEQ })).toBe(S);
      expect(receiptTransition({ status: 'expired', seq: SEQ }, { status: final, seq: SEQ })).toBe(W);
    }
  });

  it('only pending may be written without reading first: it can only start a subject', () => {
    expect(RECEIPT_STATUSES.filter(receiptOnlyStartsSubject)).toEqual(['pending']);
  });
});

describe('receiptState', () => {
  it('reads status and sequence of a stored receipt, and nothing else', () => {
    expect(receiptState({ status: 'delivered', seq: 3, at: 1, edge: 'e' })).toEqual({ status: 'delivered', seq: 3 });
    expect(receiptState({ status: 'delivered' })).toBeUndefined();
    expect(receiptState({ seq: 3 })).toBeUndefined();
    expect(receiptState('delivered')).toBeUndefined();
    expect(receiptState(null)).toBeUndefined();
  });
});

describe('order acceptance records', () => {
  const record = { kind: 'order_accepted', tenant: 't1', orderId: 'o.1', at: 5, targets: [{ displayId: 'd1', stream: 'ORDERS', seq: 7 }] };

  it('parse back what ingest writes, with zero targets too, and are never taken for a receipt', () => {
    expect(parseOrderAcceptedRecord(record)).toEqual(record);
    expect(parseOrderAcceptedRecord({ ...record, targets: [] })).toEqual({ ...record, targets: [] });
    expect(parseOrderAcceptedRecord({ ...record, traceId: 'x' })?.traceId).toBe('x');
    expect(receiptState(record)).toBeUndefined();
  });

  it('refuse anything else', () => {
    expect(parseOrderAcceptedRecord({ ...record, kind: 'receipt' })).toBeUndefined();
    expect(parseOrderAcceptedRecord({ ...record, targets: [{ displayId: 'd1', seq: 7 }] })).toBeUndefined();
    expect(parseOrderAcceptedRecord({ ...record, targets: [{ displayId: 'd1', stream: 'ORDERS', seq: 0 }] })).toBeUndefined();
    expect(parseOrderAcceptedRecord({ ...record, targets: undefined })).toBeUndefined();
    expect(parseOrderAcceptedRecord({ status: 'delivered', seq: 1 })).toBeUndefined();
    expect(parseOrderAcceptedRecord(null)).toBeUndefined();
  });

  it('live on a three-token subject no display receipt can have, selected by ORDER_ACCEPTED_FILTER', () => {
    const subject = orderAcceptedSubject('t1', 'pos/1.2');
    expect(subject.split('.')).toHaveLength(3);
    expect(parseOrderAcceptedSubject(subject)).toEqual({ tenant: 't1', orderId: 'pos/1.2' });
    expect(parseOrderAcceptedSubject(receiptSubject('t1', 'pos/1.2', 'd1'))).toBeUndefined();
    expect(parseReceiptSubject(subject)).toBeUndefined();
    expect(ORDER_ACCEPTED_FILTER).toBe('receipts.*.*');
    expect(parseOrderAcceptedSubject('receipts.t1.%%%')).toBeUndefined();
  });
});

describe('expired-order notices (told once)', () => {
  const o = (id: string, at = 1): ExpiredOrder => ({ orderId: id, expiredAt: at, acceptedAt: at - 1 });

  it('adds each order once, however often the detector repeats itself', () => {
    const a = addExpiredOrders(undefined, [o('a'), o('b')]);
    expect(a).toEqual({ orders: [o('a'), o('b')], total: 2 });
    expect(addExpiredOrders(a, [o('b'), o('a'), o('c')])).toEqual({ orders: [o('a'), o('b'), o('c')], total: 3 });
  });

  it('lists at most EXPIRED_NOTICE_MAX orders and counts the rest', () => {
    const many = Array.from({ length: EXPIRED_NOTICE_MAX + 5 }, (_, i) => o(`o${i}`));
    const n = addExpiredOrders(undefined, many);
    expect(n.orders).toHaveLength(EXPIRED_NOTICE_MAX);
    expect(n.total).toBe(EXPIRED_NOTICE_MAX + 5);
    expect(removeToldOrders(n, n)).toBeUndefined();
  });

  it('after the ack keeps only what was added since the display was told', () => {
    const told = addExpiredOrders(undefined, [o('a'), o('b')]);
    const since = addExpiredOrders(told, [o('c')]);
    expect(removeToldOrders(since, told)).toEqual({ orders: [o('c')], total: 1 });
    expect(removeToldOrders(told, told)).toBeUndefined();
    expect(removeToldOrders(undefined, told)).toBeUndefined();
  });

  it('keys are per (tenant, display) and injective; stored entries are checked', () => {
    expect(expiredNoticeKey('t1', 'd1')).toBe('t1.d1');
    expect(() => expiredNoticeKey('t.1', 'd1')).toThrow();
    expect(parseExpiredNotice({ orders: [o('a')], total: 1 })).toEqual({ orders: [o('a')], total: 1 });
    expect(parseExpiredNotice({ orders: [o('a')], total: 0 })).toBeUndefined();
    expect(parseExpiredNotice({ orders: [{ orderId: 'a' }], total: 1 })).toBeUndefined();
    expect(parseExpiredNotice('x')).toBeUndefined();
  });
});
