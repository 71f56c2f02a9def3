/**
 * The shared request/reply mux (`@orderwire/platform`, one inbox subscription, no per-request
 * timers or error objects — ADR 0002) with the edge's error codes.
 */
import { createReplyMux as createSharedReplyMux, type ReplyMux, type NatsConnection } from '@orderwire/platform';
import type { Logger } from 'pino';
import { EDGE_ERRORS } from '../errors.js';

export type { ReplyMux } from '@orderwire/platform';

export function createReplyMux(nc: NatsConnection, logger: Logger): ReplyMux {
  return createSharedReplyMux(nc, {
    logger,
    errors: {
      timeout: (subject) => EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_REQUEST_TIMEOUT', { subject }),
      noResponders: (subject) => EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_NO_RESPONDERS', { subject }),
      failed: (subject, cause) => EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_REQUEST_FAILED', { subject }, cause === undefined ? {} : { cause }),
    },
  });
}
