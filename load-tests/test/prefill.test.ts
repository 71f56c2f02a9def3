/**
 * --prefill-receipts against a real nats-server: the messages are what ingest and the edge write
 * (the contracts' own parsers accept them, one subject per order and per receipt), a count is
 * written exactly, and `full` stops where the stream starts evicting.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { parseOrderAcceptedRecord, receiptState } from '@orderwire/contracts';
import { STREAMS } from '@orderwire/platform';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PREFILL_IN_FLIGHT, prefillMessages, prefillReceipts } from '../src/prefill.js';

const decode = (d: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(d));

describe('prefillMessages', () => {
  it('writes an acceptance record and a delivered receipt per made-up order, each on a subject of its own', () => {
    const subjects = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const [record, receipt] = prefillMessages('t-bench', 'run1', i, 1_800_000_000_000);
      expect(record!.subject.split('.')).toHaveLength(3);
      expect(receipt!.subject.split('.')).toHaveLength(4);
      const parsed = parseOrderAcceptedRecord(decode(record!.data));
      expect(parsed?.targets).toHaveLength(1);
      expect(receiptState(decode(receipt!.data))).toBeDefined();
      subjects.add(record!.subject).add(receipt!.subject);
    }
    expect(subjects.size).toBe(200);
  });
});

describe('prefillReceipts (a real nats-server)', () => {
  let nats: NatsServerHandle;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.dispose();
  });
  beforeEach(async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(STREAMS.RECEIPTS).catch(() => false);
    await jsm.streams.add({ name: STREAMS.RECEIPTS, subjects: ['receipts.>'], max_msgs_per_subject: 1, max_bytes: 4 << 20, allow_direct: true });
    await nc.close();
  });

  it('writes exactly the count asked for', async () => {
    const r = await prefillReceipts({ natsUrl: nats.url, tenant: 't-bench', runId: 'a', target: 2_345, log: () => {} });
    expect(r.messages).toBe(2_345);
    expect(r.streamMessages).toBe(2_345);
    expect(r.maxBytes).toBe(4 << 20);
  });

  it('`full` fills the stream up to where it starts evicting', async () => {
    const r = await prefillReceipts({ natsUrl: nats.url, tenant: 't-bench', runId: 'b', target: 'full', log: () => {} });
    expect(r.streamBytes).toBeGreaterThanOrEqual(0.9 * (4 << 20));
    expect(r.streamBytes).toBeLessThanOrEqual(4 << 20);
    // It stops within one batch of publishes after the stream is full: at most that many evicted.
    expect(r.streamMessages).toBeLessThanOrEqual(r.messages);
    expect(r.messages - r.streamMessages).toBeLessThanOrEqual(PREFILL_IN_FLIGHT);
  });
});
