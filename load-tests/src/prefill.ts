/**
 * `--prefill-receipts N|full`: RECEIPTS as a busy deployment holds it, before the run starts.
 *
 * Every delivery leaves RECEIPTS a subject of its own (`receipts.<tenant>.<orderKey>.<displayId>`,
 * plus the order's acceptance record), kept until `max_age` (8 days) or `max_bytes` (2 GiB)
 * evicts it; at 1,000 deliveries/s the stream is full within hours and stays full. nats-server
 * keeps every subject of a stream in memory (its subject trees: ~200 bytes per subject,
 * docs/benchmarks.md round 13), so a run that starts with an empty RECEIPTS measures a smaller
 * nats-server heap, and shorter Go GC cycles, than production has. This writes acceptance records
 * and delivered receipts of made-up orders of the bench's tenant (shaped and sized as ingest and
 * the edge write them, `Nats-Expected-Last-Subject-Sequence: 0` included) until N messages or, with
 * `full`, until the stream reaches 98 % of its `max_bytes`, where eviction starts.
 *
 * Then RECEIPTS stays untouched for `--prefill-idle` seconds. nats-server keeps a subject in two
 * trees: the stream's index (~100 bytes a subject, for as long as the subject holds a message) and
 * each block's subject state (~105 more), which it drops 2 min after the block's last use
 * (`defaultFssExpiration`; measured by tools/subject-memory.mjs). A stream filled over hours holds
 * the second only for its newest blocks; one filled in the last 2.5 minutes holds it for all of
 * them, twice the heap the steady state has.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { STREAMS } from '@orderwire/platform';
import { orderAcceptedSubject, receiptSubject, type OrderAcceptedRecord, type Receipt } from '@orderwire/contracts';
import { BenchError } from './errors.js';

/** At most this many messages, whatever was asked: bounds the loop. */
export const PREFILL_MAX_MESSAGES = 20_000_000;
/** The prefill gives up after 15 minutes. */
export const PREFILL_MAX_MS = 15 * 60_000;
/** Publishes in flight. */
export const PREFILL_IN_FLIGHT = 2_000;
/** `full` stops at this share of the stream's `max_bytes`. */
const FULL_SHARE = 0.98;
/**
 * Default `--prefill-idle`: nats-server's 2 min subject-state expiry, its 10 s cache expiry, and a
 * margin for the timers that check them.
 */
export const PREFILL_IDLE_S = 140;
/** `--prefill-idle` at most: bounds the wait. */
export const PREFILL_IDLE_MAX_S = 900;
/** Distinct made-up display ids the receipts name (as many as the scale run's displays). */
const PREFILL_DISPLAYS = 10_000;

export type PrefillTarget = number | 'full';

const encoder = new TextEncoder();

export interface PrefillResult {
  /** Messages written (acceptance records + receipts). */
  messages: number;
  /** RECEIPTS after the prefill. */
  streamMessages: number;
  streamBytes: number;
  /** RECEIPTS's `max_bytes` (-1: none). */
  maxBytes: number;
  seconds: number;
}

/** Parses `--prefill-receipts`: a positive count up to {@link PREFILL_MAX_MESSAGES}, `full`, or `none` (undefined). */
export function parsePrefillTarget(value: string): PrefillTarget | undefined {
  if (value === 'none') return undefined;
  if (value === 'full') return 'full';
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0 || n > PREFILL_MAX_MESSAGES) {
    throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--prefill-receipts must be "full", "none" or a count from 1 to ${PREFILL_MAX_MESSAGES}`);
  }
  return n;
}

/** The i-th made-up order's two messages, as ingest (record) and the edge (receipt) write them. */
export function prefillMessages(tenant: string, runId: string, i: number, now: number): Array<{ subject: string; data: Uint8Array }> {
  const orderId = `pf-${runId}-${i}`;
  const displayId = `pf-d${String(i % PREFILL_DISPLAYS).padStart(5, '0')}`;
  const stream = `ORDERS_P${i % 16}`;
  const seq = 1_000_000 + i;
  const traceId = (BigInt(i) * 0x9e3779b97f4a7c15n).toString(16).padStart(32, '0').slice(-32);
  const record: OrderAcceptedRecord = { kind: 'order_accepted', tenant, orderId, at: now, traceId, targets: [{ displayId, stream, seq }] };
  const receipt: Receipt = { tenant, orderId, displayId, status: 'delivered', stream, seq, at: now + 3, edge: 'edge-7c9d5f6b8-x2k4q', deliveryCount: 1, traceId };
  return [
    { subject: orderAcceptedSubject(tenant, orderId), data: encoder.encode(JSON.stringify(record)) },
    { subject: receiptSubject(tenant, orderId, displayId), data: encoder.encode(JSON.stringify(receipt)) },
  ];
}

export async function prefillReceipts(o: {
  natsUrl: string;
  tenant: string;
  runId: string;
  target: PrefillTarget;
  log: (line: string) => void;
}): Promise<PrefillResult> {
  const nc = await connect({ servers: o.natsUrl, name: 'bench-prefill' });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const info = await jsm.streams.info(STREAMS.RECEIPTS);
    const maxBytes = info.config.max_bytes;
    if (o.target === 'full' && maxBytes <= 0) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', '--prefill-receipts full needs RECEIPTS to have max_bytes');
    const t0 = performance.now();
    const now = Date.now();
    let written = 0;
    let order = 0;
    let bytes = info.state.bytes;
    const done = (): boolean =>
      written >= PREFILL_MAX_MESSAGES ||
      (o.target === 'full' ? bytes >= FULL_SHARE * maxBytes : written >= o.target) ||
      performance.now() - t0 > PREFILL_MAX_MS;
    let lastLog = t0;
    while (!done()) {
      const batch: Array<Promise<unknown>> = [];
      const room = o.target === 'full' ? PREFILL_IN_FLIGHT : Math.min(PREFILL_IN_FLIGHT, o.target - written);
      while (batch.length < room) {
        // An order's record, then its receipt: a count that ends between them ends on a record.
        for (const m of prefillMessages(o.tenant, o.runId, order, now)) {
          if (batch.length < room) batch.push(js.publish(m.subject, m.data, { expect: { lastSubjectSequence: 0 } }));
        }
        order++;
      }
      await Promise.all(batch);
      written += batch.length;
      if (o.target === 'full') bytes = (await jsm.streams.info(STREAMS.RECEIPTS)).state.bytes;
      if (performance.now() - lastLog > 10_000) {
        lastLog = performance.now();
        o.log(`  prefilled ${written} receipts messages`);
      }
    }
    if (performance.now() - t0 > PREFILL_MAX_MS) throw new BenchError('ORDERWIRE_ERR_BENCH_PREFILL', `RECEIPTS prefill did not finish in ${PREFILL_MAX_MS / 60_000} min (${written} written)`);
    const after = await jsm.streams.info(STREAMS.RECEIPTS);
    return { messages: written, streamMessages: after.state.messages, streamBytes: after.state.bytes, maxBytes, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await nc.close();
  }
}
