export { ID_PATTERN, ORDER_ID_PATTERN, isValidId, isValidOrderId, assertId, InvalidIdError } from './ids.js';
export type { IdKind } from './ids.js';
export {
  ORDERS_SUBJECT_PREFIX,
  RECEIPTS_SUBJECT_PREFIX,
  AUDIT_SUBJECT_PREFIX,
  DLQ_SUBJECT_PREFIX,
  ORDER_VIRTUAL_PARTITIONS,
  fnv1a32,
  orderPartition,
  orderPartitionSubject,
  parseOrderPartitionSubject,
  storeOrdersWildcard,
  stationSubject,
  displaySubject,
  displayFilterSubjects,
  displayConsumerName,
  parseDisplayConsumerName,
  legacyDisplayConsumerName,
  legacyDisplayConsumerSplits,
  DISPLAY_CONSUMER_PREFIX,
  LEGACY_DISPLAY_CONSUMER_PREFIX,
  DISPLAY_CONSUMER_METADATA,
  parseOrderSubject,
  parseLegacyOrderSubject,
  ORDER_RING_PREFIX,
  ringSubject,
  orderSubjectOfRing,
  orderKey,
  orderIdFromKey,
  receiptSubject,
  receiptsForOrderFilter,
  parseReceiptSubject,
  SIGNALS,
  HEADERS,
} from './subjects.js';
export type { ParsedOrderSubject, ParsedLegacyOrderSubject, ParsedReceiptSubject, DisplayRevokedSignal } from './subjects.js';
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
export { PRESENCE_KEY_PREFIX, presenceLiveKey, presenceSeenKey } from './presence.js';
export type { PresenceLive, PresenceSeen } from './presence.js';
export type { DisplayRecord } from './display.js';
export {
  OrderSchema,
  OrderItemSchema,
  OrderPrioritySchema,
  OrderBatchSchema,
  OrderEnvelopeSchema,
  ORDER_PRIORITIES,
  ORDER_ENVELOPE_VERSION,
  ORDER_ITEMS_MAX,
  ITEM_NAME_MAX,
  ITEM_QTY_MAX,
  ITEM_MODIFIERS_MAX,
  ITEM_MODIFIER_MAX,
  ITEM_NOTES_MAX,
  ITEM_SKU_MAX,
  ORDER_DISPLAY_IDS_MAX,
  CUSTOMER_NAME_MAX,
  METADATA_KEYS_MAX,
  METADATA_KEY_MAX,
  METADATA_VALUE_MAX,
  ORDER_BATCH_MAX,
  VALIDATION_ERRORS_MAX,
  validateOrder,
  validateOrderBatch,
  validateOrderEnvelope,
  isDateTime,
} from './order.js';
export type {
  Order,
  OrderItem,
  OrderPriority,
  OrderBatch,
  OrderEnvelope,
  ValidationIssue,
  ValidationResult,
  OrderValidation,
  OrderBatchValidation,
  OrderAccepted,
  OrderTargetAccepted,
  OrderBatchItemResult,
  OrderOutcome,
  OrderBatchResponse,
} from './order.js';
export {
  RECEIPT_STATUSES,
  RECEIPT_TRANSITIONS,
  isReceiptStatus,
  receiptTransition,
  receiptOnlyStartsSubject,
  receiptState,
} from './receipt.js';
export type { Receipt, ReceiptStatus, ReceiptTransitionRule, ReceiptState, ReceiptDecision } from './receipt.js';
export type { ErrorBody } from './http.js';
