/**
 * A NatsConnection whose `request()` goes over the shared reply mux (ADR 0002), for code that
 * talks to NATS through the client library's KV and JetStream managers.
 *
 * Every `request()` of the library builds stack-capturing errors and a timer (a `RequestError`
 * context, a `TimeoutError`, and a `RequestError("cancelled")` even on success); the KV and
 * JetStream API calls of `@nats-io/kv` and `@nats-io/jetstream` are all such requests. Auth makes
 * about twenty of them per display it registers and enrolls, and building those errors was 17 % of
 * its CPU. Handing the managers this connection instead keeps every reply parsed by the library,
 * so every result and error (JetStreamApiError codes, KV entries, no responders, timeouts) is
 * what it was; only the transport of single requests changes: one inbox subscription, a map
 * entry per request, and errors built only when a request fails — as the library's classes, so
 * the managers' own checks (`instanceof TimeoutError`, `isNoResponders()`) still hold.
 *
 * Everything else (subscriptions, publishes, `requestMany`, status, close) is the connection's own.
 * The wrapper is another object: pass the real connection wherever its identity is the key
 * (`natsHealthCheck`, `isNatsConnected`, `natsInboxPrefix`).
 */
import { Empty, errors as natsErrors, type Msg, type NatsConnection, type Payload, type RequestOptions } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { createReplyMux, type ReplyMux, type ReplyMuxErrors } from './reply-mux.js';

/** The client library's default request timeout, for calls that give none. */
export const DEFAULT_MUXED_REQUEST_TIMEOUT_MS = 1_000;

/** The errors the client library's `request()` rejects with, built only when a request fails. */
export const LIBRARY_REQUEST_ERRORS: ReplyMuxErrors = Object.freeze({
  timeout: () => new natsErrors.TimeoutError(),
  noResponders: (subject: string) => {
    const cause = new natsErrors.NoRespondersError(subject);
    return new natsErrors.RequestError(cause.message, { cause });
  },
  // A failed publish rejects with what the connection threw (closed, draining, bad subject), as request() does.
  failed: (subject: string, cause?: unknown) =>
    cause instanceof Error ? cause : new natsErrors.RequestError(`request on ${subject} was cancelled`, cause === undefined ? undefined : { cause }),
});

export interface MuxedConnection {
  /** The connection to hand to `new Kvm()`, `jetstream()`, `jetstreamManager()`. */
  nc: NatsConnection;
  mux: ReplyMux;
  /** Rejects what is pending and unsubscribes the mux; the underlying connection stays open. */
  close(): void;
}

export function createMuxedConnection(nc: NatsConnection, options: { logger: Logger; sweepMs?: number }): MuxedConnection {
  const mux = createReplyMux(nc, {
    logger: options.logger,
    errors: LIBRARY_REQUEST_ERRORS,
    ...(options.sweepMs === undefined ? {} : { sweepMs: options.sweepMs }),
  });
  const request = (subject: string, payload?: Payload, opts?: RequestOptions): Promise<Msg> => {
    // A caller-chosen reply subject is a request the mux cannot correlate: the library does it.
    if (opts?.noMux === true || opts?.reply !== undefined) return nc.request(subject, payload, opts);
    return mux.request(subject, payload ?? Empty, {
      timeoutMs: opts?.timeout ?? DEFAULT_MUXED_REQUEST_TIMEOUT_MS,
      ...(opts?.headers === undefined ? {} : { headers: opts.headers }),
    });
  };
  const bound = new Map<PropertyKey, unknown>();
  const proxy = new Proxy(nc, {
    get(target, prop) {
      if (prop === 'request') return request;
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      // Methods run on the real connection (its private fields), bound once.
      let fn = bound.get(prop);
      if (fn === undefined) {
        fn = (value as (...args: unknown[]) => unknown).bind(target);
        bound.set(prop, fn);
      }
      return fn;
    },
  });
  return { nc: proxy, mux, close: () => mux.close() };
}
