/** JetStream advisories: parsing them and classifying them into dead-letter reasons. */
import { describe, expect, it } from 'vitest';
import { classify, parseAdvisory, receiptReason } from '../src/advisory.js';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('advisories', () => {
  it('parses the nats-server 2.10 terminated and max_deliver payloads', () => {
    const t = parseAdvisory(
      enc({
        type: 'io.nats.jetstream.advisory.v1.terminated',
        id: 'a1',
        timestamp: '2026-01-02T03:04:05.123456789Z',
        stream: 'ORDERS',
        consumer: 'display_acme_kds-1',
        consumer_seq: 4,
        stream_seq: 17,
        deliveries: 3,
        reason: 'rejected: bad item',
      }),
    );
    expect(t).toEqual({
      ok: true,
      advisory: {
        kind: 'terminated',
        id: 'a1',
        timestamp: '2026-01-02T03:04:05.123456789Z',
        at: Date.parse('2026-01-02T03:04:05.123Z'),
        stream: 'ORDERS',
        consumer: 'display_acme_kds-1',
        streamSeq: 17,
        deliveries: 3,
        termReason: 'rejected: bad item',
      },
    });
    const m = parseAdvisory(
      enc({ type: 'io.nats.jetstream.advisory.v1.max_deliver', id: 'a2', timestamp: '2026-01-02T03:04:05Z', stream: 'ORDERS', consumer: 'c', stream_seq: 9, deliveries: 50 }),
    );
    expect(m.ok && m.advisory.kind === 'max_deliver' && m.advisory.deliveries === 50).toBe(true);
  });

  it('refuses what is not a consumer advisory', () => {
    expect(parseAdvisory(new TextEncoder().encode('nope')).ok).toBe(false);
    expect(parseAdvisory(enc({ type: 'io.nats.jetstream.advisory.v1.nak', id: 'x' })).ok).toBe(false);
    expect(parseAdvisory(enc({ type: 'io.nats.jetstream.advisory.v1.max_deliver', id: 'x', timestamp: 'later', stream: 'ORDERS', consumer: 'c', stream_seq: 1 })).ok).toBe(false);
    expect(parseAdvisory(enc({ type: 'io.nats.jetstream.advisory.v1.max_deliver', id: 'x', timestamp: '2026-01-02T03:04:05Z', stream: 'ORDERS', consumer: 'c', stream_seq: 0 })).ok).toBe(false);
  });

  it('classifies rejections, other terminations and max deliveries', () => {
    const base = { kind: 'terminated' as const, id: 'i', timestamp: '', at: 0, stream: 'ORDERS', consumer: 'c', streamSeq: 1, deliveries: 1 };
    expect(classify({ ...base, termReason: 'rejected: no such item ' })).toEqual({ reason: 'rejected', detail: 'no such item' });
    expect(classify({ ...base, termReason: 'schema mismatch' })).toEqual({ reason: 'terminated', detail: 'schema mismatch' });
    expect(classify({ ...base })).toEqual({ reason: 'terminated' });
    expect(classify({ ...base, kind: 'max_deliver' })).toEqual({ reason: 'max_deliveries' });
    expect(classify({ ...base, termReason: `rejected: ${'x'.repeat(900)}` }).detail).toHaveLength(500);
    expect(receiptReason('rejected', 'bad')).toBe('rejected: bad');
    expect(receiptReason('max_deliveries', undefined)).toBe('max_deliveries');
  });
});
