/**
 * Disk use of every declared stream and KV bucket against its max_bytes, for the alert that
 * fires before one fills up (ORDERS full = new orders refused). One service exports it (the
 * dlq, which already watches JetStream for operators); labels are the declared stream names
 * only (the order partition streams present, at most 256, the other streams and the KV backing
 * streams), so no tenant or display can mint a series.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';
import { allOrderStreamNames, isOrderStream, readOrderStreamAssignment } from './order-streams.js';
import { KV_BUCKETS, STREAMS, kvStreamName, streamInfo } from './topology.js';

/** 30 s between samples: a stream's fill level moves over hours; the alert waits 10 minutes anyway. */
export const DEFAULT_STREAM_USAGE_INTERVAL_MS = 30_000;
/** Bound on each stream-info request, so a sample never hangs on a broken connection. */
const STREAM_INFO_TIMEOUT_MS = 5_000;

export interface StreamUsageOptions {
  logger: Logger;
  /** @default DEFAULT_STREAM_USAGE_INTERVAL_MS */
  intervalMs?: number;
}

export interface StreamUsage {
  /** Samples every stream now (also runs on the interval). */
  sample(): Promise<void>;
  stop(): void;
}

/**
 * Every stream the topology may hold: every possible order stream name (`ORDERS_P0`…`ORDERS_P255`,
 * legacy `ORDERS`), the other streams and the KV buckets' backing streams.
 */
export function declaredStreamNames(): string[] {
  return [...allOrderStreamNames(), ...Object.values(STREAMS).filter((s) => s !== STREAMS.ORDERS), ...Object.values(KV_BUCKETS).map(kvStreamName)];
}

/**
 * Exports `orderwire_jetstream_stream_bytes{stream}`, `orderwire_jetstream_stream_subjects{stream}`
 * and `orderwire_jetstream_stream_max_bytes{stream}` (absent for a stream without a size limit or
 * one that does not exist), sampled once now and then
 * every `intervalMs`. A failed sample keeps the last values and is logged once per outage.
 */
export async function trackStreamUsage(metrics: Metrics, nc: NatsConnection, options: StreamUsageOptions): Promise<StreamUsage> {
  const bytes = metrics.gauge({
    name: 'orderwire_jetstream_stream_bytes',
    help: 'Bytes stored in each declared JetStream stream (KV buckets as KV_<bucket>); every exporter reports the same value: aggregate with max',
    labelNames: ['stream'] as const,
  });
  const maxBytes = metrics.gauge({
    name: 'orderwire_jetstream_stream_max_bytes',
    help: 'max_bytes of each declared JetStream stream (absent when unlimited)',
    labelNames: ['stream'] as const,
  });
  // nats-server keeps every subject a stream holds in memory (~100 bytes each on every replica,
  // ~200 while its block is in use; docs/adr/0006): RECEIPTS, one subject per delivery, is what
  // its heap grows with.
  const subjects = metrics.gauge({
    name: 'orderwire_jetstream_stream_subjects',
    help: 'Distinct subjects held in each declared JetStream stream (nats-server keeps ~100-200 bytes of heap per subject on every replica)',
    labelNames: ['stream'] as const,
  });
  const jsm: JetStreamManager = await jetstreamManager(nc, { timeout: STREAM_INFO_TIMEOUT_MS });
  let failing = false;
  let orderStreamsSeen = new Set<string>();
  const sample = async (): Promise<void> => {
    try {
      // Order streams: those present now (P of 256 possible names); series of streams a
      // repartition removed go away.
      const assignment = await readOrderStreamAssignment(jsm);
      const orderStreams = new Set([...assignment.streams.keys(), ...(assignment.legacy === undefined ? [] : [assignment.legacy.config.name])]);
      for (const gone of orderStreamsSeen) {
        if (orderStreams.has(gone)) continue;
        bytes.remove(gone);
        maxBytes.remove(gone);
        subjects.remove(gone);
      }
      orderStreamsSeen = orderStreams;
      for (const stream of [...orderStreams, ...declaredStreamNames().filter((n) => !isOrderStream(n))]) {
        const info = await streamInfo(jsm, stream);
        // A stream not applied (yet) has no series rather than a misleading zero.
        if (info === undefined) {
          bytes.remove(stream);
          maxBytes.remove(stream);
          subjects.remove(stream);
          continue;
        }
        bytes.set({ stream }, info.state.bytes);
        subjects.set({ stream }, info.state.num_subjects ?? 0);
        if (info.config.max_bytes > 0) maxBytes.set({ stream }, info.config.max_bytes);
        else maxBytes.remove(stream);
      }
      if (failing) options.logger.info('jetstream stream usage sampled again');
      failing = false;
    } catch (err) {
      if (!failing) options.logger.warn({ err }, 'jetstream stream usage not sampled; keeping the last values');
      failing = true;
    }
  };
  await sample();
  const timer = setInterval(() => void sample(), options.intervalMs ?? DEFAULT_STREAM_USAGE_INTERVAL_MS);
  timer.unref();
  return { sample, stop: () => clearInterval(timer) };
}
