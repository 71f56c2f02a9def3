/**
 * Identifiers that become NATS subject tokens or consumer names. A `.`, `*`, `>` or
 * whitespace inside one would be subject injection, so every id is checked against a
 * strict pattern before it reaches a subject.
 */

/** Tenant, store, station and display ids: letters, digits, `_` and `-`; 1–64 characters. */
export const ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
const ID_RE = new RegExp(ID_PATTERN);

/** Order ids come from upstream systems and are not subject tokens, so they may be wider. */
export const ORDER_ID_PATTERN = '^[A-Za-z0-9_.:#/-]{1,128}$';
const ORDER_ID_RE = new RegExp(ORDER_ID_PATTERN);

export type IdKind = 'tenant' | 'store' | 'station' | 'display' | 'client';

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_RE.test(value);
}

export function isValidOrderId(value: unknown): value is string {
  return typeof value === 'string' && ORDER_ID_RE.test(value);
}

export class InvalidIdError extends Error {
  readonly code = 'ORDERWIRE_ERR_INVALID_ID';
  constructor(
    readonly kind: IdKind | 'order',
    readonly value: unknown,
  ) {
    super(`invalid ${kind} id: must match ${kind === 'order' ? ORDER_ID_PATTERN : ID_PATTERN}`);
    this.name = 'InvalidIdError';
  }
}

/** Throws InvalidIdError unless `value` is a safe subject token. */
export function assertId(kind: IdKind, value: unknown): string {
  if (!isValidId(value)) throw new InvalidIdError(kind, value);
  return value;
}
