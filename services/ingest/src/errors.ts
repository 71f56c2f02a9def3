/**
 * Error catalogue of the ingest service. `docs/api.md` lists every code (checked by
 * scripts/check-error-docs.mjs).
 */
import { defineErrors } from '@orderwire/platform';

export const INGEST_ERRORS = defineErrors({
  ORDERWIRE_ERR_INGEST_INVALID_ID: { status: 400, message: 'invalid {field}: {reason}' },
  ORDERWIRE_ERR_INGEST_INVALID_ORDER: { status: 400, message: 'order failed validation: {summary}' },
  ORDERWIRE_ERR_INGEST_INVALID_BATCH: { status: 400, message: 'batch failed validation: {summary}' },
  ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY: { status: 400, message: 'invalid Idempotency-Key: {reason}' },
  ORDERWIRE_ERR_INGEST_DUPLICATE_IN_BATCH: {
    status: 400,
    message: 'orderId {orderId} appears more than once in the batch (first at index {first})',
  },
  ORDERWIRE_ERR_INGEST_IDEMPOTENCY_CONFLICT: {
    status: 409,
    message: 'idempotency key {key} was already used for a different order body',
  },
  ORDERWIRE_ERR_INGEST_ORDER_TOO_LARGE: {
    status: 413,
    message: 'order is {size} bytes once enveloped; the ORDERS stream accepts at most {limit}',
  },
  ORDERWIRE_ERR_INGEST_BATCH_TOO_LARGE: { status: 413, message: 'batch has {count} orders; at most {max} are allowed' },
  ORDERWIRE_ERR_INGEST_RATE_LIMITED: { status: 429, message: 'rate limit of {max} requests per {window} exceeded for this tenant' },
  ORDERWIRE_ERR_INGEST_ORDER_QUOTA_EXCEEDED: {
    status: 429,
    message: 'tenant {tenant} reached its quota of {quota} order publishes per minute (one per target display); retry after {after}',
  },
  ORDERWIRE_ERR_INGEST_ORDER_NOT_FOUND: { status: 404, message: 'order {orderId} was never accepted (or is older than order status is kept)' },
  ORDERWIRE_ERR_INGEST_UNAVAILABLE: { status: 503, message: 'order intake unavailable ({reason}); retry with the same idempotency key' },
  ORDERWIRE_ERR_INGEST_REGISTRY_SYNC_TIMEOUT: { status: 503, message: 'display registry not synced after {timeoutMs} ms' },
});

export type IngestErrorCode = (typeof INGEST_ERRORS.codes)[number];

/** Why a publish could not be confirmed; the `reason` detail of ORDERWIRE_ERR_INGEST_UNAVAILABLE. */
export type UnavailableReason =
  | 'breaker_open'
  | 'disconnected'
  | 'timeout'
  | 'publish_error'
  | 'verify_failed'
  | 'read_failed'
  /** Published, but the order's acceptance record (RECEIPTS) was not written: retry with the same key. */
  | 'record_failed';
