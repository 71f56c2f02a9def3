/**
 * The DLQ entry: one per (order message, display) that a display's consumer gave up on. Stored as
 * JSON on `dlq.<tenant>.<entryId>` in the DLQ stream, which keeps one message per subject: the
 * entry's latest state. It carries the original message (headers and payload), so a replay works
 * even after ORDERS has aged the original out.
 *
 * The id is derived from (stream, stream incarnation, stream sequence, consumer) of the first
 * failure, so the same advisory — redelivered, or published twice — always names the same entry.
 * A replayed copy that fails again reopens the same entry (found through its `Ow-Dlq-Id` header)
 * instead of making a new one: `firstFailedAt`/`lastFailedAt` and `failureCount` span those
 * attempts.
 */
import { createHash } from 'node:crypto';
import { DLQ_SUBJECT_PREFIX } from '@orderwire/contracts';

export const ENTRY_REASONS = ['max_deliveries', 'rejected', 'terminated'] as const;
export type EntryReason = (typeof ENTRY_REASONS)[number];

export const ENTRY_STATUSES = ['open', 'replayed', 'discarded'] as const;
export type EntryStatus = (typeof ENTRY_STATUSES)[number];

/** 24 lowercase hex characters (96 bits of SHA-256). */
export const ENTRY_ID_PATTERN = '^[0-9a-f]{24}$';
const ENTRY_ID_RE = new RegExp(ENTRY_ID_PATTERN);
const ENTRY_ID_BYTES = 12;

/** Failures kept per entry (the newest); `failureCount` counts them all. */
export const FAILURES_KEPT = 20;
/** Longest reason text kept (display reasons, discard reasons). */
export const REASON_MAX = 500;

export interface Actor {
  type: 'client' | 'operator';
  id: string;
}

/** One time a message of this entry was given up on. */
export interface Failure {
  /** Order stream of `seq` (absent on failures recorded before partitioning: the entry's). */
  stream?: string;
  /** Sequence of the message that failed (the original, or a replayed copy) in its stream. */
  seq: number;
  consumer: string;
  reason: EntryReason;
  /** The display's reason (`rejected`) or the terminate reason (`terminated`). */
  detail?: string;
  deliveries: number;
  /** Advisory time (RFC 3339, from the server). */
  at: string;
  advisoryId: string;
}

export interface StoredOriginal {
  subject: string;
  seq: number;
  /** When ORDERS stored it (RFC 3339). */
  storedAt: string;
  /** Every header, as published (multi-valued). */
  headers: Record<string, string[]>;
  /** Payload bytes, base64. */
  data: string;
}

export interface ReplayRecord {
  /** 1 for the first replay. */
  n: number;
  at: string;
  by: Actor;
  subject: string;
  /** Order stream that stored the replayed copy (the display's partition stream at replay time). */
  stream?: string;
  /** Sequence of the replayed copy in `stream`. */
  seq: number;
  msgId: string;
  note?: string;
}

export interface DiscardRecord {
  at: string;
  by: Actor;
  reason: string;
}

export interface DlqEntry {
  v: 1;
  id: string;
  tenant: string;
  /** Unknown only when neither the original, the consumer nor the display record survived. */
  storeId: string | null;
  displayId: string;
  /** Unknown only when the original had expired. */
  orderId: string | null;
  /** ORDERS subject of the original (null when expired). */
  subject: string | null;
  /** Order stream (`ORDERS_P<i>`, or the legacy `ORDERS`) that holds the original. */
  stream: string;
  /** Sequence of the original in `stream`. */
  seq: number;
  /** Durable consumer (the display's mailbox) that gave up. */
  consumer: string;
  /** Reason of the latest failure. */
  reason: EntryReason;
  /** Detail of the latest failure (the display's own reason for `rejected`). */
  detail?: string;
  /** Deliveries of the latest failure. */
  deliveryCount: number;
  failureCount: number;
  firstFailedAt: string;
  lastFailedAt: string;
  /** The newest failures, oldest first (at most FAILURES_KEPT). */
  failures: Failure[];
  /** True when the original was gone from ORDERS by the time the advisory was processed. */
  originalExpired: boolean;
  original: StoredOriginal | null;
  status: EntryStatus;
  statusChangedAt: string;
  replayCount: number;
  lastReplay?: ReplayRecord;
  discard?: DiscardRecord;
  traceId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** What lists show: the entry without the original message. */
export type EntrySummary = Omit<DlqEntry, 'v' | 'original' | 'failures'>;

/** The original message as the API shows it: payload decoded when it is JSON. */
export interface OriginalView {
  subject: string;
  seq: number;
  storedAt: string;
  headers: Record<string, string[]>;
  /** Parsed JSON payload (the order envelope), or null when it is not JSON. */
  payload: unknown;
  payloadBase64: string;
}

export type EntryView = Omit<DlqEntry, 'v' | 'original'> & { original: OriginalView | null };

export function isEntryId(value: unknown): value is string {
  return typeof value === 'string' && ENTRY_ID_RE.test(value);
}

/**
 * Deterministic entry id. `streamCreated` (the stream's creation time) separates incarnations of
 * ORDERS: a recreated stream reuses sequence numbers, and its failures must not collide with
 * entries of the old one.
 */
export function entryIdFor(stream: string, streamCreated: string, seq: number, consumer: string): string {
  return createHash('sha256').update(`${stream}\n${streamCreated}\n${seq}\n${consumer}`).digest('hex').slice(0, ENTRY_ID_BYTES * 2);
}

export function entrySubject(tenant: string, id: string): string {
  return `${DLQ_SUBJECT_PREFIX}.${tenant}.${id}`;
}

/** `dlq.<tenant>.>` — every entry of one tenant. */
export function tenantFilter(tenant: string): string {
  return `${DLQ_SUBJECT_PREFIX}.${tenant}.>`;
}

export function truncateReason(text: string): string {
  return text.length <= REASON_MAX ? text : text.slice(0, REASON_MAX);
}

export function summarize(e: DlqEntry): EntrySummary {
  // Destructure to drop the heavy parts; the rest is copied field by field.
  const { v: _v, original: _original, failures: _failures, ...summary } = e;
  return summary;
}

export function viewOf(e: DlqEntry): EntryView {
  const { v: _v, original, ...rest } = e;
  return { ...rest, original: original === null ? null : viewOriginal(original) };
}

function viewOriginal(o: StoredOriginal): OriginalView {
  let payload: unknown = null;
  try {
    payload = JSON.parse(Buffer.from(o.data, 'base64').toString('utf8')) as unknown;
  } catch {
    payload = null; // not JSON: the base64 form is the payload
  }
  return { subject: o.subject, seq: o.seq, storedAt: o.storedAt, headers: o.headers, payload, payloadBase64: o.data };
}

const REASON_SET = new Set<string>(ENTRY_REASONS);
const STATUS_SET = new Set<string>(ENTRY_STATUSES);

/** Parses a stored entry; undefined when it is not one (never trusted blindly: the stream is shared). */
export function parseEntry(data: Uint8Array): DlqEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const e = value as Partial<DlqEntry>;
  if (e.v !== 1 || !isEntryId(e.id) || typeof e.tenant !== 'string' || typeof e.displayId !== 'string') return undefined;
  if (typeof e.reason !== 'string' || !REASON_SET.has(e.reason)) return undefined;
  if (typeof e.status !== 'string' || !STATUS_SET.has(e.status)) return undefined;
  if (typeof e.seq !== 'number' || typeof e.firstFailedAt !== 'string' || typeof e.lastFailedAt !== 'string') return undefined;
  if (!Array.isArray(e.failures)) return undefined;
  return e as DlqEntry;
}

export function encodeEntry(e: DlqEntry): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(e));
}
