/**
 * Single-shot pulls for many consumers over ONE inbox subscription.
 *
 * The client library's `fetch()` opens a subscription, a heartbeat monitor and a status
 * iterator per call and always leaves a request waiting on the server until it expires (at
 * least 1 s); both are what the edge must avoid at thousands of displays (ADR 0002). Here each
 * pull is one publish to `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` with `no_wait: true`
 * and reply subject `<inbox>.<pullId>`; the server answers at once with up to `batch` messages
 * and, unless the batch filled, a terminating status (404 No Messages, or 408 after a partial
 * batch). Nothing is ever left waiting on the server.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { createConnectionInbox } from '@orderwire/platform';
import type { Logger } from 'pino';
import { parseAckSubject, pulledHeaders, type Acker, type PulledMessage } from './js-message.js';

/** 5000 ms the server gets to answer a pull before the client gives up on it. */
export const DEFAULT_PULL_TIMEOUT_MS = 5_000;

/** How often `close()` checks whether outstanding pulls were answered. */
const CLOSE_POLL_MS = 10;

export type PullStatus =
  /** Batch filled, or the server said there is nothing more (404/408). */
  | 'complete'
  /** 503 or 409 Consumer Deleted: the consumer (or JetStream) is not there. */
  | 'consumer_missing'
  /** 409 Exceeded MaxAckPending / MaxWaiting and similar limits. */
  | 'limited'
  /** No terminating answer within the deadline (e.g. NATS disconnected). */
  | 'timeout'
  /** Any other status, or the connection refused the publish. */
  | 'error';

export interface PullResult {
  messages: PulledMessage[];
  status: PullStatus;
  /** Server status code and description when the pull ended with one. */
  code?: number;
  description?: string;
}

export interface PullRequest {
  stream: string;
  consumer: string;
  batch: number;
}

export interface Puller {
  pull(req: PullRequest): Promise<PullResult>;
  /** Pulls awaiting their answer. */
  readonly outstanding: number;
  /** Messages that arrived for a pull already given up on; they were nak'ed back at once. */
  readonly orphans: number;
  /**
   * Waits (up to `timeoutMs`) for outstanding pulls to be answered, so their messages reach a
   * handler that can nak them, then fails the rest and unsubscribes.
   */
  close(timeoutMs?: number): Promise<void>;
}

export interface CreatePullerOptions {
  nc: NatsConnection;
  acker: Acker;
  logger: Logger;
  /** @default DEFAULT_PULL_TIMEOUT_MS */
  timeoutMs?: number;
  /** JetStream API prefix. @default '$JS.API' */
  apiPrefix?: string;
}

interface Pending {
  id: string;
  key: string;
  messages: PulledMessage[];
  batch: number;
  timer: NodeJS.Timeout;
  resolve: (r: PullResult) => void;
}

export function createPuller(options: CreatePullerOptions): Puller {
  const { nc, acker, logger } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PULL_TIMEOUT_MS;
  const apiPrefix = options.apiPrefix ?? '$JS.API';
  // The connection's own inbox prefix: the server grants the edge only `_INBOX_edge.>`.
  const prefix = createConnectionInbox(nc);
  const pending = new Map<string, Pending>();
  // A delivered JetStream message keeps the subject it was published on, not the inbox, so
  // data messages are routed by the consumer named in their ack subject (oldest pull first);
  // only status messages arrive on `<inbox>.<pullId>`.
  const byConsumer = new Map<string, Pending[]>();
  let nextId = 0;
  let orphans = 0;
  // The request body depends only on the batch size: encode it once, not per pull.
  const bodies = new Map<number, Uint8Array>();
  const pullBody = (batch: number): Uint8Array => {
    let body = bodies.get(batch);
    if (body === undefined) bodies.set(batch, (body = new TextEncoder().encode(JSON.stringify({ batch, no_wait: true }))));
    return body;
  };

  function finish(p: Pending, result: Omit<PullResult, 'messages'>): void {
    if (pending.get(p.id) !== p) return;
    clearTimeout(p.timer);
    pending.delete(p.id);
    const queue = byConsumer.get(p.key);
    if (queue !== undefined) {
      const i = queue.indexOf(p);
      if (i >= 0) queue.splice(i, 1);
      if (queue.length === 0) byConsumer.delete(p.key);
    }
    p.resolve({ messages: p.messages, ...result });
  }

  function onMessage(msg: Msg): void {
    const info = msg.reply === undefined ? undefined : parseAckSubject(msg.reply);
    if (info !== undefined) {
      const pulled: PulledMessage = { subject: msg.subject, data: msg.data, headers: pulledHeaders(msg), reply: msg.reply!, info };
      const p = byConsumer.get(`${info.stream}.${info.consumer}`)?.[0];
      if (p === undefined) {
        // Its pull already timed out locally: hand the message straight back rather than
        // let it sit unacked until ack_wait.
        orphans++;
        acker.nak(pulled);
        return;
      }
      p.messages.push(pulled);
      if (p.messages.length >= p.batch) finish(p, { status: 'complete' });
      return;
    }
    const p = pending.get(msg.subject.slice(prefix.length + 1));
    if (p === undefined) return;
    const code = msg.headers?.code ?? 0;
    const description = msg.headers?.description ?? '';
    if (code === 404 || code === 408) finish(p, { status: 'complete', code, description });
    else if (code === 503) finish(p, { status: 'consumer_missing', code, description });
    else if (code === 409) {
      const missing = /consumer deleted/i.test(description);
      finish(p, { status: missing ? 'consumer_missing' : 'limited', code, description });
    } else if (code === 100) {
      // Idle heartbeat: never requested, ignore.
    } else finish(p, { status: 'error', code, description });
  }

  // Messages to a pull carry their original subject; route them by the inbox token instead.
  const sub: Subscription = nc.subscribe(`${prefix}.*`, {
    callback: (err, msg) => {
      if (err !== null) {
        logger.error({ err }, 'pull inbox subscription failed');
        return;
      }
      try {
        onMessage(msg);
      } catch (e) {
        logger.error({ err: e }, 'pull inbox message handling failed');
      }
    },
  });

  return {
    pull(req) {
      return new Promise<PullResult>((resolve) => {
        const id = (nextId++).toString(36);
        const p: Pending = {
          id,
          key: `${req.stream}.${req.consumer}`,
          messages: [],
          batch: req.batch,
          resolve,
          timer: setTimeout(() => finish(p, { status: 'timeout' }), timeoutMs),
        };
        pending.set(id, p);
        const queue = byConsumer.get(p.key);
        if (queue === undefined) byConsumer.set(p.key, [p]);
        else queue.push(p);
        try {
          nc.publish(`${apiPrefix}.CONSUMER.MSG.NEXT.${req.stream}.${req.consumer}`, pullBody(req.batch), {
            reply: `${prefix}.${id}`,
          });
        } catch (err) {
          finish(p, { status: 'error', description: err instanceof Error ? err.message : String(err) });
        }
      });
    },
    get outstanding() {
      return pending.size;
    },
    get orphans() {
      return orphans;
    },
    async close(closeTimeoutMs = timeoutMs) {
      const deadline = Date.now() + closeTimeoutMs;
      while (pending.size > 0 && Date.now() < deadline && !nc.isClosed()) {
        await new Promise((r) => setTimeout(r, CLOSE_POLL_MS));
      }
      for (const p of [...pending.values()]) finish(p, { status: 'error', description: 'puller closed' });
      if (!sub.isClosed()) sub.unsubscribe();
    },
  };
}
