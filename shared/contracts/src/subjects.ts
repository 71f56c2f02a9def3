import { InvalidIdError, assertId, isValidId, isValidOrderId } from './ids.js';

/**
 * Subject layout of the order streams (ADR 0003). Every store's orders carry its *virtual
 * partition* `vp = orderPartition(tenant, store)` right after `orders`:
 *   orders.<vp>.<tenant>.<store>.<station>             station-wide order, 5 tokens
 *   orders.<vp>.<tenant>.<store>.display.<displayId>   targeted delivery / DLQ replay, 6 tokens
 * The partition streams `ORDERS_P<i>` own whole vps (`orders.<vp>.>`), so a store's orders and
 * all its displays' consumers live in one stream. V is fixed: changing the number of streams
 * moves vps between streams and never changes a subject. The token counts differ, so a station
 * literally named `display` cannot collide with a display subject: consumer filters are exact
 * subjects, never wildcards.
 */
export const ORDERS_SUBJECT_PREFIX = 'orders';
export const RECEIPTS_SUBJECT_PREFIX = 'receipts';
export const AUDIT_SUBJECT_PREFIX = 'audit';
export const DLQ_SUBJECT_PREFIX = 'dlq';

/**
 * Number of virtual partitions V (a contract: it is in every order subject, so it can never change
 * without a subject change). 256 reaches ~180,000 displays at ~700 per stream (ADR 0003).
 */
export const ORDER_VIRTUAL_PARTITIONS = 256;

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a, 32 bits, of the UTF-8 bytes of `text` (Go's `hash/fnv` New32a gives the same value). */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash >>> 0;
}

/** The virtual partition of a store: FNV-1a-32("<tenant>.<store>") mod V. */
export function orderPartition(tenant: string, store: string): number {
  return fnv1a32(`${assertId('tenant', tenant)}.${assertId('store', store)}`) % ORDER_VIRTUAL_PARTITIONS;
}

/** `orders.<vp>.>`: every order subject of one virtual partition (a partition stream's subject). */
export function orderPartitionSubject(vp: number): string {
  if (!Number.isInteger(vp) || vp < 0 || vp >= ORDER_VIRTUAL_PARTITIONS) throw new RangeError(`virtual partition ${vp} is not in 0..${ORDER_VIRTUAL_PARTITIONS - 1}`);
  return `${ORDERS_SUBJECT_PREFIX}.${vp}.>`;
}

const VP_TOKEN_RE = /^(0|[1-9][0-9]{0,2})$/;

/** The vp of a partition stream subject `orders.<vp>.>`; undefined for anything else. */
export function parseOrderPartitionSubject(subject: string): number | undefined {
  const t = subject.split('.');
  if (t.length !== 3 || t[0] !== ORDERS_SUBJECT_PREFIX || t[2] !== '>' || !VP_TOKEN_RE.test(t[1]!)) return undefined;
  const vp = Number(t[1]);
  return vp < ORDER_VIRTUAL_PARTITIONS ? vp : undefined;
}

/** `orders.<vp>.<tenant>.<store>.>`: every order subject of one store. */
export function storeOrdersWildcard(tenant: string, store: string): string {
  return `${ORDERS_SUBJECT_PREFIX}.${orderPartition(tenant, store)}.${tenant}.${store}.>`;
}

export function stationSubject(tenant: string, store: string, station: string): string {
  return `${ORDERS_SUBJECT_PREFIX}.${orderPartition(tenant, store)}.${tenant}.${store}.${assertId('station', station)}`;
}

export function displaySubject(tenant: string, store: string, displayId: string): string {
  return `${ORDERS_SUBJECT_PREFIX}.${orderPartition(tenant, store)}.${tenant}.${store}.display.${assertId('display', displayId)}`;
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

/*
 * Display mailbox consumer names. Ids may contain `_` and `-`, so joining two of them with either
 * is ambiguous: `display_<tenant>_<display>` (the legacy layout) gave tenant `acme` display `x_1`
 * and tenant `acme_x` display `1` the same consumer — one tenant rewrote and deleted another's
 * mailbox. The name is now length-prefixed, which is injective:
 *
 *   mailbox_<decimal length of tenant>_<tenant>_<displayId>
 *
 * The length has no leading zero and ends at the first `_`; the tenant is exactly that many
 * characters, then `_`, and the rest is the display id. `parseDisplayConsumerName` inverts it and
 * accepts only canonical names, so each name stands for exactly one (tenant, display). The
 * `mailbox_` prefix cannot begin a legacy name (those all begin `display_`), so the two layouts
 * never collide while consumers are migrated. At most 8 + 2 + 1 + 64 + 1 + 64 = 140 characters
 * from `[A-Za-z0-9_-]`, well inside JetStream's 255-character, subject-token-safe consumer names.
 */

/** Prefix of every display mailbox consumer name. */
export const DISPLAY_CONSUMER_PREFIX = 'mailbox_';
/** Prefix of the legacy (ambiguous, pre-migration) layout `display_<tenant>_<displayId>`. */
export const LEGACY_DISPLAY_CONSUMER_PREFIX = 'display_';

/**
 * Consumer metadata (JetStream `metadata`, nats-server ≥ 2.10) naming the owner of a display
 * mailbox. Writers refuse to touch a consumer whose owner differs from the display they act for.
 */
export const DISPLAY_CONSUMER_METADATA = {
  tenant: 'orderwire.tenant',
  displayId: 'orderwire.display',
  store: 'orderwire.store',
  /** Legacy consumer this one was migrated from, and the stream sequence it started at. */
  migratedFrom: 'orderwire.migrated_from',
  migratedAtSeq: 'orderwire.migrated_at_seq',
  /**
   * A partition move (ADR 0003, `topology repartition`) gives a display a second mailbox on the
   * stream its vp moved to. The old one records where it retires to, the new one where it comes
   * from; the edge binds the old one until it is drained, then the new one, so the display's
   * backlog keeps its order.
   */
  retiringTo: 'orderwire.retiring_to',
  retiringFrom: 'orderwire.retiring_from',
} as const;

/** Durable consumer name of a display's mailbox; injective in (tenant, displayId). */
export function displayConsumerName(tenant: string, displayId: string): string {
  const t = assertId('tenant', tenant);
  return `${DISPLAY_CONSUMER_PREFIX}${t.length}_${t}_${assertId('display', displayId)}`;
}

const CONSUMER_NAME_RE = /^mailbox_([1-9][0-9]?)_/;

/** Inverse of `displayConsumerName`; undefined for anything that is not a canonical mailbox name. */
export function parseDisplayConsumerName(name: string): { tenant: string; displayId: string } | undefined {
  const m = CONSUMER_NAME_RE.exec(name);
  if (m === null) return undefined;
  const start = m[0].length;
  const len = Number(m[1]);
  const tenant = name.slice(start, start + len);
  if (name[start + len] !== '_') return undefined;
  const displayId = name.slice(start + len + 1);
  if (!isValidId(tenant) || tenant.length !== len || !isValidId(displayId)) return undefined;
  return { tenant, displayId };
}

/**
 * The legacy, ambiguous name: kept only to find and migrate consumers created before the
 * length-prefixed layout. Never create a consumer with it.
 */
export function legacyDisplayConsumerName(tenant: string, displayId: string): string {
  return `${LEGACY_DISPLAY_CONSUMER_PREFIX}${assertId('tenant', tenant)}_${assertId('display', displayId)}`;
}

/** Every way to read a legacy name `display_<tenant>_<displayId>` as two valid ids (often several). */
export function legacyDisplayConsumerSplits(name: string): { tenant: string; displayId: string }[] {
  if (!name.startsWith(LEGACY_DISPLAY_CONSUMER_PREFIX)) return [];
  const rest = name.slice(LEGACY_DISPLAY_CONSUMER_PREFIX.length);
  const out: { tenant: string; displayId: string }[] = [];
  for (let i = rest.indexOf('_'); i !== -1; i = rest.indexOf('_', i + 1)) {
    const tenant = rest.slice(0, i);
    const displayId = rest.slice(i + 1);
    if (isValidId(tenant) && isValidId(displayId)) out.push({ tenant, displayId });
  }
  return out;
}

export type ParsedOrderSubject =
  | { kind: 'station'; vp: number; tenant: string; store: string; station: string }
  | { kind: 'display'; vp: number; tenant: string; store: string; displayId: string };

export function parseOrderSubject(subject: string): ParsedOrderSubject | undefined {
  const t = subject.split('.');
  if (t[0] !== ORDERS_SUBJECT_PREFIX || !VP_TOKEN_RE.test(t[1] ?? '')) return undefined;
  // Every token is checked: a subject is untrusted input (a message's subject, a consumer's
  // filters), and a caller comparing the parsed ids must never see one no builder would make —
  // including a vp token that is not the store's partition.
  const [, vpToken, tenant, store] = t as [string, string, string, string];
  if (!isValidId(tenant) || !isValidId(store)) return undefined;
  const vp = Number(vpToken);
  if (vp !== orderPartition(tenant, store)) return undefined;
  if (t.length === 5 && isValidId(t[4])) return { kind: 'station', vp, tenant, store, station: t[4] };
  if (t.length === 6 && t[4] === 'display' && isValidId(t[5])) return { kind: 'display', vp, tenant, store, displayId: t[5] };
  return undefined;
}

/**
 * The pre-partition layout (`orders.<tenant>.<store>.<station>`, `orders.<tenant>.<store>.display.<id>`),
 * still found in a legacy `ORDERS` stream until the first repartition has drained it. Only for
 * reading messages and consumer filters of that stream; nothing builds these subjects any more.
 */
export type ParsedLegacyOrderSubject =
  | { kind: 'station'; tenant: string; store: string; station: string }
  | { kind: 'display'; tenant: string; store: string; displayId: string };

export function parseLegacyOrderSubject(subject: string): ParsedLegacyOrderSubject | undefined {
  const t = subject.split('.');
  if (t[0] !== ORDERS_SUBJECT_PREFIX) return undefined;
  if (!isValidId(t[1]) || !isValidId(t[2])) return undefined;
  if (t.length === 4 && isValidId(t[3])) return { kind: 'station', tenant: t[1], store: t[2], station: t[3] };
  if (t.length === 5 && t[3] === 'display' && isValidId(t[4])) return { kind: 'display', tenant: t[1], store: t[2], displayId: t[4] };
  return undefined;
}

/**
 * Doorbells: ORDERS republishes the headers of every stored message to
 * `ow.ring.<original subject>` (stream `republish`, headers only). The server republishes after
 * the message is stored, so a pull woken by a ring always finds it (a plain subscription on the
 * order subject could overtake the store), and edges receive headers instead of whole orders.
 */
export const ORDER_RING_PREFIX = 'ow.ring';

/** `orders.7.t.s.grill` → `ow.ring.orders.7.t.s.grill` */
export function ringSubject(orderSubject: string): string {
  return `${ORDER_RING_PREFIX}.${orderSubject}`;
}

/** `ow.ring.orders.7.t.s.grill` → `orders.7.t.s.grill`; undefined for anything else. */
export function orderSubjectOfRing(ring: string): string | undefined {
  return ring.startsWith(`${ORDER_RING_PREFIX}.${ORDERS_SUBJECT_PREFIX}.`) ? ring.slice(ORDER_RING_PREFIX.length + 1) : undefined;
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
  /** `<stream>:<seq>` of the dead-lettered original a replay copies (a bare `<seq>` from before partitioning). */
  replayOf: 'Ow-Replay-Of',
  dlqId: 'Ow-Dlq-Id',
} as const;

/*
 * Receipts: receipts.<tenant>.<orderKey>.<displayId>. Order ids may contain `.` (and other
 * characters that are not subject-safe), so the order token is base64url(orderId) without padding,
 * whose alphabet [A-Za-z0-9_-] is subject-safe and which decodes back to the exact id.
 */

/** Subject-safe token for an order id: base64url of its UTF-8 bytes, no padding. */
export function orderKey(orderId: string): string {
  if (!isValidOrderId(orderId)) throw new InvalidIdError('order', orderId);
  let binary = '';
  for (const byte of new TextEncoder().encode(orderId)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const ORDER_KEY_RE = /^[A-Za-z0-9_-]+$/;

/** Inverse of `orderKey`; undefined unless `key` is the canonical key of a valid order id. */
export function orderIdFromKey(key: string): string | undefined {
  if (!ORDER_KEY_RE.test(key) || key.length % 4 === 1) return undefined;
  const b64 = key.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (key.length % 4)) % 4);
  const binary = atob(b64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  let orderId: string;
  try {
    orderId = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined; // not UTF-8: cannot be a key we made
  }
  // Non-canonical encodings (trailing bits set) would alias one order under two subjects.
  return isValidOrderId(orderId) && orderKey(orderId) === key ? orderId : undefined;
}

export function receiptSubject(tenant: string, orderId: string, displayId: string): string {
  return `${RECEIPTS_SUBJECT_PREFIX}.${assertId('tenant', tenant)}.${orderKey(orderId)}.${assertId('display', displayId)}`;
}

/*
 * An order's acceptance record: receipts.<tenant>.<orderKey> — three tokens, so it can never be
 * taken for a display's receipt (four tokens), and `receipts.*.*` selects exactly the records.
 */
export function orderAcceptedSubject(tenant: string, orderId: string): string {
  return `${RECEIPTS_SUBJECT_PREFIX}.${assertId('tenant', tenant)}.${orderKey(orderId)}`;
}

/** Every acceptance record, of every tenant (the expiry detector's consumer filter). */
export const ORDER_ACCEPTED_FILTER = `${RECEIPTS_SUBJECT_PREFIX}.*.*`;

/** Inverse of `orderAcceptedSubject`; undefined for anything else. */
export function parseOrderAcceptedSubject(subject: string): { tenant: string; orderId: string } | undefined {
  const t = subject.split('.');
  if (t.length !== 3 || t[0] !== RECEIPTS_SUBJECT_PREFIX) return undefined;
  const [, tenant, key] = t as [string, string, string];
  const orderId = orderIdFromKey(key);
  if (orderId === undefined || !isValidId(tenant)) return undefined;
  return { tenant, orderId };
}

/** Every display's receipt, of every tenant (four tokens: never an acceptance record). */
export const DISPLAY_RECEIPTS_FILTER = `${RECEIPTS_SUBJECT_PREFIX}.*.*.*`;

/** Every receipt of one order (all its displays). */
export function receiptsForOrderFilter(tenant: string, orderId: string): string {
  return `${RECEIPTS_SUBJECT_PREFIX}.${assertId('tenant', tenant)}.${orderKey(orderId)}.*`;
}

export interface ParsedReceiptSubject {
  tenant: string;
  orderId: string;
  displayId: string;
}

export function parseReceiptSubject(subject: string): ParsedReceiptSubject | undefined {
  const t = subject.split('.');
  if (t.length !== 4 || t[0] !== RECEIPTS_SUBJECT_PREFIX) return undefined;
  const [, tenant, key, displayId] = t as [string, string, string, string];
  const orderId = orderIdFromKey(key);
  if (orderId === undefined || !isValidId(tenant) || !isValidId(displayId)) return undefined;
  return { tenant, orderId, displayId };
}

/** Payload of `SIGNALS.displayRevoked` (core NATS, at-most-once; access-token expiry is the backstop). */
export interface DisplayRevokedSignal {
  tenant: string;
  displayId: string;
  /** Set when one refresh family was revoked; absent when the whole display was. */
  familyId?: string;
  reason: 'token_revoked' | 'display_decommissioned';
  /** ISO time of the revocation. */
  at: string;
}
