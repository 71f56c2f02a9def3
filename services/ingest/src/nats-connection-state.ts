/**
 * Tracks whether the NATS connection is up, from the client's status events, so a request can
 * be refused at once while disconnected instead of waiting out a publish timeout.
 */
import type { Status } from '@nats-io/nats-core';
import type { NatsConnection } from '@orderwire/platform';
import type { Logger } from 'pino';

export interface ConnectionState {
  /** False while disconnected/reconnecting, draining or closed. */
  connected(): boolean;
  stop(): void;
}

export function trackConnection(nc: NatsConnection, logger: Logger): ConnectionState {
  let up = !nc.isClosed();
  // A QueuedIterator at runtime; its `stop` detaches the listener (the type only says AsyncIterable).
  const iter = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  (async () => {
    for await (const s of iter) {
      if (s.type === 'disconnect' || s.type === 'close') up = false;
      else if (s.type === 'reconnect') up = true;
    }
  })().catch((err: unknown) => logger.error({ err }, 'nats status tracking failed'));
  return {
    connected: () => up && !nc.isClosed() && !nc.isDraining(),
    stop: () => iter.stop?.(),
  };
}
