export { ID_PATTERN, ORDER_ID_PATTERN, isValidId, isValidOrderId, assertId, InvalidIdError } from './ids.js';
export type { IdKind } from './ids.js';
export {
  ORDERS_SUBJECT_PREFIX,
  RECEIPTS_SUBJECT_PREFIX,
  AUDIT_SUBJECT_PREFIX,
  DLQ_SUBJECT_PREFIX,
  stationSubject,
  displaySubject,
  displayFilterSubjects,
  displayConsumerName,
  parseOrderSubject,
  SIGNALS,
  HEADERS,
} from './subjects.js';
export type { ParsedOrderSubject } from './subjects.js';
export { SOCKET_PATH } from './socket-events.js';
export type {
  Delivery,
  DeliveryAck,
  DeliveryReject,
  AuthRefreshRequest,
  AuthRefreshResult,
  DisconnectReason,
  SessionEnd,
  ServerToClientEvents,
  ClientToServerEvents,
  HandshakeErrorData,
} from './socket-events.js';
export { SCOPES, DISPLAY_AUDIENCE, API_AUDIENCE, isScope } from './claims.js';
export type { Scope, DisplayTokenClaims, ClientTokenClaims, AccessTokenClaims } from './claims.js';
export { displayRegistryKey } from './display.js';
export type { DisplayRecord } from './display.js';
