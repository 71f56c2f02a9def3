import { describe, expect, it } from 'vitest';
import { OrderwireError, PLATFORM_ERRORS, defineErrors, errorBody, interpolate } from '../src/errors.js';

const ERRORS = defineErrors({
  ORDERWIRE_ERR_TEST_ORDER_NOT_FOUND: { status: 404, message: 'order {orderId} not found in store {storeId}' },
  ORDERWIRE_ERR_TEST_BUSY: { status: 503, message: 'busy, retry later' },
});

describe('defineErrors', () => {
  it('interpolates params into the template and carries status, details and cause', () => {
    const cause = new Error('kv miss');
    const err = ERRORS.create(
      'ORDERWIRE_ERR_TEST_ORDER_NOT_FOUND',
      { orderId: 'o-1', storeId: 's-9' },
      { details: { orderId: 'o-1' }, cause },
    );
    expect(err).toBeInstanceOf(OrderwireError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('ORDERWIRE_ERR_TEST_ORDER_NOT_FOUND');
    expect(err.statusCode).toBe(404);
    expect(err.message).toBe('order o-1 not found in store s-9');
    expect(err.details).toEqual({ orderId: 'o-1' });
    expect(err.cause).toBe(cause);
  });

  it('keeps a placeholder whose param is missing visible', () => {
    expect(interpolate('a {x} b {y}', { x: 1 })).toBe('a 1 b {y}');
  });

  it('exposes the codes and a frozen catalogue', () => {
    expect(ERRORS.codes).toEqual(['ORDERWIRE_ERR_TEST_ORDER_NOT_FOUND', 'ORDERWIRE_ERR_TEST_BUSY']);
    expect(Object.isFrozen(ERRORS.catalog)).toBe(true);
    expect(ERRORS.catalog.ORDERWIRE_ERR_TEST_BUSY.status).toBe(503);
  });

  it('recognises its own errors', () => {
    const err = ERRORS.create('ORDERWIRE_ERR_TEST_BUSY');
    expect(ERRORS.is(err)).toBe(true);
    expect(ERRORS.is(err, 'ORDERWIRE_ERR_TEST_BUSY')).toBe(true);
    expect(ERRORS.is(err, 'ORDERWIRE_ERR_TEST_ORDER_NOT_FOUND')).toBe(false);
    expect(ERRORS.is(new Error('x'))).toBe(false);
    expect(PLATFORM_ERRORS.is(err)).toBe(false);
  });

  it('rejects malformed codes and statuses', () => {
    expect(() => defineErrors({ notACode: { status: 400, message: 'x' } })).toThrow(/UPPER_SNAKE_CASE/);
    expect(() => defineErrors({ ORDERWIRE_ERR_X: { status: 200, message: 'x' } })).toThrow(/400–599/);
  });
});

describe('errorBody', () => {
  it('has the contract shape, with details only when present', () => {
    expect(errorBody(ERRORS.create('ORDERWIRE_ERR_TEST_BUSY'))).toEqual({
      error: { code: 'ORDERWIRE_ERR_TEST_BUSY', message: 'busy, retry later' },
    });
    const withDetails = new OrderwireError('ORDERWIRE_ERR_X_Y', 'bad', { statusCode: 422, details: [1] });
    expect(errorBody(withDetails)).toEqual({ error: { code: 'ORDERWIRE_ERR_X_Y', message: 'bad', details: [1] } });
  });

  it('hides the message of unknown errors', () => {
    const body = errorBody(new Error('ECONNREFUSED 10.0.0.7:5432 password=hunter2'));
    expect(body).toEqual({ error: { code: 'ORDERWIRE_ERR_INTERNAL', message: 'internal server error' } });
  });
});

describe('PLATFORM_ERRORS', () => {
  it('follows the ORDERWIRE_ERR_ naming convention with a status and message per code', () => {
    expect(PLATFORM_ERRORS.codes).toContain('ORDERWIRE_ERR_CONFIG_INVALID');
    expect(PLATFORM_ERRORS.codes).toContain('ORDERWIRE_ERR_TOPOLOGY_CONFLICT');
    expect(PLATFORM_ERRORS.codes).toContain('ORDERWIRE_ERR_SHUTDOWN_TIMEOUT');
    for (const code of PLATFORM_ERRORS.codes) {
      expect(code).toMatch(/^ORDERWIRE_ERR_[A-Z0-9_]+$/);
      expect(PLATFORM_ERRORS.catalog[code].message.length).toBeGreaterThan(0);
    }
  });
});
