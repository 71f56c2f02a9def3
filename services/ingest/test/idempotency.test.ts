/** Idempotency keys, order hashes, message ids and the order envelope published with them. */
import { ORDER_ENVELOPE_VERSION, type Order, type OrderEnvelope } from '@orderwire/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, idempotencyKey, orderHash, stationMsgId, targetMsgId } from '../src/idempotency.js';
import { HEADER_ALLOWANCE_BYTES, createIntake, envelopeJson, type IntakeOptions, type IntakeRequest } from '../src/intake.js';
import { order } from './helpers.js';

describe('idempotency', () => {
  it('defaults the key to the orderId and validates a given key', () => {
    expect(idempotencyKey(undefined, 'o-1')).toBe('o-1');
    expect(idempotencyKey('abc:DEF/123', 'o-1')).toBe('abc:DEF/123');
    for (const bad of ['', 'a b', 'a\u0000', 'é', 'k'.repeat(129)]) {
      expect(() => idempotencyKey(bad, 'o-1')).toThrow(expect.objectContaining({ code: 'ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY' }));
    }
    expect(() => idempotencyKey(['a', 'b'], 'o-1')).toThrow(expect.objectContaining({ code: 'ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY' }));
  });
  it('builds message ids that cannot collide between station and targeted publishes', () => {
    expect(stationMsgId('t1', 'o1:d1')).toBe('t1:o1:d1');
    expect(targetMsgId('t1', 'd1', 'o1')).toBe('t1/d1:o1');
    expect(stationMsgId('t1', 'o1:d1')).not.toBe(targetMsgId('t1', 'd1', 'o1'));
  });
  it('hashes orders independently of key order, and differently for different content', () => {
    expect(canonicalJson({ b: [2, { d: 1, c: 2 }], a: 'x' })).toBe('{"a":"x","b":[2,{"c":2,"d":1}]}');
    expect(orderHash({ a: 1, b: 2 })).toBe(orderHash({ b: 2, a: 1 }));
    expect(orderHash({ a: 1 })).not.toBe(orderHash({ a: 2 }));
    expect(orderHash({ a: [1, 2] })).not.toBe(orderHash({ a: [2, 1] }));
  });
  it('writes exactly the text of the map/filter/sort/join canonicalization the stored hashes were made with', () => {
    // The implementation every stored Ow-Body-Hash so far was computed with.
    const reference = (value: unknown): string => {
      if (value === null || typeof value !== 'object') return JSON.stringify(value);
      if (Array.isArray(value)) return `[${value.map((v) => reference(v)).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
    };
    const key = fc.string({ unit: fc.oneof(fc.constantFrom('a', 'B', '_', 'é', 'Ключ', '😀', '\u0000', '"'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 4 });
    const value = fc.letrec((tie) => ({
      any: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.constant(undefined),
        fc.boolean(),
        fc.integer(),
        fc.double(),
        fc.string({ maxLength: 5 }),
        fc.array(tie('any'), { maxLength: 4 }),
        fc.dictionary(key, tie('any'), { maxKeys: 5 }),
      ),
    })).any;
    fc.assert(
      fc.property(value, (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 3_000 },
    );
    // And a hash computed before this implementation (ingest at 739d21d).
    expect(
      orderHash({
        orderId: 'POS-1',
        storeId: 's1',
        station: 'grill',
        items: [{ name: 'Burger ü', qty: 2, modifiers: ['no onions'] }, { name: 'Fries', qty: 1 }],
        priority: 'normal',
        metadata: { table: '7', Ключ: 'x' },
      }),
    ).toBe('sha256:RqSBNAZZLJFRxRmScWmP2bi08dG0kmOUiP7-Pr8O1BU');
  });
});

describe('order envelope', () => {
  it('envelopeJson writes exactly JSON.stringify of the envelope (the bytes stored and size-checked)', () => {
    const o = order({ notes: 'quote " backslash \\ ümlaut 🍔 \u2028', items: [{ name: 'Größe', qty: 1 }] }) as unknown as Order;
    for (const [tenant, acceptedAt, traceId] of [
      ['t1', 1_764_000_000_123, '4bf92f3577b34da6a3ce929d0e0e4736'],
      ['tenant_with-chars', 0, 'x'],
    ] as const) {
      const env: OrderEnvelope = { v: ORDER_ENVELOPE_VERSION, tenant, order: o, acceptedAt, traceId };
      expect(envelopeJson(tenant, JSON.stringify(o), acceptedAt, traceId)).toBe(JSON.stringify(env));
    }
  });

  it('checkSize counts the bytes of the whole envelope (multi-byte characters included), exactly at the limit', () => {
    const o = order({ notes: 'ümlaut 🍔 \u2028 "q"', items: [{ name: 'Größe', qty: 1 }] }) as unknown as Order;
    const at = 1_764_000_000_123;
    const req = { tenant: 't1', order: o, key: 'k', trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', traceparent: '', continued: false } } as unknown as IntakeRequest;
    const whole = Buffer.byteLength(JSON.stringify({ v: ORDER_ENVELOPE_VERSION, tenant: 't1', order: o, acceptedAt: at, traceId: req.trace.traceId }), 'utf8');
    expect(whole).toBeGreaterThan(JSON.stringify(o).length); // multi-byte characters: bytes, not characters
    // checkSize uses nothing but its options' size and clock: the other dependencies are not reached.
    const intakeWith = (maxMessageBytes: number) => createIntake({ maxMessageBytes, now: () => at } as unknown as IntakeOptions);
    expect(() => intakeWith(whole + HEADER_ALLOWANCE_BYTES).checkSize(req)).not.toThrow();
    let refused: unknown;
    try {
      intakeWith(whole + HEADER_ALLOWANCE_BYTES - 1).checkSize(req);
    } catch (err) {
      refused = err;
    }
    expect(refused).toMatchObject({ code: 'ORDERWIRE_ERR_INGEST_ORDER_TOO_LARGE', details: { size: whole, limit: whole - 1 } });
  });
});
