/**
 * Handshake: who is this display, and does it still have a mailbox? Runs as Socket.IO
 * middleware before `connection`; a refusal reaches the display as `connect_error` with
 * `data: { reason, message }` (contracts `HandshakeErrorData`).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { millis, nanos } from '@nats-io/nats-core';
import {
  displayConsumerName,
  displaySubject,
  legacyDisplayConsumerName,
  parseOrderSubject,
  type DisconnectReason,
  type HandshakeErrorData,
} from '@orderwire/contracts';
import { AUTH_FAILURES_EVENT, JS_API_CODES, isJetStreamApiError, type AuditAggregator, type OrderwireError } from '@orderwire/platform';
import { isTokenError, type TokenVerifier } from '@orderwire/token-verifier';
import type { Logger } from 'pino';
import { ANY_ORIGIN } from '../config.js';
import { EDGE_ERRORS } from '../errors.js';
import type { EdgeMetrics, HandshakeOutcome } from '../metrics.js';
import { withSlot, type Limiter } from '../delivery/limiter.js';
import type { RateLimiter } from './rate-limit.js';
import type { ConsumerBinding, EdgeSocket } from './types.js';

/** nats-server's ack wait for a consumer whose config leaves it out. */
const SERVER_DEFAULT_ACK_WAIT_MS = 30_000;

export interface HandshakeDeps {
  verifier: TokenVerifier;
  jsm: JetStreamManager;
  stream: string;
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

/** Reads the display's consumer: its filter subjects are the doorbells, its absence means decommissioned. */
export async function bindConsumer(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerBinding | undefined> {
  try {
    const info = await jsm.consumers.info(stream, name);
    const cfg = info.config;
    const filterSubjects = cfg.filter_subjects ?? (cfg.filter_subject === undefined ? [] : [cfg.filter_subject]);
    return {
      name,
      key: name,
      legacy: false,
      filterSubjects,
      ackWaitMs: millis(cfg.ack_wait ?? nanos(SERVER_DEFAULT_ACK_WAIT_MS)),
      ackPendingAtConnect: info.num_ack_pending,
    };
  } catch (err) {
    if (isJetStreamApiError(err, JS_API_CODES.ConsumerNotFound)) return undefined;
    throw err;
  }
}

/**
 * Binds the display's mailbox: `displayConsumerName(tenant, display)`, or — until auth has
 * migrated it — the legacy-named consumer, but only when its filter subjects are provably this
 * display's (its own display subject, and nothing of another tenant or store): the legacy name
 * alone is ambiguous across tenants.
 */
export async function bindDisplayConsumer(
  jsm: JetStreamManager,
  stream: string,
  display: { tenant: string; store: string; displayId: string },
): Promise<ConsumerBinding | undefined> {
  const name = displayConsumerName(display.tenant, display.displayId);
  const binding = await bindConsumer(jsm, stream, name);
  if (binding !== undefined) return binding;
  const legacy = await bindConsumer(jsm, stream, legacyDisplayConsumerName(display.tenant, display.displayId));
  if (legacy === undefined) return undefined;
  const own = displaySubject(display.tenant, display.store, display.displayId);
  const mine = legacy.filterSubjects.every((s) => {
    const p = parseOrderSubject(s);
    return p !== undefined && p.tenant === display.tenant && p.store === display.store && (p.kind === 'station' || s === own);
  });
  if (!mine || !legacy.filterSubjects.includes(own)) return undefined;
  return { ...legacy, key: name, legacy: true };
}

/** Socket.IO middleware: verifies the token and binds the display's own consumer. */
export function createHandshake(deps: HandshakeDeps): (socket: EdgeSocket, next: (err?: Error) => void) => void {
  const { verifier, jsm, stream, metrics, logger } = deps;

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
      binding = await withSlot(deps.consumerReads, () => bindDisplayConsumer(jsm, stream, { tenant: claims.tid, store: claims.sid, displayId: claims.sub }));
    } catch (err) {
      throw refuse('internal_error', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_UNAVAILABLE', { detail: 'consumer lookup failed' }, { cause: err }));
    }
    if (binding === undefined) {
      throw refuse('display_decommissioned', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_DISPLAY_DECOMMISSIONED', { displayId: claims.sub }));
    }
    socket.data.claims = claims;
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
