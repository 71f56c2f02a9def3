/**
 * JetStream messages as pulled over the edge's shared inbox. The client library's `JsMsg` is
 * only built by its own fetch/consume iterators, so the edge parses the ack subject itself and
 * speaks the tiny ack protocol (`+ACK`, `-NAK {delay}`, `+TERM reason`) directly.
 */
import { nanos, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { MsgImpl } from '@nats-io/nats-core/internal';
import type { ReplyMux } from './reply-mux.js';

/** Delivery metadata encoded by the server in a message's reply (ack) subject. */
export interface JsDeliveryInfo {
  stream: string;
  consumer: string;
  /** 1 on first delivery. */
  deliveryCount: number;
  streamSeq: number;
  deliverySeq: number;
  /** Stream timestamp of the message, epoch ms. */
  storedAt: number;
  /** Messages left for the consumer after this one (its backlog). */
  pending: number;
}

/** What the edge reads of a pulled message's headers: exact names, first value (as `MsgHdrs`). */
export interface PulledHeaders {
  /** The first value of header `name` (exact name), '' when absent. */
  get(name: string): string;
  has(name: string): boolean;
}

export interface PulledMessage {
  subject: string;
  data: Uint8Array;
  headers: PulledHeaders | undefined;
  /** The ack subject. */
  reply: string;
  info: JsDeliveryInfo;
}

const CR = 13;
const LF = 10;
const COLON = 58;
const HEADER_TEXT = new TextDecoder();

/**
 * A message's NATS header block (`NATS/1.0\r\nName: value\r\n…`) read where it is asked: one
 * string per message, and a slice per value read. The client library's `msg.headers` decodes
 * every header into a Map of arrays (split, slice, trim, validate per line) — for the three of six
 * the edge reads per delivery, ~20 objects, 18–40 % of them promoted at 10,000 displays
 * (docs/benchmarks.md round 9). Same answers as `MsgHdrsImpl.decode(...).get/has` with exact
 * names: the first line `Name:` after a line break, its value trimmed.
 */
export class HeaderBlock implements PulledHeaders {
  constructor(private readonly text: string) {}

  /** Start of the value of the first `\r\nName:` line, or -1. */
  private valueAt(name: string): number {
    const t = this.text;
    for (let from = 0; ; ) {
      const i = t.indexOf(name, from);
      if (i < 0) return -1;
      const end = i + name.length;
      if (i >= 2 && t.charCodeAt(i - 1) === LF && t.charCodeAt(i - 2) === CR && t.charCodeAt(end) === COLON) return end + 1;
      from = i + 1;
    }
  }

  get(name: string): string {
    const at = this.valueAt(name);
    if (at < 0) return '';
    const eol = this.text.indexOf('\r\n', at);
    return this.text.slice(at, eol < 0 ? this.text.length : eol).trim();
  }

  has(name: string): boolean {
    return this.valueAt(name) >= 0;
  }
}

/** A pulled message's headers, read from its raw header block when the library's message exposes it. */
export function pulledHeaders(msg: Msg): PulledHeaders | undefined {
  if (msg instanceof MsgImpl) {
    const end = msg._msg.hdr;
    return end > -1 ? new HeaderBlock(HEADER_TEXT.decode(msg._rdata.subarray(0, end))) : undefined;
  }
  return msg.headers;
}

/** Decimal digits of nanoseconds below a millisecond. */
const NS_DIGITS_PER_MS = 6;
const DIGITS = /^\d*$/;

/**
 * Parses `$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>` (v1) or the v2 form
 * with domain and account hash (`$JS.ACK.<domain>.<hash>.<stream>...`). Undefined if not an ack subject.
 */
export function parseAckSubject(reply: string): JsDeliveryInfo | undefined {
  const t = reply.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK') return undefined;
  let base: number;
  if (t.length === 9) base = 2;
  else if (t.length >= 11) base = 4;
  else return undefined;
  const num = (i: number): number => Number(t[base + i]);
  // Nanoseconds since the epoch: dropping the last six digits is the integer division by 10^6,
  // without a BigInt per message.
  const ts = t[base + 5]!;
  if (!DIGITS.test(ts)) return undefined;
  const storedAt = ts.length > NS_DIGITS_PER_MS ? Number(ts.slice(0, -NS_DIGITS_PER_MS)) : 0;
  const info: JsDeliveryInfo = {
    stream: t[base]!,
    consumer: t[base + 1]!,
    deliveryCount: num(2),
    streamSeq: num(3),
    deliverySeq: num(4),
    storedAt,
    pending: num(6),
  };
  if (!Number.isSafeInteger(info.streamSeq) || !Number.isSafeInteger(info.deliveryCount)) return undefined;
  return info;
}

const ACK = '+ACK';
const NAK = '-NAK';
const TERM = '+TERM';

/** What acknowledging a pulled message needs: its ack subject and delivery metadata, not its payload or headers. */
export type AckHandle = Pick<PulledMessage, 'reply' | 'info'>;

/** Acknowledgement operations on pulled messages, over one connection. */
export interface Acker {
  /** Double ack: resolves once the server confirmed the ack; rejects on timeout or no connection. */
  ackAck(msg: AckHandle, timeoutMs: number): Promise<void>;
  /** Returns the message to the consumer, redelivered after `delayMs` (0 = at once). */
  nak(msg: AckHandle, delayMs?: number): void;
  /** Stops redelivery; the server emits a MSG_TERMINATED advisory (the DLQ captures it). */
  term(msg: AckHandle, reason: string): void;
}

export function createAcker(nc: NatsConnection, mux: ReplyMux): Acker {
  return {
    async ackAck(msg, timeoutMs) {
      await mux.request(msg.reply, ACK, { timeoutMs });
    },
    nak(msg, delayMs = 0) {
      const payload = delayMs > 0 ? `${NAK} ${JSON.stringify({ delay: nanos(Math.round(delayMs)) })}` : NAK;
      nc.publish(msg.reply, payload);
    },
    term(msg, reason) {
      // The reason reaches the advisory on servers ≥ 2.11; older servers ignore the suffix.
      nc.publish(msg.reply, reason.length > 0 ? `${TERM} ${reason}` : TERM);
    },
  };
}
