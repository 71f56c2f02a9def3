import { assertId } from './ids.js';

/**
 * Subject layout of the ORDERS stream (stream subjects `orders.>`):
 *   orders.<tenant>.<store>.<station>             station-wide order, 4 tokens
 *   orders.<tenant>.<store>.display.<displayId>   targeted delivery / DLQ replay, 5 tokens
 * The token counts differ, so a station literally named `display` cannot collide with a
 * display subject: consumer filters are exact subjects, never wildcards.
 */
export const ORDERS_SUBJECT_PREFIX = 'orders';
export const RECEIPTS_SUBJECT_PREFIX = 'receipts';
export const AUDIT_SUBJECT_PREFIX = 'audit';
export const DLQ_SUBJECT_PREFIX = 'dlq';

export function stationSubject(tenant: string, store: string, station: string): string {
  return `${ORDERS_SUBJECT_PREFIX}.${assertId('tenant', tenant)}.${assertId('store', store)}.${assertId('station', station)}`;
}

export function displaySubject(tenant: string, store: string, displayId: string): string {
  return `${ORDERS_SUBJECT_PREFIX}.${assertId('tenant', tenant)}.${assertId('store', store)}.display.${assertId('display', displayId)}`;
}

/** Filter subjects of a display's durable consumer: its stations plus its own subject. */
export function displayFilterSubjects(
  tenant: string,
  store: string,
  displayId: string,
  stations: readonly string[],
): string[] {
  const subjects = [...new Set(stations)].map((s) => stationSubject(tenant, store, s));
  subjects.push(displaySubject(tenant, store, displayId));
  return subjects;
}

/** Durable consumer name of a display's mailbox (consumer names forbid `.`, `*`, `>`). */
export function displayConsumerName(tenant: string, displayId: string): string {
  return `display_${assertId('tenant', tenant)}_${assertId('display', displayId)}`;
}

export type ParsedOrderSubject =
  | { kind: 'station'; tenant: string; store: string; station: string }
  | { kind: 'display'; tenant: string; store: string; displayId: string };

export function parseOrderSubject(subject: string): ParsedOrderSubject | undefined {
  const t = subject.split('.');
  if (t[0] !== ORDERS_SUBJECT_PREFIX) return undefined;
  if (t.length === 4) return { kind: 'station', tenant: t[1]!, store: t[2]!, station: t[3]! };
  if (t.length === 5 && t[3] === 'display') return { kind: 'display', tenant: t[1]!, store: t[2]!, displayId: t[4]! };
  return undefined;
}

/** Core-NATS subjects (not in a stream) used for fan-out signals between services. */
export const SIGNALS = {
  /** Published by auth when a display's tokens are revoked; edges disconnect its socket. */
  displayRevoked: (tenant: string, displayId: string) =>
    `ow.signal.revoked.${assertId('tenant', tenant)}.${assertId('display', displayId)}`,
  displayRevokedAll: 'ow.signal.revoked.>',
} as const;

/** NATS message headers Orderwire sets. */
export const HEADERS = {
  msgId: 'Nats-Msg-Id',
  traceparent: 'traceparent',
  traceId: 'Ow-Trace-Id',
  orderId: 'Ow-Order-Id',
  tenant: 'Ow-Tenant',
  acceptedAt: 'Ow-Accepted-At',
  replayOf: 'Ow-Replay-Of',
  dlqId: 'Ow-Dlq-Id',
} as const;
