import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMetrics } from '../src/metrics.js';
import { closeNats, connectNats, type NatsConnection } from '../src/nats.js';
import { trackStreamUsage } from '../src/stream-usage.js';
import { loadTopologyConfig } from '../src/topology-config.js';
import { ensureTopology, kvDeclarations, streamDeclarations, STREAMS } from '../src/topology.js';

/** What the default topology creates: P = 2 order partitions, the other streams, the buckets. */
const DECLARED = streamDeclarations().length + kvDeclarations().length;

const logger = pino({ level: 'silent' });
let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNats();
  nc = await connectNats({ servers: server.url, name: 'usage-test', logger });
});
afterAll(async () => {
  await closeNats(nc, logger);
  await server.dispose();
});

function value(text: string, metric: string, stream: string): number | undefined {
  const m = new RegExp(`^${metric}\\{stream="${stream}",service="dlq"\\} (\\S+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

it('exports bytes and max_bytes per declared stream, one series per stream name, and drops a stream that is gone', async () => {
  await ensureTopology(nc, loadTopologyConfig({ JETSTREAM_DLQ_MAX_BYTES: '1MiB' }));
  await jetstream(nc).publish('dlq.t1.e1', new Uint8Array(10_000));
  for (let i = 0; i < 3; i++) await jetstream(nc).publish(`receipts.t1.order${i}.d1`, new Uint8Array(10));
  await jetstream(nc).publish('receipts.t1.order0.d1', new Uint8Array(10)); // the same subject again
  const metrics = createMetrics({ service: 'dlq', defaultMetrics: false });
  const usage = await trackStreamUsage(metrics, nc, { logger });
  try {
    let text = await metrics.text();
    expect(value(text, 'orderwire_jetstream_stream_max_bytes', 'DLQ')).toBe(1024 * 1024);
    expect(value(text, 'orderwire_jetstream_stream_bytes', 'DLQ')).toBeGreaterThan(10_000);
    // Distinct subjects, not messages: what nats-server's memory grows with (ADR 0006).
    expect(value(text, 'orderwire_jetstream_stream_subjects', 'RECEIPTS')).toBe(3);
    expect(value(text, 'orderwire_jetstream_stream_subjects', 'DLQ')).toBe(1);
    expect(value(text, 'orderwire_jetstream_stream_subjects', 'AUDIT')).toBe(0);
    expect(value(text, 'orderwire_jetstream_stream_max_bytes', 'KV_ow_refresh_tokens')).toBe(512 * 1024 * 1024);
    expect(text.match(/^orderwire_jetstream_stream_bytes\{/gm)).toHaveLength(DECLARED); // the order partitions present + the other streams + the KV buckets' streams
    expect(value(text, 'orderwire_jetstream_stream_max_bytes', 'ORDERS_P1')).toBe(2 * 1024 ** 3);

    // An operator's own stream is not exported; a declared one deleted loses its series.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'OTHER', subjects: ['other.>'] });
    await jsm.streams.delete(STREAMS.ADVISORIES);
    await usage.sample();
    text = await metrics.text();
    expect(text).not.toContain('stream="OTHER"');
    expect(value(text, 'orderwire_jetstream_stream_bytes', 'ADVISORIES')).toBeUndefined();
    expect(value(text, 'orderwire_jetstream_stream_subjects', 'ADVISORIES')).toBeUndefined();
    expect(text.match(/^orderwire_jetstream_stream_bytes\{/gm)).toHaveLength(DECLARED - 1); // one fewer
  } finally {
    usage.stop();
  }
});
