export {
  createTokenManager,
  DEFAULT_REFRESH_SKEW_MS,
  REFRESH_LIFETIME_FRACTION,
  MAX_REFRESH_LIFETIME_FRACTION,
  EXPIRY_MARGIN_MS,
  EXPIRY_MARGIN_FRACTION,
  DEFAULT_RETRY_BASE_MS,
  DEFAULT_RETRY_MAX_MS,
  DEFAULT_RETRY_MAX_ATTEMPTS,
  DEFAULT_ENROLL_MAX_ATTEMPTS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from './token-manager.js';
export type {
  TokenManager,
  TokenManagerOptions,
  TokenManagerEvents,
  TokenInfo,
  ReenrollInfo,
  RetryInfo,
  RetryOptions,
} from './token-manager.js';
export { memoryTokenStore, webStorageTokenStore, DEFAULT_STORAGE_KEY } from './token-store.js';
export type { TokenStore, StoredTokens, StorageLike } from './token-store.js';
export {
  createDisplayClient,
  EDGE_SOCKET_PATH,
  DEFAULT_RECONNECT_BASE_MS,
  DEFAULT_RECONNECT_MAX_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_AUTH_REFRESH_TIMEOUT_MS,
} from './display-client.js';
export type {
  DisplayClient,
  DisplayClientOptions,
  DisplayClientEvents,
  ClientState,
  ConnectedInfo,
  DisconnectedInfo,
  SessionEndInfo,
  OrdersExpiredInfo,
  IoFactory,
} from './display-client.js';
export { DEFAULT_DEDUPE_WINDOW, MAX_REJECT_REASON_LENGTH, NO_HANDLER_REASON, MALFORMED_REASON } from './delivery.js';
export type { OrderHandler, OrderInfo, DeliveryStats } from './delivery.js';
export { DisplaySdkError, isDisplaySdkError, SDK_ERRORS } from './errors.js';
export type { SdkErrorCode } from './errors.js';
export type { Timers, BackoffPolicy } from './timing.js';
export type { FetchFn } from './http.js';
export type { Subscribable } from './emitter.js';
export type { Delivery, DeliveryAck, DeliveryReject, SessionEnd, DisconnectReason, ExpiredOrder, OrdersExpired } from '@orderwire/contracts';
