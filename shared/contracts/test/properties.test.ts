/**
 * Property-based tests of everything that turns untrusted input into a subject or a consumer
 * name: ids, subject builders and parsers, the mailbox consumer-name encoding, order keys.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DISPLAY_CONSUMER_PREFIX,
  ID_PATTERN,
  InvalidIdError,
  displayConsumerName,
  displayFilterSubjects,
  displaySubject,
  isValidId,
  isValidOrderId,
  legacyDisplayConsumerName,
  orderIdFromKey,
  orderKey,
  parseDisplayConsumerName,
  parseOrderSubject,
  orderPartition,
  parseReceiptSubject,
  receiptSubject,
  stationSubject,
} from '../src/index.js';

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
/** Ids from the whole alphabet, biased towards the separators `_` and `-` and short lengths. */
const idArb = fc.oneof(
  fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 64 }),
  fc.string({ unit: fc.constantFrom('_', '-', 'a', '1'), minLength: 1, maxLength: 12 }),
);
const orderIdArb = fc.string({ unit: fc.constantFrom(...'ABCxyz019_.:#/-'), minLength: 1, maxLength: 128 });
/** Anything a caller might send, including subject metacharacters, whitespace and non-ASCII. */
const anyString = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: fc.constantFrom('a', '.', '*', '>', ' ', '\t', '\n', '_', '-', '\u0000', 'é'), maxLength: 80 }));
const RUNS = { numRuns: 2_000 };

describe('ids', () => {
  it('isValidId accepts exactly ID_PATTERN, and nothing that could split or widen a subject', () => {
    const re = new RegExp(ID_PATTERN);
    fc.assert(
      fc.property(anyString, (s) => {
        expect(isValidId(s)).toBe(re.test(s));
        if (isValidId(s)) expect(s).not.toMatch(/[.*>\s]/);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(idArb, (id) => {
        expect(isValidId(id)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('display consumer names', () => {
  it('are injective: two different (tenant, display) pairs never share a name', () => {
    fc.assert(
      fc.property(idArb, idArb, idArb, idArb, (t1, d1, t2, d2) => {
        fc.pre(t1 !== t2 || d1 !== d2);
        expect(displayConsumerName(t1, d1)).not.toBe(displayConsumerName(t2, d2));
      }),
      { numRuns: 5_000 },
    );
  });

  it('every split of a separator-laden string into (tenant, display) gets its own name', () => {
    // The attack of issue 12: the same characters split at a different separator.
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '_', '-', '1'), minLength: 3, maxLength: 40 }), (s) => {
        const names = new Set<string>();
        let pairs = 0;
        for (let i = 1; i < s.length - 1; i++) {
          if (s[i] !== '_' && s[i] !== '-') continue;
          const tenant = s.slice(0, i);
          const display = s.slice(i + 1);
          if (!isValidId(tenant) || !isValidId(display)) continue;
          pairs++;
          names.add(displayConsumerName(tenant, display));
        }
        expect(names.size).toBe(pairs);
      }),
      RUNS,
    );
  });

  it('parse inverts the encoding, and only canonical names parse', () => {
    fc.assert(
      fc.property(idArb, idArb, (t, d) => {
        const name = displayConsumerName(t, d);
        expect(name.startsWith(DISPLAY_CONSUMER_PREFIX)).toBe(true);
        expect(name).toMatch(/^[A-Za-z0-9_-]{1,255}$/);
        expect(parseDisplayConsumerName(name)).toEqual({ tenant: t, displayId: d });
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.oneof(anyString, fc.string({ unit: fc.constantFrom(...'mailbox_0123456789-a'), maxLength: 40 })), (s) => {
        const p = parseDisplayConsumerName(s);
        if (p !== undefined) expect(displayConsumerName(p.tenant, p.displayId)).toBe(s);
      }),
      { numRuns: 5_000 },
    );
  });

  it('never equal a legacy name, so migration cannot confuse the two layouts', () => {
    fc.assert(
      fc.property(idArb, idArb, idArb, idArb, (t1, d1, t2, d2) => {
        expect(displayConsumerName(t1, d1)).not.toBe(legacyDisplayConsumerName(t2, d2));
      }),
      RUNS,
    );
  });

  it('refuse any tenant or display that is not an id', () => {
    fc.assert(
      fc.property(anyString, idArb, (bad, good) => {
        fc.pre(!isValidId(bad));
        expect(() => displayConsumerName(bad, good)).toThrow(InvalidIdError);
        expect(() => displayConsumerName(good, bad)).toThrow(InvalidIdError);
      }),
      RUNS,
    );
  });
});

describe('order subjects', () => {
  it('parse inverts the builders, and station and display subjects never coincide', () => {
    fc.assert(
      fc.property(idArb, idArb, idArb, idArb, (t, s, st, d) => {
        const vp = orderPartition(t, s);
        expect(parseOrderSubject(stationSubject(t, s, st))).toEqual({ kind: 'station', vp, tenant: t, store: s, station: st });
        expect(parseOrderSubject(displaySubject(t, s, d))).toEqual({ kind: 'display', vp, tenant: t, store: s, displayId: d });
        expect(stationSubject(t, s, st).startsWith(`orders.${vp}.`)).toBe(true);
        expect(stationSubject(t, s, st)).not.toBe(displaySubject(t, s, d));
      }),
      RUNS,
    );
  });

  it('a display’s filter subjects all name its own tenant and store', () => {
    fc.assert(
      fc.property(idArb, idArb, idArb, fc.array(idArb, { maxLength: 5 }), (t, s, d, stations) => {
        for (const subject of displayFilterSubjects(t, s, d, stations)) {
          const p = parseOrderSubject(subject);
          expect(p?.tenant).toBe(t);
          expect(p?.store).toBe(s);
        }
      }),
      RUNS,
    );
  });

  it('whatever parses is exactly what a builder makes (no wildcard or foreign token slips through)', () => {
    const tokens = fc.array(fc.oneof(idArb, anyString, fc.constantFrom('orders', 'display', '*', '>', '')), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(tokens, (ts) => {
        const subject = ts.join('.');
        const p = parseOrderSubject(subject);
        if (p === undefined) return;
        const rebuilt = p.kind === 'station' ? stationSubject(p.tenant, p.store, p.station) : displaySubject(p.tenant, p.store, p.displayId);
        expect(rebuilt).toBe(subject);
      }),
      { numRuns: 5_000 },
    );
  });

  it('with a well-formed prefix, only the store’s own vp parses, and the rest is checked as before', () => {
    const rest = fc.array(fc.oneof(idArb, anyString, fc.constantFrom('display', '*', '>', '')), { minLength: 0, maxLength: 3 });
    fc.assert(
      fc.property(idArb, idArb, fc.integer({ min: -1, max: 300 }), rest, (t, s, vp, tail) => {
        const subject = ['orders', String(vp), t, s, ...tail].join('.');
        const p = parseOrderSubject(subject);
        if (vp !== orderPartition(t, s)) expect(p).toBeUndefined();
        if (p === undefined) return;
        const rebuilt = p.kind === 'station' ? stationSubject(p.tenant, p.store, p.station) : displaySubject(p.tenant, p.store, p.displayId);
        expect(rebuilt).toBe(subject);
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('receipts and order keys', () => {
  it('orderKey round-trips and is injective; only canonical keys decode', () => {
    fc.assert(
      fc.property(orderIdArb, orderIdArb, (a, b) => {
        fc.pre(isValidOrderId(a) && isValidOrderId(b));
        expect(orderIdFromKey(orderKey(a))).toBe(a);
        if (a !== b) expect(orderKey(a)).not.toBe(orderKey(b));
      }),
      RUNS,
    );
    fc.assert(
      fc.property(anyString, (k) => {
        const id = orderIdFromKey(k);
        if (id !== undefined) expect(orderKey(id)).toBe(k);
      }),
      RUNS,
    );
  });

  it('receipt subjects parse back to their ids and nothing else parses', () => {
    fc.assert(
      fc.property(idArb, orderIdArb, idArb, (t, o, d) => {
        fc.pre(isValidOrderId(o));
        expect(parseReceiptSubject(receiptSubject(t, o, d))).toEqual({ tenant: t, orderId: o, displayId: d });
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(anyString, idArb, fc.constant('receipts')), { minLength: 1, maxLength: 5 }), (ts) => {
        const subject = ts.join('.');
        const p = parseReceiptSubject(subject);
        if (p !== undefined) expect(receiptSubject(p.tenant, p.orderId, p.displayId)).toBe(subject);
      }),
      RUNS,
    );
  });
});
