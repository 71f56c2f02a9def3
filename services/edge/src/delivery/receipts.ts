/**
 * Delivery receipts on RECEIPTS (`receipts.<tenant>.<orderKey>.<displayId>`, last per
 * subject): ingest answers `GET /v1/orders/:orderId` from them. A receipt is written after the
 * display's ack was confirmed by JetStream and never affects the order itself.
 */
import { receiptSubject, type Receipt } from '@orderwire/contracts';
import { EDGE_ERRORS } from '../errors.js';
import type { ReplyMux } from './reply-mux.js';

export interface DeliveredReceipt {
  tenant: string;
  orderId: string;
  displayId: string;
  seq: number;
  deliveryCount: number;
}

export interface ReceiptWriter {
  /** Publishes a `delivered` receipt and awaits its PubAck. @throws OrderwireError on failure. */
  delivered(r: DeliveredReceipt): Promise<void>;
}

interface PubAckReply {
  stream?: string;
  seq?: number;
  error?: { code?: number; description?: string };
}

export function createReceiptWriter(options: { mux: ReplyMux; instanceId: string; timeoutMs: number }): ReceiptWriter {
  const { mux, instanceId, timeoutMs } = options;
  return {
    async delivered(r) {
      const subject = receiptSubject(r.tenant, r.orderId, r.displayId);
      const receipt: Receipt = {
        tenant: r.tenant,
        orderId: r.orderId,
        displayId: r.displayId,
        status: 'delivered',
        seq: r.seq,
        at: Date.now(),
        edge: instanceId,
        deliveryCount: r.deliveryCount,
      };
      const reply = await mux.request(subject, JSON.stringify(receipt), { timeoutMs });
      let ack: PubAckReply;
      try {
        ack = reply.json<PubAckReply>();
      } catch (err) {
        throw EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_RECEIPT_FAILED', { subject, reason: 'unreadable PubAck' }, { cause: err });
      }
      if (ack.error !== undefined || ack.seq === undefined) {
        throw EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_RECEIPT_FAILED', {
          subject,
          reason: ack.error?.description ?? 'no sequence in PubAck',
        });
      }
    },
  };
}
