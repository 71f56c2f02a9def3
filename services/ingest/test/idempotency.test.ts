/** Idempotency keys, order hashes, message ids and the order envelope published with them. */
import { ORDER_ENVELOPE_VERSION, type Order, type OrderEnvelope } from '@orderwire/contracts';
import { describe, expect, it } from 'vitest';
import { canonicalJson, idempotencyKey, orderHash, stationMsgId, targetMsgId } from '../src/idempotency.js';
import { envelopeJson } from '../src/intake.js';
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
});
