/**
 * Handshake: who is this display, and does it still have a mailbox? Runs as Socket.IO
 * middleware before `connection`; a refusal reaches the display as `connect_error` with
 * `data: { reason, message }` (contracts `HandshakeErrorData`).
 */
import { JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { displayConsumerName, type DisconnectReason, type HandshakeErrorData } from '@orderwire/contracts';
import { AUTH_FAILURES_EVENT, type AuditAggregator, type OrderwireError } from '@orderwire/platform';
import { isTokenError, type TokenVerifier } from '@orderwire/token-verifier';
import type { Logger } from 'pino';
import { EDGE_ERRORS } from '../errors.js';
import type { EdgeMetrics, HandshakeOutcome } from '../metrics.js';
import type { RateLimiter } from './rate-limit.js';
import type { ConsumerBinding, EdgeSocket } from './types.js';

/** JetStream API error code for "consumer not found". */
const JS_CONSUMER_NOT_FOUND = 10014;
const NS_PER_MS = 1_000_000;

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
  /** Use the first X-Forwarded-For address as the client's. */
  trustProxy: boolean;
  /** Refusals for a bad, expired or revoked token are counted here (aggregated audit). */
  audit?: AuditAggregator;
}

/** Handshake refusals that are failed authentications (audited), as opposed to capacity or policy. */
const AUTH_REFUSALS: ReadonlySet<DisconnectReason> = new Set<DisconnectReason>(['unauthorized', 'token_expired', 'token_revoked']);

function clientAddress(socket: EdgeSocket, trustProxy: boolean): string {
  if (trustProxy) {
    const fwd = socket.handshake.headers['x-forwarded-for'];
    const first = (Array.isArray(fwd) ? fwd[0] : fwd)?.split(',')[0]?.trim();
    if (first !== undefined && first.length > 0) return first;
  }
  return socket.handshake.address;
}

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
      filterSubjects,
      ackWaitMs: Math.round((cfg.ack_wait ?? 30_000 * NS_PER_MS) / NS_PER_MS),
      ackPendingAtConnect: info.num_ack_pending,
    };
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JS_CONSUMER_NOT_FOUND) return undefined;
    throw err;
  }
}

/** Socket.IO middleware: verifies the token and binds the display's own consumer. */
export function createHandshake(deps: HandshakeDeps): (socket: EdgeSocket, next: (err?: Error) => void) => void {
  const { verifier, jsm, stream, metrics, logger } = deps;

  async function handshake(socket: EdgeSocket): Promise<void> {
    if (!deps.isAccepting()) {
      throw refuse('server_shutdown', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_SHUTTING_DOWN'));
    }
    if (!deps.rateLimiter.take(clientAddress(socket, deps.trustProxy))) {
      metrics.rateLimited.inc({ route: 'handshake' });
      throw refuse('rate_limited', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_RATE_LIMITED'));
    }
    const origin = socket.handshake.headers.origin;
    if (deps.allowedOrigins.length > 0 && origin !== undefined && !deps.allowedOrigins.includes(origin)) {
      throw refuse('forbidden_origin', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_FORBIDDEN_ORIGIN', { origin }));
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
    const name = displayConsumerName(claims.tid, claims.sub);
    let binding: ConsumerBinding | undefined;
    try {
      binding = await bindConsumer(jsm, stream, name);
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
            source: clientAddress(socket, deps.trustProxy),
            actor: claims === undefined ? { type: 'anonymous' } : { type: 'display', id: claims.sub },
            reason: e.code ?? reason,
            sample: claims?.sub,
          });
        }
        const level = reason === 'internal_error' ? 'error' : 'info';
        logger[level]({ err, code: e.code, reason, socketId: socket.id, address: socket.handshake.address }, 'handshake refused');
        if (e.data === undefined) {
          next(refuse('internal_error', EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_UNAVAILABLE', { detail: 'handshake failed' }, { cause: err })));
        } else next(err as HandshakeError);
      },
    );
  };
}
