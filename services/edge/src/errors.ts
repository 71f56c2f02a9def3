/**
 * Error catalogue of the edge service. Handshake failures reach displays as
 * `connect_error` data `{ reason, message }` (contracts `HandshakeErrorData`); the codes
 * below are what logs and operators see.
 */
import { defineErrors } from '@orderwire/platform';

export const EDGE_ERRORS = defineErrors({
  ORDERWIRE_ERR_EDGE_UNAUTHORIZED: { status: 401, message: 'handshake rejected: {detail}' },
  ORDERWIRE_ERR_EDGE_TOKEN_EXPIRED: { status: 401, message: 'display token expired: {detail}' },
  ORDERWIRE_ERR_EDGE_TOKEN_REVOKED: { status: 401, message: 'display token family was revoked' },
  ORDERWIRE_ERR_EDGE_FORBIDDEN_ORIGIN: { status: 403, message: 'origin {origin} is not allowed' },
  ORDERWIRE_ERR_EDGE_DISPLAY_DECOMMISSIONED: { status: 403, message: 'display {displayId} has no delivery consumer' },
  ORDERWIRE_ERR_EDGE_RATE_LIMITED: { status: 429, message: 'too many handshakes from this address; retry later' },
  ORDERWIRE_ERR_EDGE_TOO_MANY_CONNECTIONS: { status: 429, message: 'too many connections from this address' },
  ORDERWIRE_ERR_EDGE_SOCKET_RATE_LIMITED: { status: 429, message: 'too many messages on this connection ({kind})' },
  ORDERWIRE_ERR_EDGE_SHUTTING_DOWN: { status: 503, message: 'edge node is shutting down' },
  ORDERWIRE_ERR_EDGE_UNAVAILABLE: { status: 503, message: 'edge cannot reach JetStream: {detail}' },
  ORDERWIRE_ERR_EDGE_ENGINE_CLOSED: { status: 503, message: 'delivery engine is closed' },
  ORDERWIRE_ERR_EDGE_REQUEST_TIMEOUT: { status: 504, message: 'no reply on {subject} in time' },
  ORDERWIRE_ERR_EDGE_NO_RESPONDERS: { status: 503, message: 'no responders for {subject}' },
  ORDERWIRE_ERR_EDGE_RECEIPT_FAILED: { status: 503, message: 'receipt {subject} not stored: {reason}' },
  ORDERWIRE_ERR_EDGE_REQUEST_FAILED: { status: 503, message: 'request on {subject} failed (connection closed?)' },
});

export type EdgeErrorCode = (typeof EDGE_ERRORS.codes)[number];
