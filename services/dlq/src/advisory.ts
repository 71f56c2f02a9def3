/**
 * JetStream consumer advisories the ADVISORIES stream captures, as nats-server 2.10 publishes them
 * (`server/jetstream_events.go`):
 *   io.nats.jetstream.advisory.v1.max_deliver  { type, id, timestamp, stream, consumer, stream_seq, deliveries, domain? }
 *   io.nats.jetstream.advisory.v1.terminated   { ..., consumer_seq, stream_seq, deliveries, reason? }
 * `reason` of a terminate is what the consumer passed to `term(reason)`; the edge sends
 * `rejected: <the display's reason>` when a connected display keeps rejecting an order.
 */
import { truncateReason, type EntryReason } from './entry.js';

export const MAX_DELIVER_ADVISORY = 'io.nats.jetstream.advisory.v1.max_deliver';
export const TERMINATED_ADVISORY = 'io.nats.jetstream.advisory.v1.terminated';
/** Prefix the edge puts before the display's own reason when it terminates a rejected order. */
export const REJECTED_PREFIX = 'rejected:';

export interface Advisory {
  kind: 'max_deliver' | 'terminated';
  id: string;
  /** RFC 3339 with nanoseconds, as the server writes it. */
  timestamp: string;
  /** Epoch ms of `timestamp`. */
  at: number;
  stream: string;
  consumer: string;
  streamSeq: number;
  deliveries: number;
  /** Terminate reason as given (may be empty). */
  termReason?: string;
}

export type AdvisoryParse = { ok: true; advisory: Advisory } | { ok: false; problem: string };

function positiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

export function parseAdvisory(data: Uint8Array): AdvisoryParse {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { ok: false, problem: 'payload is not JSON' };
  }
  if (value === null || typeof value !== 'object') return { ok: false, problem: 'payload is not an object' };
  const a = value as Record<string, unknown>;
  let kind: Advisory['kind'];
  if (a.type === MAX_DELIVER_ADVISORY) kind = 'max_deliver';
  else if (a.type === TERMINATED_ADVISORY) kind = 'terminated';
  else return { ok: false, problem: `unexpected advisory type ${JSON.stringify(a.type)}` };
  if (typeof a.id !== 'string' || a.id.length === 0) return { ok: false, problem: 'missing id' };
  if (typeof a.timestamp !== 'string') return { ok: false, problem: 'missing timestamp' };
  const at = Date.parse(a.timestamp);
  if (Number.isNaN(at)) return { ok: false, problem: 'timestamp is not a date' };
  if (typeof a.stream !== 'string' || typeof a.consumer !== 'string' || a.consumer.length === 0) {
    return { ok: false, problem: 'missing stream or consumer' };
  }
  if (!positiveInt(a.stream_seq)) return { ok: false, problem: 'missing stream_seq' };
  const deliveries = positiveInt(a.deliveries) ? a.deliveries : 0;
  const advisory: Advisory = {
    kind,
    id: a.id,
    timestamp: a.timestamp,
    at,
    stream: a.stream,
    consumer: a.consumer,
    streamSeq: a.stream_seq,
    deliveries,
  };
  if (kind === 'terminated' && typeof a.reason === 'string') advisory.termReason = a.reason;
  return { ok: true, advisory };
}

/** Entry reason and detail of an advisory. */
export function classify(a: Advisory): { reason: EntryReason; detail?: string } {
  if (a.kind === 'max_deliver') return { reason: 'max_deliveries' };
  const text = (a.termReason ?? '').trim();
  if (text.toLowerCase().startsWith(REJECTED_PREFIX)) {
    return { reason: 'rejected', detail: truncateReason(text.slice(REJECTED_PREFIX.length).trim()) };
  }
  return text.length === 0 ? { reason: 'terminated' } : { reason: 'terminated', detail: truncateReason(text) };
}

/** The `reason` of the `dead_lettered` receipt: what ingest's order status shows. */
export function receiptReason(reason: EntryReason, detail: string | undefined): string {
  if (reason === 'max_deliveries') return 'max_deliveries';
  return detail === undefined || detail.length === 0 ? reason : `${reason}: ${detail}`;
}
