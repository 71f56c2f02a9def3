/**
 * Idempotency keys → `Nats-Msg-Id`. JetStream drops a publish whose `Nats-Msg-Id` it has seen
 * within the ORDERS `duplicate_window` and answers with the ORIGINAL sequence and
 * `duplicate: true`, so a retried request gets the first request's answer.
 *
 * Message ids (tenant and display ids are `[A-Za-z0-9_-]`, so the layouts cannot collide):
 *   station-wide order:  `<tenant>:<key>`
 *   targeted order:      `<tenant>/<displayId>:<key>`   (one publish per target display)
 * The tenant prefix keeps two tenants using the same key apart.
 */
import { hash } from 'node:crypto';
import { INGEST_ERRORS } from './errors.js';

/** 128 characters */
export const IDEMPOTENCY_KEY_MAX = 128;
/** Visible ASCII only: the key travels in a NATS header and in logs. */
export const IDEMPOTENCY_KEY_PATTERN = `^[\\x21-\\x7E]{1,${IDEMPOTENCY_KEY_MAX}}$`;
const KEY_RE = new RegExp(IDEMPOTENCY_KEY_PATTERN);

/** Header on the ORDERS message holding the hash of the accepted order (conflict detection). */
export const BODY_HASH_HEADER = 'Ow-Body-Hash';

/**
 * The request's idempotency key: the `Idempotency-Key` header when given, else the orderId.
 * @throws ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY
 */
export function idempotencyKey(header: string | string[] | undefined, orderId: string): string {
  if (header === undefined) return orderId;
  if (Array.isArray(header)) {
    throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY', { reason: 'sent more than once' });
  }
  if (!KEY_RE.test(header)) {
    throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY', {
      reason: `must be 1–${IDEMPOTENCY_KEY_MAX} visible ASCII characters (no spaces or control characters)`,
    });
  }
  return header;
}

export function stationMsgId(tenant: string, key: string): string {
  return `${tenant}:${key}`;
}

export function targetMsgId(tenant: string, displayId: string, key: string): string {
  return `${tenant}/${displayId}:${key}`;
}

/**
 * JSON with object keys sorted at every level, so equal orders hash equally whatever the key order.
 * Built by concatenation, without the entry arrays and closures of a map/filter/sort/join chain
 * (it runs on every order); the text is pinned, byte for byte, to that chain's by
 * test/idempotency.test.ts — the hashes of orders already stored depend on it.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      // As Array.prototype.join writes it: an element JSON cannot write (undefined) is empty.
      out += (canonicalJson(value[i]) as string | undefined) ?? '';
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  // The default sort compares UTF-16 code units, as `<` does.
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const v = record[key];
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(key)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
}

/** `sha256:<base64url>` of the canonical JSON of the validated order (defaults applied). */
export function orderHash(order: unknown): string {
  // One-shot `crypto.hash` (Node ≥ 20.12): no Hash object per order; the same digest.
  return `sha256:${hash('sha256', canonicalJson(order), 'base64url')}`;
}
