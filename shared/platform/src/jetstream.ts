/**
 * The JetStream toolkit every service shares: the server's API error codes by name, the one
 * "wrong last sequence" check, and the one compare-and-set retry loop.
 *
 * Compare-and-set on JetStream: a KV `update(key, value, revision)` / `create(key, value)`, or a
 * stream publish with `Nats-Expected-Last-Subject-Sequence`, is refused by the server with
 * "wrong last sequence" when another writer got in first. The loser re-reads, decides again on
 * the fresher state, and writes again — `compareAndSet` is that loop, written once.
 *
 * Services that talk to the JetStream API over the shared reply mux (ADR 0002) read its raw
 * replies with `parsePubAck` and `parseMsgGetReply`, which answer as the client library would.
 */
import type { MsgHdrs } from '@nats-io/nats-core';
import { DirectMsgHeaders, JetStreamApiCodes, JetStreamApiError, JetStreamError, type ApiError, type PubAck } from '@nats-io/jetstream';

/**
 * JetStream API error codes (`err_code`) the services branch on: the client library's
 * `JetStreamApiCodes`, plus the server codes it does not name (nats-server `server/errors.json`).
 */
export const JS_API_CODES = Object.freeze({
  ...JetStreamApiCodes,
  /** JSStreamNameExistErr: a stream of that name exists with a different configuration. */
  StreamNameInUse: 10058,
  /** JSConsumerAlreadyExists: a create (`action: create`) found the name taken by a consumer of another configuration. */
  ConsumerAlreadyExists: 10148,
} as const);
export type JsApiCodeName = keyof typeof JS_API_CODES;

/** True when `err` is the library's JetStreamApiError carrying the server's `err_code` `code`. */
export function isJetStreamApiError(err: unknown, code: (typeof JS_API_CODES)[JsApiCodeName]): err is JetStreamApiError {
  return err instanceof JetStreamApiError && err.code === code;
}

/**
 * True when a compare-and-set write lost the race: the subject's (or KV key's) last sequence is no
 * longer the one the writer expected. The server answers 10071 with the actual sequence, or
 * 10164 when it cannot say which.
 */
export function isWrongLastSequence(err: unknown): err is JetStreamApiError {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** Returned by a compare-and-set round that lost the race; the loop runs the round again. */
export const CAS_CONFLICT: unique symbol = Symbol('orderwire.cas-conflict');
export type CasConflict = typeof CAS_CONFLICT;

/** Rounds of a compare-and-set loop before it gives up: more lost races in a row mean a hot key. */
export const DEFAULT_CAS_ATTEMPTS = 8;

/**
 * 5 s: `expires` of every long-running `consumer.consume()` (dlq capture, expiry detector, entry
 * index; webhooks intake). After a reconnect @nats-io/jetstream re-pulls only once a consumer
 * info succeeds, and between failed infos it waits `expires` (lib/consumer.js
 * `resetPendingWithInfo`, backoff([expires])) with the heartbeat monitor stopped. At the default
 * 30 s, one info refused while a restarted server is still recovering JetStream stalled the
 * consumer for up to 30 s (seen once in the dlq's NATS-restart test); at 5 s it resumes within 5 s
 * of JetStream being ready. The price: an idle consumer renews its pull every 5 s.
 */
export const CONSUME_EXPIRES_MS = 5_000;

export interface CompareAndSetOptions {
  /** @default {@link DEFAULT_CAS_ATTEMPTS} */
  attempts?: number;
  /** The error thrown when every round lost; each service names it in its own catalogue. */
  exhausted: () => Error;
}

/**
 * Runs `round` — read, decide, write with the revision that was read — until it completes. A round
 * that returns `CAS_CONFLICT`, or throws a wrong-last-sequence error, lost the race to another
 * writer and runs again (it must re-read); any other value is the result, any other error
 * propagates. `attempt` counts from 1.
 */
export async function compareAndSet<R>(round: (attempt: number) => Promise<R | CasConflict>, options: CompareAndSetOptions): Promise<R> {
  const attempts = options.attempts ?? DEFAULT_CAS_ATTEMPTS;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let out: R | CasConflict;
    try {
      out = await round(attempt);
    } catch (err) {
      if (isWrongLastSequence(err)) continue;
      throw err;
    }
    if (out !== CAS_CONFLICT) return out;
  }
  throw options.exhausted();
}

const decoder = new TextDecoder();

/** The PubAck of a raw publish reply, or the error `js.publish()` would throw for it. */
export function parsePubAck(data: Uint8Array): PubAck {
  const v = JSON.parse(decoder.decode(data)) as Partial<PubAck> & { error?: ApiError };
  if (v.error !== undefined) throw new JetStreamApiError(v.error);
  if (typeof v.stream !== 'string' || v.stream === '') throw new JetStreamError('invalid ack response');
  v.duplicate = v.duplicate === true;
  return v as PubAck;
}

/** A message read from a stream: its stream sequence and body. */
export interface StoredMessage {
  seq: number;
  data: Uint8Array;
}

/**
 * The message of a raw `$JS.API.STREAM.MSG.GET.<stream>` reply (a read from the stream leader, as
 * `jsm.streams.getMessage()` does): `null` when there is none, like the library; any other API
 * error is thrown as the library's JetStreamApiError.
 */
export function parseMsgGetReply(data: Uint8Array): StoredMessage | null {
  const v = JSON.parse(decoder.decode(data)) as { message?: { seq?: unknown; data?: unknown }; error?: ApiError };
  if (v.error !== undefined) {
    if (v.error.err_code === JetStreamApiCodes.NoMessageFound) return null;
    throw new JetStreamApiError(v.error);
  }
  const m = v.message;
  if (m === undefined || typeof m.seq !== 'number') throw new JetStreamError('invalid stream message response');
  return { seq: m.seq, data: typeof m.data === 'string' ? new Uint8Array(Buffer.from(m.data, 'base64')) : new Uint8Array(0) };
}

/** Status the server answers a direct get with when the subject (or sequence) holds nothing. */
const DIRECT_GET_NOT_FOUND = 404;

/**
 * The message of a raw `$JS.API.DIRECT.GET.<stream>.<subject>` reply (the last message on the
 * subject, served by any replica of a stream with `allow_direct`, possibly lagging the leader):
 * `null` for the server's 404, any other status thrown as the library's JetStreamError.
 */
export function parseDirectGetReply(msg: { data: Uint8Array; headers?: MsgHdrs | undefined }): StoredMessage | null {
  const code = msg.headers?.code ?? 0;
  if (code === DIRECT_GET_NOT_FOUND) return null;
  if (code !== 0) throw new JetStreamError(`direct get failed: ${code} ${msg.headers?.description ?? ''}`.trim());
  const seq = Number(msg.headers?.get(DirectMsgHeaders.Sequence));
  if (!Number.isSafeInteger(seq) || seq <= 0) throw new JetStreamError('invalid direct get response');
  return { seq, data: msg.data };
}
