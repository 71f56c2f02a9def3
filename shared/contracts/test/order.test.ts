import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  OrderSchema,
  VALIDATION_ERRORS_MAX,
  ORDER_BATCH_MAX,
  validateOrder,
  validateOrderBatch,
  validateOrderEnvelope,
  isDateTime,
  type Order,
} from '../src/index.js';

function validOrder(): Record<string, unknown> {
  return {
    orderId: 'POS-17.0042',
    storeId: 'store_1',
    station: 'grill',
    items: [{ name: 'Burger', qty: 2, modifiers: ['no onion'], notes: 'well done', sku: 'B-1' }],
    createdAt: '2026-03-01T12:30:00.123+01:00',
  };
}

function errorPaths(value: unknown): string[] {
  const r = validateOrder(value);
  if (r.ok) throw new Error(`expected ${JSON.stringify(value)} to be invalid`);
  return r.errors.map((e) => e.path);
}

function withField(path: (string | number)[], value: unknown): Record<string, unknown> {
  const order = validOrder();
  let cursor: Record<string | number, unknown> = order;
  for (const key of path.slice(0, -1)) cursor = cursor[key] as Record<string | number, unknown>;
  cursor[path[path.length - 1]!] = value;
  return order;
}

describe('validateOrder', () => {
  it('gives exactly what TypeBox’s Value.Default over a deep clone gives, for any input (the shallow-copy fast path)', () => {
    const check = TypeCompiler.Compile(OrderSchema);
    const reference = (value: unknown) => {
      const candidate: unknown = Value.Default(OrderSchema, Value.Clone(value));
      return check.Check(candidate)
        ? { ok: true, json: JSON.stringify(candidate) }
        : { ok: false, errors: [...check.Errors(candidate)].slice(0, VALIDATION_ERRORS_MAX).map((e) => ({ path: e.path, message: e.message })) };
    };
    const field = fc.oneof(fc.constant(undefined), fc.constant(null), fc.string({ maxLength: 3 }), fc.integer(), fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }));
    const inputArb = fc.record(
      {
        base: fc.constantFrom(validOrder(), { ...validOrder(), items: [] }, { ...validOrder(), extra: 1 }),
        priority: fc.oneof(field, fc.constantFrom('normal', 'rush')),
        metadata: fc.oneof(field, fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { maxKeys: 3 })),
        customer: fc.oneof(fc.constant(undefined), fc.record({ name: fc.string({ maxLength: 4 }) })),
      },
      { requiredKeys: ['base'] },
    );
    fc.assert(
      fc.property(fc.oneof(inputArb.map(({ base, ...rest }) => ({ ...base, ...rest })), fc.anything()), (input) => {
        const before = JSON.stringify(input);
        const r = validateOrder(input);
        expect(JSON.stringify(input)).toBe(before); // the caller's value is untouched
        const want = reference(input);
        expect(r.ok).toBe(want.ok);
        if (r.ok) expect(JSON.stringify(r.order)).toBe(want.json);
        else expect(r.errors).toEqual(want.errors);
      }),
      {
        numRuns: 2_000,
        // An own `__proto__` key (as JSON.parse makes it): found by a CI run (seed -1123890400).
        examples: [[JSON.parse('{"__proto__":[]}') as unknown], [{ ...validOrder(), ...(JSON.parse('{"__proto__":{"x":1}}') as object) }]],
      },
    );
  });

  it('accepts a valid order and fills defaults without mutating the input', () => {
    const input = validOrder();
    const r = validateOrder(input);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const order: Order = r.order;
    expect(order.priority).toBe('normal');
    expect(order.metadata).toEqual({});
    expect(order.items[0]!.qty).toBe(2);
    expect(input).not.toHaveProperty('priority');
    expect(input).not.toHaveProperty('metadata');
  });

  it('accepts an order without createdAt and does not invent one (consumers use the envelope acceptedAt)', () => {
    const { createdAt: _omitted, ...input } = validOrder();
    const r = validateOrder(input);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.order).not.toHaveProperty('createdAt');
  });

  it('accepts every optional field at its bound', () => {
    const order = {
      ...validOrder(),
      orderId: 'a'.repeat(128),
      items: Array.from({ length: 200 }, () => ({
        name: 'n'.repeat(200),
        qty: 999,
        modifiers: Array.from({ length: 20 }, () => 'm'.repeat(100)),
        notes: 'x'.repeat(500),
        sku: 's'.repeat(64),
      })),
      displayIds: Array.from({ length: 50 }, (_, i) => `display-${i}`),
      priority: 'rush',
      customer: { name: 'c'.repeat(100) },
      metadata: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`${'k'.repeat(62)}${i.toString().padStart(2, '0')}`, 'v'.repeat(256)])),
    };
    const r = validateOrder(order);
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it.each<[string, (string | number)[], unknown, string]>([
    ['orderId missing', ['orderId'], undefined, '/orderId'],
    ['orderId with a space', ['orderId'], 'A 1', '/orderId'],
    ['orderId too long', ['orderId'], 'a'.repeat(129), '/orderId'],
    ['storeId not a string', ['storeId'], 7, '/storeId'],
    ['station empty', ['station'], '', '/station'],
    ['items empty', ['items'], [], '/items'],
    ['items too many', ['items'], Array.from({ length: 201 }, () => ({ name: 'x', qty: 1 })), '/items'],
    ['item name empty', ['items', 0, 'name'], '', '/items/0/name'],
    ['item name too long', ['items', 0, 'name'], 'n'.repeat(201), '/items/0/name'],
    ['item qty zero', ['items', 0, 'qty'], 0, '/items/0/qty'],
    ['item qty too large', ['items', 0, 'qty'], 1000, '/items/0/qty'],
    ['item qty fractional', ['items', 0, 'qty'], 1.5, '/items/0/qty'],
    ['item qty a string', ['items', 0, 'qty'], '2', '/items/0/qty'],
    ['too many modifiers', ['items', 0, 'modifiers'], Array.from({ length: 21 }, () => 'm'), '/items/0/modifiers'],
    ['modifier too long', ['items', 0, 'modifiers'], ['m'.repeat(101)], '/items/0/modifiers/0'],
    ['notes too long', ['items', 0, 'notes'], 'x'.repeat(501), '/items/0/notes'],
    ['sku too long', ['items', 0, 'sku'], 's'.repeat(65), '/items/0/sku'],
    ['unknown item field', ['items', 0, 'price'], 3, '/items/0/price'],
    ['displayIds duplicated', ['displayIds'], ['d1', 'd1'], '/displayIds'],
    ['displayIds too many', ['displayIds'], Array.from({ length: 51 }, (_, i) => `d${i}`), '/displayIds'],
    ['displayIds empty', ['displayIds'], [], '/displayIds'],
    ['priority unknown', ['priority'], 'urgent', '/priority'],
    ['createdAt not a date-time', ['createdAt'], '2026-03-01 12:30', '/createdAt'],
    ['createdAt impossible date', ['createdAt'], '2026-02-30T12:00:00Z', '/createdAt'],
    ['customer name too long', ['customer'], { name: 'c'.repeat(101) }, '/customer/name'],
    ['unknown customer field', ['customer'], { phone: '123' }, '/customer/phone'],
    ['metadata value not a string', ['metadata'], { table: 4 }, '/metadata/table'],
    ['metadata value too long', ['metadata'], { k: 'v'.repeat(257) }, '/metadata/k'],
    ['metadata key too long', ['metadata'], { ['k'.repeat(65)]: 'v' }, `/metadata/${'k'.repeat(65)}`],
    ['metadata key empty', ['metadata'], { '': 'v' }, '/metadata/'],
    ['metadata key with a control char', ['metadata'], { 'a\u0001': 'v' }, '/metadata/a\u0001'],
    ['metadata too many keys', ['metadata'], Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v'])), '/metadata'],
    ['tenant in the body', ['tenant'], 't1', '/tenant'],
  ])('rejects %s', (_name, path, value, expectedPath) => {
    const order = withField(path, value);
    if (value === undefined) {
      let cursor: Record<string | number, unknown> = order;
      for (const key of path.slice(0, -1)) cursor = cursor[key] as Record<string | number, unknown>;
      delete cursor[path[path.length - 1]!];
    }
    expect(errorPaths(order)).toContain(expectedPath);
  });

  const badIds = ['a.b', 'a*', '>', 'a b', 'a\tb', 'a\nb', 'a\u0000b', 'a\u007fb', '', 'x'.repeat(65), 'é', 'a/b'];
  it.each(badIds)('rejects subject-unsafe id %j in storeId, station and displayIds', (bad) => {
    expect(errorPaths(withField(['storeId'], bad))).toContain('/storeId');
    expect(errorPaths(withField(['station'], bad))).toContain('/station');
    expect(errorPaths(withField(['displayIds'], ['ok', bad]))).toContain('/displayIds/1');
  });

  it('reports every bad field, bounded in number', () => {
    const r = validateOrder({ ...validOrder(), items: Array.from({ length: 150 }, () => ({ name: '', qty: 0 })) });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.length).toBe(20);
    expect(r.errors[0]).toEqual({ path: '/items/0/name', message: expect.any(String) as string });
  });

  it('rejects non-objects at the root', () => {
    for (const v of [null, 'order', 42, [], undefined]) expect(errorPaths(v)).toContain('');
  });
});

describe('validateOrderBatch', () => {
  it('validates each order on its own', () => {
    const r = validateOrderBatch({ orders: [validOrder(), { ...validOrder(), station: 'a.b' }] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.results.map((x) => x.ok)).toEqual([true, false]);
    const bad = r.results[1]!;
    expect(bad.ok ? [] : bad.errors.map((e) => e.path)).toEqual(['/station']);
  });

  it('rejects an empty, oversize or malformed batch as a whole', () => {
    const tooMany = Array.from({ length: ORDER_BATCH_MAX + 1 }, () => validOrder());
    for (const body of [{ orders: [] }, { orders: tooMany }, { orders: 'x' }, {}, { orders: [validOrder()], extra: 1 }]) {
      const r = validateOrderBatch(body);
      expect(r.ok).toBe(false);
    }
    const r = validateOrderBatch({ orders: Array.from({ length: ORDER_BATCH_MAX }, () => validOrder()) });
    expect(r.ok && r.results.every((x) => x.ok)).toBe(true);
  });
});

describe('validateOrderEnvelope', () => {
  it('accepts what ingest publishes and rejects anything else', () => {
    const v = validateOrder(validOrder());
    if (!v.ok) throw new Error('fixture invalid');
    const envelope = { v: 1, tenant: 't1', order: v.order, acceptedAt: Date.now(), traceId: 'abc' };
    expect(validateOrderEnvelope(envelope).ok).toBe(true);
    expect(validateOrderEnvelope({ ...envelope, v: 2 }).ok).toBe(false);
    expect(validateOrderEnvelope({ ...envelope, tenant: 't.1' }).ok).toBe(false);
    expect(validateOrderEnvelope({ ...envelope, order: validOrder() }).ok).toBe(false); // defaults not applied
  });
});

describe('isDateTime', () => {
  it.each([
    ['2026-03-01T12:30:00Z', true],
    ['2024-02-29T00:00:00.5-05:30', true],
    ['2026-12-31t23:59:60z', true],
    ['2025-02-29T00:00:00Z', false],
    ['2026-13-01T00:00:00Z', false],
    ['2026-01-01T24:00:00Z', false],
    ['2026-01-01T00:00:00+24:00', false],
    ['2026-01-01T00:00:00', false],
    ['2026-01-01', false],
    ['2000-02-29T00:00:00Z', true],
    ['1900-02-29T00:00:00Z', false],
    ['2026-04-31T00:00:00Z', false],
    ['2026-04-30T00:00:00Z', true],
    ['2026-01-00T00:00:00Z', false],
    ['2026-00-10T00:00:00Z', false],
    ['2026-01-01T23:60:00Z', false],
    ['2026-01-01T00:00:61Z', false],
    ['2026-01-01T00:00:00-23:59', true],
    ['2026-01-01T00:00:00+05:60', false],
  ])('%s → %s', (value, ok) => {
    expect(isDateTime(value)).toBe(ok);
  });
});
