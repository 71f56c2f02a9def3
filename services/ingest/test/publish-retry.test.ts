/**
 * Which publish failures are retried within INGEST_PUBLISH_RETRY_WINDOW: only those a JetStream
 * cluster recovers from by itself. Errors are built as the publisher and the library build them.
 */
import { errors as natsErrors } from '@nats-io/nats-core';
import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream';
import { JS_API_CODES } from '@orderwire/platform';
import { describe, expect, it } from 'vitest';
import { retriableFailure } from '../src/order-publisher.js';

describe('retriableFailure', () => {
  it('retries an election (no responders, API 503), a missing PubAck and a reconnect', () => {
    const noResponders = new JetStreamError('jetstream is not enabled', { cause: new natsErrors.NoRespondersError('orders.t1') });
    expect(retriableFailure(noResponders, true)).toBe('no_responders');
    const noLeader = new JetStreamApiError({ code: 503, err_code: 10008, description: 'JetStream system temporarily unavailable' });
    expect(retriableFailure(noLeader, true)).toBe('cluster_unavailable');
    expect(retriableFailure(new natsErrors.TimeoutError(), true)).toBe('timeout');
    expect(retriableFailure(new natsErrors.RequestError('request on orders.t1 was cancelled'), true)).toBe('disconnected');
    expect(retriableFailure(new Error('anything'), false)).toBe('disconnected');
  });

  it('does not retry an answer that will not change: a wrong expected sequence, a bad request, an unknown error', () => {
    const wrongSeq = new JetStreamApiError({ code: 400, err_code: JS_API_CODES.StreamWrongLastSequence, description: 'wrong last sequence: 3' });
    expect(retriableFailure(wrongSeq, true)).toBeUndefined();
    expect(retriableFailure(new JetStreamError('invalid ack response'), true)).toBeUndefined();
    expect(retriableFailure(new Error('boom'), true)).toBeUndefined();
  });
});
