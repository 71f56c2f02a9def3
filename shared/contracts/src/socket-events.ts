/**
 * Socket.IO contract between edge nodes and displays (path `/socket.io`, websocket transport,
 * handshake `auth: { token }`).
 */

/** One order as the display receives it. `deliveryId` is stable across redeliveries. */
export interface Delivery<TOrder = unknown> {
  /** `<stream>:<streamSeq>` — the same on every redelivery of the same stream message. */
  deliveryId: string;
  orderId: string;
  /** ORDERS stream sequence: increases in publish order, so the SDK can keep order. */
  seq: number;
  /** JetStream delivery count (1 on first delivery). */
  deliveryCount: number;
  /** Epoch ms when ingest accepted the order (for end-to-end latency). */
  acceptedAt: number;
  /** Set when this delivery is a DLQ replay. */
  replay?: boolean;
  order: TOrder;
}

export interface DeliveryReject {
  deliveryId: string;
  reason: string;
}

/** What the display answers to an `orders` batch. */
export interface DeliveryAck {
  ack: string[];
  reject?: DeliveryReject[];
}

export interface AuthRefreshRequest {
  token: string;
}

export type AuthRefreshResult =
  | { ok: true; expiresAt: number }
  | { ok: false; reason: DisconnectReason; message?: string };

/** Machine-readable reasons in `connect_error` data and `session:end`. */
export type DisconnectReason =
  | 'unauthorized'
  | 'token_expired'
  | 'token_revoked'
  | 'forbidden_origin'
  | 'rate_limited'
  | 'session_replaced'
  | 'display_decommissioned'
  | 'server_shutdown'
  | 'internal_error';

export interface SessionEnd {
  reason: DisconnectReason;
  /** True when the display should reconnect (possibly to another node) right away. */
  reconnect: boolean;
  message?: string;
}

/** One order that aged out of the display's mailbox before the display acknowledged it. */
export interface ExpiredOrder {
  orderId: string;
  /** Epoch ms when it was found expired (the `expired` receipt's `at`). */
  expiredAt: number;
  /** Epoch ms when ingest accepted it. */
  acceptedAt: number;
}

/**
 * `orders:expired`: sent once after the handshake when orders expired while the display was
 * away. `orders` lists at most EXPIRED_NOTICE_MAX of them (oldest first); `total` counts all.
 */
export interface OrdersExpired {
  orders: ExpiredOrder[];
  total: number;
}

/** The display's answer: the notice is recorded as told and not sent again. */
export interface OrdersExpiredAck {
  ok: true;
}

/** Expired orders listed by name in one notice; more are only counted (`total`). */
export const EXPIRED_NOTICE_MAX = 200;

export interface ServerToClientEvents {
  orders: (batch: Delivery[], ack: (answer: DeliveryAck) => void) => void;
  'orders:expired': (notice: OrdersExpired, ack: (answer: OrdersExpiredAck) => void) => void;
  'session:end': (info: SessionEnd) => void;
}

export interface ClientToServerEvents {
  'auth:refresh': (req: AuthRefreshRequest, ack: (res: AuthRefreshResult) => void) => void;
}

/** `connect_error` data sent with a failed handshake. */
export interface HandshakeErrorData {
  reason: DisconnectReason;
  message?: string;
}

export const SOCKET_PATH = '/socket.io';
