import { describe, expect, it } from 'vitest';
import {
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
const TO: readonly ReceiptStatus[] = ['pending', 'delivered', 'dead_lettered', 'replayed'];
const SAME_MESSAGE: Record<string, readonly ReceiptDecision[]> = {
  // stored ↓          pending delivered dead_lettered replayed
  '(empty)':          [W,      W,        W,            W],
  pending:            [U,      W,        W,            W],
  delivered:          [S,      U,        S,            S],
  dead_lettered:      [S,      W,        U,            S],
  replayed:           [S,      W,        W,            U],
  // A status from a newer version of the contract: never replaced for the same message.
  accepted:           [S,      S,        S,            S],
};
// The stored receipt is of an OLDER copy of the order (a lower ORDERS sequence).
const OLDER_MESSAGE_STORED: readonly ReceiptDecision[] = [S, W, W, W];

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
