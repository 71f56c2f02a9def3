/**
 * `js.publish()` of @nats-io/jetstream over the shared reply mux: the same publish headers
 * (`Nats-Msg-Id`, `Nats-Expected-Last-Subject-Sequence`), the same PubAck (`duplicate` defaulted
 * to false) and the same errors — nats `TimeoutError` when no PubAck came in time,
 * `JetStreamApiError` with the server's `err_code` (e.g. StreamWrongLastSequence), `JetStreamError`
 * for an ack without a stream, the connection's own error when the publish cannot be sent. No
 * responders becomes a `JetStreamError` caused by `NoRespondersError` (the library's
 * `JetStreamNotEnabled` is not exported; neither is a timeout to the publisher).
 *
 * Why: the library builds two or three stack-capturing Errors and a timer per call; this costs
 * ~24 µs of CPU per publish against ~66–107 µs for `js.publish()` (bench/publish-cost.ts).
 */
import { canonicalMIMEHeaderKey, errors as natsErrors, MsgHdrsImpl, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import { JetStreamError, PubHeaders, type PubAck } from '@nats-io/jetstream';
import { createReplyMux, parsePubAck } from '@orderwire/platform';
import type { Logger } from 'pino';

export interface JsPublishOptions {
  /** Timeout for the PubAck. */
  timeoutMs: number;
  /** `Nats-Msg-Id`: the stream's duplicate window drops a repeat and answers `duplicate: true`. */
  msgID?: string;
  /** Sent as given, plus the headers below (set on this object, as `js.publish` does). */
  headers?: MsgHdrs;
  expect?: { lastSubjectSequence?: number };
}

export interface JsPublisher {
  /** Resolves with the PubAck; rejects like `js.publish()`. */
  publish(subject: string, data: Uint8Array, options: JsPublishOptions): Promise<PubAck>;
  /** Rejects pending publishes and unsubscribes the inbox. */
  close(): void;
}

/** Header names already checked by {@link messageHeaders} (a handful of constants). */
const checkedNames = new Set<string>();

/**
 * The headers `headers()` and one `set(name, value)` per entry make — the same names, values, order
 * and wire bytes, and the same refusal of a value with CR or LF — without what `set()` costs on
 * every call: a scan of the keys for the name (twice) and its canonicalisation into a new string
 * (six headers per order message: 2.3 % of ingest's CPU per order, issue 14). A name is checked
 * the first time it is seen, as `set()` would check it.
 */
export function messageHeaders(entries: ReadonlyArray<readonly [name: string, value: string]>): MsgHdrsImpl {
  const h = new MsgHdrsImpl();
  for (const [name, value] of entries) setHeader(h, name, value);
  return h;
}

/** `h.set(name, value)`; on the library's own headers object without its key scans. */
function setHeader(h: MsgHdrs, name: string, value: string): void {
  if (!(h instanceof MsgHdrsImpl)) {
    h.set(name, value);
    return;
  }
  if (!checkedNames.has(name)) {
    canonicalMIMEHeaderKey(name); // throws on a character a header name may not hold
    checkedNames.add(name);
  }
  const v = MsgHdrsImpl.validHeaderValue(value);
  // As set() without a match argument: the exact name is replaced (moving to the end), kept as given.
  h.headers.delete(name);
  h.headers.set(name, [v]);
}

export function createJsPublisher(nc: NatsConnection, logger: Logger): JsPublisher {
  const mux = createReplyMux(nc, {
    logger,
    errors: {
      timeout: () => new natsErrors.TimeoutError(),
      noResponders: (subject) => new JetStreamError('jetstream is not enabled', { cause: new natsErrors.NoRespondersError(subject) }),
      failed: (subject, cause) =>
        cause instanceof Error ? cause : new natsErrors.RequestError(`request on ${subject} was cancelled`, cause === undefined ? undefined : { cause }),
    },
  });

  return {
    async publish(subject, data, options) {
      const h = options.headers ?? new MsgHdrsImpl();
      if (options.msgID !== undefined && options.msgID !== '') setHeader(h, PubHeaders.MsgIdHdr, options.msgID);
      const last = options.expect?.lastSubjectSequence;
      if (typeof last === 'number') setHeader(h, PubHeaders.ExpectedLastSubjectSequenceHdr, `${last}`);
      const reply = await mux.request(subject, data, { timeoutMs: options.timeoutMs, headers: h });
      return parsePubAck(reply.data);
    },
    close: () => mux.close(),
  };
}
