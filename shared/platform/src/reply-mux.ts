/**
 * Request/reply over ONE inbox subscription, without per-request timers or error objects.
 *
 * The client library's `request()` (and `js.publish()`, which is a request) builds two or three
 * stack-capturing Error objects and a timer for every call — about 25 µs of CPU each on this
 * machine (ADR 0002), 5–9 % of ingest's CPU per order. Here a request is a map entry, timeouts
 * are found by one coarse sweep, and an error is only built when a request actually fails, by
 * the caller's own factory (so each service keeps its error codes or the library's classes).
 * The edge uses it for double acks and receipts, ingest for its JetStream publishes.
 */
import { createConnectionInbox } from './nats.js';
import { type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';

/** 100 ms between looks for expired requests; a timeout fires up to this much late. */
export const DEFAULT_REPLY_MUX_SWEEP_MS = 100;

export interface ReplyMuxRequestOptions {
  timeoutMs: number;
  headers?: MsgHdrs;
}

/** How the mux's failures are reported; only called when a request fails. */
export interface ReplyMuxErrors {
  /** No reply within `timeoutMs`. */
  timeout(subject: string): Error;
  /** A status 503 reply: nothing listens on `subject`. */
  noResponders(subject: string): Error;
  /** The publish threw (`cause`: closed or draining connection, bad subject) or the mux closed with the request pending. */
  failed(subject: string, cause?: unknown): Error;
}

export interface ReplyMuxOptions {
  logger: Logger;
  errors: ReplyMuxErrors;
  /** @default {@link DEFAULT_REPLY_MUX_SWEEP_MS} */
  sweepMs?: number;
}

export interface ReplyMux {
  /** Publishes with a reply subject and resolves with the first reply (rejects on no responders, timeout or a failed publish). */
  request(subject: string, payload: string | Uint8Array, options: ReplyMuxRequestOptions): Promise<Msg>;
  readonly pending: number;
  /** Rejects everything pending and unsubscribes. */
  close(): void;
}

interface Pending {
  subject: string;
  deadline: number;
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
}

export function createReplyMux(nc: NatsConnection, options: ReplyMuxOptions): ReplyMux {
  const { logger, errors } = options;
  // Under the connection's own inbox prefix: the server grants each service only its own.
  const prefix = createConnectionInbox(nc);
  const pending = new Map<string, Pending>();
  let nextId = 0;

  const sub: Subscription = nc.subscribe(`${prefix}.*`, {
    callback: (err, msg) => {
      if (err !== null) {
        logger.error({ err }, 'reply inbox subscription failed');
        return;
      }
      const id = msg.subject.slice(prefix.length + 1);
      const p = pending.get(id);
      if (p === undefined) return; // late reply of a request that timed out
      pending.delete(id);
      if (msg.headers?.code === 503) p.reject(errors.noResponders(p.subject));
      else p.resolve(msg);
    },
  });

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, p] of pending) {
      if (p.deadline > now) continue;
      pending.delete(id);
      p.reject(errors.timeout(p.subject));
    }
  }, options.sweepMs ?? DEFAULT_REPLY_MUX_SWEEP_MS);
  sweep.unref();

  return {
    request(subject, payload, requestOptions) {
      return new Promise<Msg>((resolve, reject) => {
        const id = (nextId++).toString(36);
        pending.set(id, { subject, deadline: Date.now() + requestOptions.timeoutMs, resolve, reject });
        try {
          nc.publish(subject, payload, { reply: `${prefix}.${id}`, headers: requestOptions.headers });
        } catch (err) {
          pending.delete(id);
          reject(errors.failed(subject, err));
        }
      });
    },
    get pending() {
      return pending.size;
    },
    close() {
      clearInterval(sweep);
      for (const p of pending.values()) p.reject(errors.failed(p.subject));
      pending.clear();
      if (!sub.isClosed()) sub.unsubscribe();
    },
  };
}
