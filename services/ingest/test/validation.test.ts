/** Order, batch and order-id validation and their error codes. */
import { describe, expect, it } from 'vitest';
import { checkBatchShape, checkOrder, checkOrderIdParam } from '../src/validation.js';
import { order } from './helpers.js';

describe('validation', () => {
  it('names the first unsafe subject-token field', () => {
    const r = checkOrder(order({ storeId: 'ok', station: 'a>b' }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ code: 'ORDERWIRE_ERR_INGEST_INVALID_ID', details: { field: 'station' } });
  });
  it('applies the schema defaults and reports schema issues', () => {
    const ok = checkOrder(order());
    expect(ok.ok && ok.value.priority).toBe('normal');
    const bad = checkOrder(order({ items: [{ name: '', qty: 1.5 }] }));
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.error.code).toBe('ORDERWIRE_ERR_INGEST_INVALID_ORDER');
      expect((bad.error.details as { issues: unknown[] }).issues.length).toBeGreaterThan(0);
    }
    expect(checkOrder(null).ok).toBe(false);
  });
  it('checks the batch wrapper and the orderId path parameter', () => {
    expect(checkBatchShape({ orders: [1] }).ok).toBe(true);
    expect(checkBatchShape({ orders: [] }).ok).toBe(false);
    expect(checkOrderIdParam({ orderId: 'pos/1.2:#3' }).ok).toBe(true);
    expect(checkOrderIdParam({ orderId: 'a b' }).ok).toBe(false);
  });
});
