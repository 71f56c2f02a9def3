/**
 * Handshake: who is this display, and does it still have a mailbox? Runs as Socket.IO
 * middleware before `connection`; a refusal reaches the display as `connect_error` with
 * `data: { reason, message }` (contracts `HandshakeErrorData`).
 */
import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import { millis, nanos } from '@nats-io/nats-core';
import { DISPLAY_CONSUMER_METADATA, displayConsumerName, type DisconnectReason, type HandshakeErrorData } from '@orderwire/contracts';
import {
  AUTH_FAILURES_EVENT,
  JS_API_CODES,
  LEGACY_ORDERS_STREAM,
  PLATFORM_ERRORS,
  displayConsumerOwner,
  isJetStreamApiError,
  type AuditAggregator,
  type OrderStreamLocator,
  type OrderwireError,
} from '@orderwire/platform';
import { isTokenError, type TokenVerifier } from '@orderwire/token-verifier';
import type { Logger } from 'pino';
import { ANY_ORIGIN } from '../config.js';
import { EDGE_ERRORS } from '../errors.js';
import type { EdgeMetrics, HandshakeOutcome } from '../metrics.js';
import { withSlot, type Limiter } from '../delivery/limiter.js';
import type { RateLimiter } from './rate-limit.js';
import { sessionClaims, type ConsumerBinding, type EdgeSocket } from './types.js';

/** nats-server's ack wait for a consumer whose config leaves it out. */
const SERVER_DEFAULT_ACK_WAIT_MS = 30_000;

export interface HandshakeDeps {
  verifier: TokenVerifier;
  jsm: JetStreamManager;
  /** Which order stream holds a display's mailbox (cached vp → stream map). */
  streams: OrderStreamLocator;
  metrics: EdgeMetrics;
  logger: Logger;
  allowedOrigins: readonly string[];
  isAccepting(): boolean;
  isRevokedFamily(familyId: string): boolean;
  rateLimiter: RateLimiter;
  /** Client address of the socket: the first untrusted hop (TRUSTED_PROXIES), never a spoofable header. */
  clientAddress(socket: EdgeSocket): string;
  /** Sessions per client address; false = the address is at its cap. */
  admit(socket: EdgeSocket, address: string): boolean;
  /** Refusals for a bad, expired or revoked token are counted here (aggregated audit). */
  audit?: AuditAggregator;
  /**
   * Bounds the consumer reads (JetStream API requests) of handshakes in flight, process-wide: a
   * reconnection storm of every display of a node becomes a FIFO queue, not thousands of API
   * requests at once. The per-address rate limit does not bound a whole fleet reconnecting.
   */
  consumerReads: Limiter;
}

/** Handshake refusals that are failed authentications (audited), as opposed to capacity or policy. */
const AUTH_REFUSALS: ReadonlySet<DisconnectReason> = new Set<DisconnectReason>(['unauthorized', 'token_expired', 'token_revoked']);

export type HandshakeError = OrderwireError & { data: HandshakeErrorData };

function refuse(reason: DisconnectReason, err: OrderwireError): HandshakeError {
  return Object.assign(err, { data: { reason, message: err.message } });
}

/** Reads the display's consumer on one stream: its filter subjects are the doorbells. */
export async function bindConsumer(jsm: JetStreamManager, stream: string, name: string): Promise<(ConsumerBinding & { info: ConsumerInfo }) | undefined> {
  try {
    const info = await jsm.consumers.info(stream, name);
    const cfg = info.config;
    const filterSubjects = cfg.filter_subjects ?? (cfg.filter_subject === undefined ? [] : [cfg.filter_subject]);
    const retiringTo = cfg.metadata?.[DISPLAY_CONSUMER_METADATA.retiringTo];
    return {
      name,
      stream,
      key: name,
      filterSubjects,
      ackWaitMs: millis(cfg.ack_wait ?? nanos(SERVER_DEFAULT_ACK_WAIT_MS)),
      ackPendingAtConnect: info.num_ack_pending,
      ...(retiringTo === undefined ? {} : { retiringTo }),
      info,
    };
  } catch (err) {
    if (isJetStreamApiError(err, JS_API_CODES.ConsumerNotFound) || isJetStreamApiError(err, JS_API_CODES.StreamNotFound)) return undefined;
    throw err;
  }
}

/** Messages the mailbox still owes its display: not yet delivered, or delivered and not acked. */
export function mailboxOwes(info: Pick<ConsumerInfo, 'num_pending' | 'num_ack_pending'>): number {
  return info.num_pending + info.num_ack_pending;
}

/** The binding a session keeps: without the consumer info it was read from. */
function binding(b: ConsumerBinding & { info: ConsumerInfo }): ConsumerBinding {
  const { info: _info, ...rest } = b;
  return rest;
}

/**
 * Binds the display's mailbox `displayConsumerName(tenant, display)` on its store's partition
 * stream (from the locator's cached map). During a repartition (ADR 0003) the display has two:
 * the old one, marked `retiringTo`, and its twin, marked `retiringFrom`. Whichever the map
 * finds, the old one is bound while it still owes messages, else the twin — so the backlog keeps
 * its order. A token minted before the display moved stores (or a stale map) names another
 * stream: then every order stream is asked before the display is refused as decommissioned.
 */
export async function bindDisplayConsumer(
  jsm: JetStreamManager,
  streams: OrderStreamLocator,
  display: { tenant: string; store: string; displayId: string },
): Promise<ConsumerBinding | undefined> {
  const name = displayConsumerName(display.tenant, display.displayId);
  let found: (ConsumerBinding & { info: ConsumerInfo }) | undefined;
  const expected = await streams.streamFor(display.tenant, display.store).catch((err: unknown) => {
    // Mid-move no stream owns the vp for a moment: look everywhere below.
    if (PLATFORM_ERRORS.is(err) && err.code === 'ORDERWIRE_ERR_TOPOLOGY_NO_ORDER_STREAM') return undefined;
    throw err;
  });
  if (expected !== undefined) found = await bindConsumer(jsm, expected, name);
  if (found === undefined) {
    streams.invalidate();
    for (const stream of [...(await streams.streams()), LEGACY_ORDERS_STREAM]) {
      if (stream === expected) continue;
      found = await bindConsumer(jsm, stream, name);
      if (found !== undefined) break;
    }
  }
  if (found === undefined || !ownedBy(found.info, display)) return undefined;
  // The old mailbox of a move: bound while it owes messages or its vp has not moved yet, else its twin.
  if (found.retiringTo !== undefined) {
    if (mailboxOwes(found.info) > 0 || !(await owns(streams, found.retiringTo, display))) return binding(found);
    const twin = await bindConsumer(jsm, found.retiringTo, name);
    return twin !== undefined && ownedBy(twin.info, display) ? binding(twin) : binding(found);
  }
  const from = found.info.config.metadata?.[DISPLAY_CONSUMER_METADATA.retiringFrom];
  if (from !== undefined) {
    const old = await bindConsumer(jsm, from, name);
    if (old !== undefined && ownedBy(old.info, display) && (mailboxOwes(old.info) > 0 || !(await owns(streams, found.stream, display)))) {
      return binding({ ...old, retiringTo: found.stream });
    }
  }
  return binding(found);
}

/**
 * Whether `stream` owns the display's vp now (a fresh read): a twin is bound only then — in the
 * moment between its creation and the subject move, orders still land on the old stream.
 */
async function owns(streams: OrderStreamLocator, stream: string, display: { tenant: string; store: string }): Promise<boolean> {
  streams.invalidate();
  const owner = await streams.streamFor(display.tenant, display.store).catch(() => undefined);
  return owner === stream;
}

/** Its owner metadata names this (tenant, display): a consumer under the name made by anyone else is never bound. */
function ownedBy(info: ConsumerInfo, display: { tenant: string; displayId: string }): boolean {
  const owner = displayConsumerOwner(info);
  return owner?.tenant === display.tenant && owner.displayId === display.displayId;
}

/** Socket.IO middleware: verifies the token and binds the display's own consumer. */
export function createHandshake(deps: HandshakeDeps): (socket: EdgeSocket, next: (err?: Error) => void) => void {
  const { verifier, jsm, streams, metrics, logger } = deps;

  async function handshake(socket: EdgeSocket): Promise<void> {
    if (!deps.isAccepting()) {
      throw refuse('server_shutdown', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_SHUTTING_DOWN'));
    }
    const address = deps.clientAddress(socket);
    if (!deps.rateLimiter.take(address)) {
      metrics.rateLimited.inc({ route: 'handshake' });
      throw refuse('rate_limited', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_RATE_LIMITED'));
    }
    const origin = socket.handshake.headers.origin;
    if (!deps.allowedOrigins.includes(ANY_ORIGIN) && origin !== undefined && !deps.allowedOrigins.includes(origin)) {
      throw refuse('forbidden_origin', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_FORBIDDEN_ORIGIN', { origin }));
    }
    if (!deps.admit(socket, address)) {
      metrics.rateLimited.inc({ route: 'connection_cap' });
      throw refuse('rate_limited', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_TOO_MANY_CONNECTIONS'));
    }
    const auth: unknown = socket.handshake.auth;
    const token = typeof auth === 'object' && auth !== null ? (auth as { token?: unknown }).token : undefined;
    let claims;
    try {
      claims = await verifier.verifyDisplayToken(token);
    } catch (err) {
      if (isTokenError(err)) {
        const reason = err.reason;
        const code = reason === 'token_expired' ? 'ORDERWIRE_ERR_EDGE_TOKEN_EXPIRED' : 'ORDERWIRE_ERR_EDGE_UNAUTHORIZED';
        throw refuse(reason, EDGE_ERRORS.create(code, { detail: err.message }, { cause: err }));
      }
      throw refuse('internal_error', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_UNAUTHORIZED', { detail: 'token could not be verified' }, { cause: err }));
    }
    if (deps.isRevokedFamily(claims.fam)) {
      throw refuse('token_revoked', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_TOKEN_REVOKED'));
    }
    let binding: ConsumerBinding | undefined;
    try {
      binding = await withSlot(deps.consumerReads, () => bindDisplayConsumer(jsm, streams, { tenant: claims.tid, store: claims.sid, displayId: claims.sub }));
    } catch (err) {
      throw refuse('internal_error', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_UNAVAILABLE', { detail: 'consumer lookup failed' }, { cause: err }));
    }
    if (binding === undefined) {
      throw refuse('display_decommissioned', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_DISPLAY_DECOMMISSIONED', { displayId: claims.sub }));
    }
    socket.data.claims = sessionClaims(claims);
    socket.data.binding = binding;
  }

  return (socket, next) => {
    handshake(socket).then(
      () => {
        metrics.handshakes.inc({ outcome: 'ok' });
        next();
      },
      (err: unknown) => {
        const e = err as Partial<HandshakeError>;
        const reason = e.data?.reason ?? 'internal_error';
        metrics.handshakes.inc({ outcome: reason satisfies HandshakeOutcome });
        if (deps.audit !== undefined && AUTH_REFUSALS.has(reason)) {
          const claims = socket.data.claims;
          deps.audit.note({
            event: AUTH_FAILURES_EVENT,
            tenant: claims?.tid,
            source: deps.clientAddress(socket),
            actor: claims === undefined ? { type: 'anonymous' } : { type: 'display', id: claims.sub },
            reason: e.code ?? reason,
            sample: claims?.sub,
          });
        }
        const level = reason === 'internal_error' ? 'error' : 'info';
        logger[level]({ err, code: e.code, reason, socketId: socket.id, address: deps.clientAddress(socket) }, 'handshake refused');
        if (e.data === undefined) {
          next(refuse('internal_error', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_UNAVAILABLE', { detail: 'handshake failed' }, { cause: err })));
        } else next(err as HandshakeError);
      },
    );
  };
}
