/** The edge's reader of pulled messages' header blocks, against the client library's decoder. */
import { headers as natsHeaders, MsgHdrsImpl } from '@nats-io/nats-core';
import { HEADERS } from '@orderwire/contracts';
import { describe, expect, it } from 'vitest';
import { HeaderBlock } from '../src/delivery/js-message.js';

const NAMES = [HEADERS.traceId, HEADERS.acceptedAt, HEADERS.replayOf, HEADERS.msgId, HEADERS.orderId, 'Ow-Trace', 'Trace-Id', 'X-Ow-Trace-Id', 'Absent', 'ow-trace-id'];

/** Every name read both ways from the same bytes. */
function expectSameAsLibrary(block: string): void {
  const bytes = new TextEncoder().encode(block);
  const library = MsgHdrsImpl.decode(bytes);
  const ours = new HeaderBlock(new TextDecoder().decode(bytes));
  for (const name of NAMES) {
    expect(ours.get(name), `get ${name} of ${JSON.stringify(block)}`).toBe(library.get(name));
    expect(ours.has(name), `has ${name} of ${JSON.stringify(block)}`).toBe(library.has(name));
  }
}

describe('HeaderBlock', () => {
  it('reads what the library decodes from the headers ingest and the DLQ publish', () => {
    const h = natsHeaders() as MsgHdrsImpl;
    h.set(HEADERS.msgId, 'tenant-1:order-1');
    h.set(HEADERS.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    h.set(HEADERS.orderId, 'order-1');
    h.set(HEADERS.tenant, 'tenant-1');
    h.set(HEADERS.acceptedAt, '1765100000123');
    expectSameAsLibrary(new TextDecoder().decode(h.encode()));
    h.set(HEADERS.replayOf, 'ORDERS_3:42');
    expectSameAsLibrary(new TextDecoder().decode(h.encode()));
    const ours = new HeaderBlock(new TextDecoder().decode(h.encode()));
    expect(ours.get(HEADERS.acceptedAt)).toBe('1765100000123');
    expect(ours.has(HEADERS.replayOf)).toBe(true);
  });

  it('matches exact names only, the first of repeated ones, trims values, and keeps colons in values', () => {
    for (const block of [
      'NATS/1.0\r\nX-Ow-Trace-Id: not-this\r\nOw-Trace-Id: this\r\n\r\n',
      'NATS/1.0\r\nOw-Trace-Id-2: no\r\nOw-Trace: no\r\nOw-Trace-Id:  padded value  \r\n\r\n',
      'NATS/1.0\r\nOw-Trace-Id: first\r\nOw-Trace-Id: second\r\n\r\n',
      'NATS/1.0\r\nOw-Replay-Of: ORDERS_3:42\r\nOw-Dlq-Id: a:b:c\r\n\r\n',
      'NATS/1.0\r\nNote: Ow-Trace-Id: inside a value\r\nOw-Accepted-At:\r\n\r\n',
      'NATS/1.0\r\nOw-Trace-Id: last line without a break',
      'NATS/1.0 408 Request Timeout\r\n\r\n',
      'NATS/1.0\r\n\r\n',
      'NATS/1.0\r\nnats-msg-id: lower-case-name\r\nOw-Accepted-At: 5\r\n\r\n',
    ]) {
      expectSameAsLibrary(block);
    }
  });
});
