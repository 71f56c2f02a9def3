/**
 * What RECEIPTS holds about an order (the stream keeps the latest message per subject):
 *
 * - ONE acceptance record per order, subject `orderAcceptedSubject(tenant, orderId)`, written by
 *   ingest before it answers 2xx: when, and which displays the order targets (possibly none),
 *   each with the stream and sequence of the message it will receive. Until a display has a
 *   receipt of its own, its status is `pending` (derived from this record, not stored).
 * - One receipt per (order, display), subject `receiptSubject(tenant, orderId, displayId)`: the
 *   edge writes `delivered`; the DLQ service writes `dead_lettered`, `replayed`, and `expired`
 *   (an order that aged out of its stream while still owed to the display). Stored `pending`
 *   receipts were written per display by earlier versions of ingest; they are still read.
 *
 * Which receipt may replace which is decided here, once, for every writer (`receiptTransition`);
 * the compare-and-set write that applies it is `writeReceipt` in @orderwire/platform.
 *
 *   (none) ──► delivered ◄──────────────────┐ a late ack the server confirmed
 *     │  └───► dead_lettered ───────────────┤
 *     │              │ replay: a NEW copy of the order (higher sequence)
 *     │              ▼                      │
 *     │          replayed ──► delivered / dead_lettered / expired (of the copy)
 *     └──────► expired (aged out unseen) ───┘
 */

export interface Receipt {
  tenant: string;
  orderId: string;
  displayId: string;
  status: ReceiptStatus;
  /** Order stream (`ORDERS_P<i>`) holding the message `seq` numbers: a sequence names a message only with its stream. */
  stream: string;
  /** Sequence of the message in `stream`. */
  seq: number;
  /** Epoch ms of the state change. */
  at: number;
  /** INSTANCE_ID of the edge node that delivered (status `delivered`). */
  edge?: string;
  /** JetStream delivery count when the state changed. */
  deliveryCount?: number;
  /** Why the order was dead-lettered or rejected by the display, or why it expired. */
  reason?: string;
  /** Trace id of the order's acceptance, where the writer has it. */
  traceId?: string;
}

export interface ReceiptTransitionRule {
  /** Statuses this one may replace for the SAME message (same ORDERS sequence). */
  readonly replaces: readonly ReceiptStatus[];
  /**
   * Whether it may replace the receipt of an OLDER copy of the order (lower ORDERS sequence): a
   * replay is a new message, and its outcome is the order's latest state for this display.
   */
  readonly replacesOlderMessage: boolean;
}

/**
 * The receipt state machine, one row per status: what a receipt of that status may overwrite.
 * Every status may be written to an empty subject. The statuses are this table's keys, so adding
 * a status is adding its row (and naming it in the rows of the statuses that may replace it).
 *
 * - `pending` only ever starts a subject: a late pending (a slow request, a retried duplicate, an
 *   order re-sent after the duplicate window) never hides what happened since.
 * - `delivered` is final for its message: the display acked it and JetStream confirmed the ack —
 *   also after the DLQ recorded it dead (the ack of the last delivery can land after the
 *   max-deliveries advisory).
 * - `dead_lettered` never hides `delivered` of the same message.
 * - `replayed` carries the sequence of the replayed copy, so the copy's own `delivered` or
 *   `dead_lettered` may land first and must not be hidden by it.
 * - `expired`: the message aged out of its stream while the display still owed an ack. It never
 *   hides a final state of the same message (`delivered`, `dead_lettered`), and both replace it:
 *   an ack the server confirmed just before the message was removed, or a max-deliveries
 *   advisory captured late, are what really happened. It replaces `replayed` of the same
 *   message: the replayed copy itself aged out unseen.
 */
const TRANSITION_ROWS = {
  pending: { replaces: [], replacesOlderMessage: false },
  delivered: { replaces: ['pending', 'replayed', 'dead_lettered', 'expired'], replacesOlderMessage: true },
  dead_lettered: { replaces: ['pending', 'replayed', 'expired'], replacesOlderMessage: true },
  replayed: { replaces: ['pending'], replacesOlderMessage: true },
  expired: { replaces: ['pending', 'replayed'], replacesOlderMessage: true },
} as const;

export type ReceiptStatus = keyof typeof TRANSITION_ROWS;

/** Every receipt status, in the table's order. */
export const RECEIPT_STATUSES = Object.freeze(Object.keys(TRANSITION_ROWS)) as readonly ReceiptStatus[];

/** The table above, typed: a row naming a status that does not exist does not compile. */
export const RECEIPT_TRANSITIONS: { readonly [S in ReceiptStatus]: ReceiptTransitionRule } = Object.freeze(TRANSITION_ROWS);

/** The part of a stored receipt the state machine looks at. */
export interface ReceiptState {
  status: string;
  seq: number;
  /** Absent on receipts written before partitioning (then the sequences compare as before). */
  stream?: string;
}

/**
 * - `write`: the new receipt replaces the stored one (or the subject is empty);
 * - `unchanged`: the subject already holds this status for this message;
 * - `superseded`: the stored receipt is newer or further along, and stays.
 */
export type ReceiptDecision = 'write' | 'unchanged' | 'superseded';

const STATUS_SET: ReadonlySet<string> = new Set(RECEIPT_STATUSES);

export function isReceiptStatus(value: unknown): value is ReceiptStatus {
  return typeof value === 'string' && STATUS_SET.has(value);
}

/**
 * Decides whether `next` may replace `current`, the receipt stored on the subject (`undefined`
 * when the subject is empty or holds something that is not a receipt). A stored status this
 * version does not know (written by a newer one) is never replaced for the same message.
 */
export function receiptTransition(
  current: ReceiptState | undefined,
  next: { status: ReceiptStatus; seq: number; stream?: string },
): ReceiptDecision {
  if (current === undefined) return 'write';
  const rule = RECEIPT_TRANSITIONS[next.status];
  // Sequences of two streams do not compare. A copy of the order in another stream only exists
  // after its store's vp moved (a replay or a re-sent order lands in the new stream), so it is
  // the newer message.
  if (current.stream !== undefined && next.stream !== undefined && current.stream !== next.stream) {
    return rule.replacesOlderMessage ? 'write' : 'superseded';
  }
  if (next.seq < current.seq) return 'superseded';
  if (next.seq > current.seq) return rule.replacesOlderMessage ? 'write' : 'superseded';
  if (current.status === next.status) return 'unchanged';
  return isReceiptStatus(current.status) && rule.replaces.includes(current.status) ? 'write' : 'superseded';
}

/** True when a receipt of `status` can only start an empty subject (its writer need not read first). */
export function receiptOnlyStartsSubject(status: ReceiptStatus): boolean {
  const rule = RECEIPT_TRANSITIONS[status];
  return rule.replaces.length === 0 && !rule.replacesOlderMessage;
}

/** The stored receipt's status and sequence, or `undefined` when `value` is not a receipt. */
export function receiptState(value: unknown): ReceiptState | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as { status?: unknown; seq?: unknown; stream?: unknown };
  if (typeof r.status !== 'string' || typeof r.seq !== 'number') return undefined;
  return typeof r.stream === 'string' ? { status: r.status, seq: r.seq, stream: r.stream } : { status: r.status, seq: r.seq };
}

/** Statuses after which a display no longer owes an ack for the message (nothing to expire). */
export const SETTLED_RECEIPT_STATUSES: readonly ReceiptStatus[] = Object.freeze(['delivered', 'dead_lettered', 'expired']);

/** One display an accepted order targets, and the message it will receive. */
export interface OrderTarget {
  displayId: string;
  /** Stream holding the display's copy of the order. */
  stream: string;
  /** Sequence of that message in `stream`. */
  seq: number;
}

/**
 * The acceptance record of an order (subject `orderAcceptedSubject`): written once, by ingest,
 * after the PubAck(s) and before the 2xx. Told apart from a receipt by `kind` (it has no
 * `status`, so `receiptState` never mistakes it for one).
 */
export interface OrderAcceptedRecord {
  kind: 'order_accepted';
  tenant: string;
  orderId: string;
  /** Epoch ms of the (first) acceptance. */
  at: number;
  traceId?: string;
  /** Displays it targets when accepted; empty when none (a station with no display yet). */
  targets: OrderTarget[];
}

function isTarget(v: unknown): v is OrderTarget {
  if (v === null || typeof v !== 'object') return false;
  const t = v as Partial<OrderTarget>;
  return typeof t.displayId === 'string' && typeof t.stream === 'string' && typeof t.seq === 'number' && Number.isSafeInteger(t.seq) && t.seq > 0;
}

/** The record, or `undefined` when `value` is not an acceptance record. */
export function parseOrderAcceptedRecord(value: unknown): OrderAcceptedRecord | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as Partial<OrderAcceptedRecord>;
  if (r.kind !== 'order_accepted' || typeof r.tenant !== 'string' || typeof r.orderId !== 'string' || typeof r.at !== 'number') return undefined;
  if (!Array.isArray(r.targets) || !r.targets.every(isTarget)) return undefined;
  const out: OrderAcceptedRecord = { kind: 'order_accepted', tenant: r.tenant, orderId: r.orderId, at: r.at, targets: r.targets };
  if (typeof r.traceId === 'string') out.traceId = r.traceId;
  return out;
}
