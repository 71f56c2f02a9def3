/**
 * Delivery receipts: the edge records one per (order, display) state change on the RECEIPTS
 * stream, subject `receiptSubject(tenant, orderId, displayId)`; ingest reads them to answer
 * `GET /v1/orders/:orderId`, the DLQ service records dead-lettering and replays.
 */

export const RECEIPT_STATUSES = ['pending', 'delivered', 'dead_lettered', 'replayed'] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

export interface Receipt {
  tenant: string;
  orderId: string;
  displayId: string;
  status: ReceiptStatus;
  /** ORDERS stream sequence of the delivered message. */
  seq: number;
  /** Epoch ms of the state change. */
  at: number;
  /** INSTANCE_ID of the edge node that delivered (status `delivered`). */
  edge?: string;
  /** JetStream delivery count when the state changed. */
  deliveryCount?: number;
  /** Why the order was dead-lettered or rejected by the display. */
  reason?: string;
}
