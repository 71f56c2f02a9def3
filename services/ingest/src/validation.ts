/**
 * Request validation with ingest's own error codes. Ids that become subject tokens are checked
 * first, so an injection attempt (`a.b`, `*`, `>`, whitespace, control characters, > 64
 * characters) is reported as ORDERWIRE_ERR_INGEST_INVALID_ID naming the field, not as a generic
 * schema error; then the whole order is checked against the shared OrderSchema.
 */
import { ID_PATTERN, ORDER_BATCH_MAX, isValidId, isValidOrderId, validateOrder, type Order } from '@orderwire/contracts';
import type { OrderwireError } from '@orderwire/platform';
import { INGEST_ERRORS } from './errors.js';

const ID_REASON = `must match ${ID_PATTERN} (letters, digits, _ and -; 1–64 characters)`;

export type Checked<T> = { ok: true; value: T } | { ok: false; error: OrderwireError };

function invalidId(field: string): OrderwireError {
  return INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_INVALID_ID', { field, reason: ID_REASON }, { details: { field } });
}

/** The first subject-token field that holds a string but not a safe id. */
function unsafeIdField(body: Record<string, unknown>): string | undefined {
  for (const field of ['storeId', 'station'] as const) {
    const v = body[field];
    if (typeof v === 'string' && !isValidId(v)) return field;
  }
  const targets = body.displayIds;
  if (Array.isArray(targets)) {
    for (let i = 0; i < targets.length; i++) {
      const v: unknown = targets[i];
      if (typeof v === 'string' && !isValidId(v)) return `displayIds[${i}]`;
    }
  }
  return undefined;
}

export function checkOrder(body: unknown): Checked<Order> {
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const field = unsafeIdField(body as Record<string, unknown>);
    if (field !== undefined) return { ok: false, error: invalidId(field) };
  }
  const result = validateOrder(body);
  if (result.ok) return { ok: true, value: result.order };
  const summary = result.errors
    .slice(0, 3)
    .map((e) => `${e.path === '' ? '/' : e.path} ${e.message}`)
    .join('; ');
  return {
    ok: false,
    error: INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_INVALID_ORDER', { summary }, { details: { issues: result.errors } }),
  };
}

/** The batch wrapper only: `{ orders: [...] }` with 1–ORDER_BATCH_MAX entries, nothing else. */
export function checkBatchShape(body: unknown): Checked<{ orders: unknown[] }> {
  const fail = (summary: string): Checked<{ orders: unknown[] }> => ({
    ok: false,
    error: INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_INVALID_BATCH', { summary }),
  });
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail('body must be an object { orders: [...] }');
  const extra = Object.keys(body).filter((k) => k !== 'orders');
  if (extra.length > 0) return fail(`unexpected properties: ${extra.slice(0, 5).join(', ')}`);
  const orders = (body as { orders?: unknown }).orders;
  if (!Array.isArray(orders)) return fail('orders must be an array');
  if (orders.length === 0) return fail('orders must not be empty');
  if (orders.length > ORDER_BATCH_MAX) {
    return {
      ok: false,
      error: INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_BATCH_TOO_LARGE', { count: orders.length, max: ORDER_BATCH_MAX }),
    };
  }
  return { ok: true, value: { orders } };
}

export function checkOrderIdParam(params: unknown): Checked<{ orderId: string }> {
  const orderId = (params as { orderId?: unknown } | null)?.orderId;
  if (isValidOrderId(orderId)) return { ok: true, value: { orderId } };
  return {
    ok: false,
    error: INGEST_ERRORS.create(
      'ORDERWIRE_ERR_INGEST_INVALID_ID',
      { field: 'orderId', reason: 'must be 1–128 characters of letters, digits and _ . : # / -' },
      { details: { field: 'orderId' } },
    ),
  };
}
