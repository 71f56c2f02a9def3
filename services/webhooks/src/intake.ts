/**
 * Events in: a durable consumer on RECEIPTS (shared by the replicas) turns each terminal receipt
 * into one delivery record per subscribed endpoint, created in `ow_webhook_deliveries` before
 * the receipt is acked — a crash in between reads the receipt again, and the create of an
 * existing record is a no-op, so nothing is lost or doubled. No publish is added to the edge's
 * path: the receipts it already writes are the source.
 *
 * The consumer starts at the receipts written from its creation on (`DeliverPolicy.New`): a
 * new deployment does not replay a week of history to endpoints that did not exist then.
 */
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { nanos } from '@nats-io/nats-core';
import { DISPLAY_RECEIPTS_FILTER, webhookDeliveryKey, type WebhookDeliveryRecord } from '@orderwire/contracts';
import { CONSUME_EXPIRES_MS, isJetStreamApiError, isWrongLastSequence, JS_API_CODES, STREAMS, type Logger } from '@orderwire/platform';
import type { Endpoints } from './endpoints.js';
import { eventOfReceipt, type SourcedEvent } from './events.js';
import type { WebhooksMetrics } from './metrics.js';

/** Receipts pulled per request. */
const INTAKE_BATCH = 256;
/** Receipts handed out and not yet acked. */
const INTAKE_MAX_ACK_PENDING = 1024;
/** A receipt neither acked nor naked is handed out again after this. */
const INTAKE_ACK_WAIT_MS = 30_000;
/** First and longest wait before a receipt whose deliveries could not be written is retried. */
const INTAKE_RETRY_BASE_MS = 500;
const INTAKE_RETRY_MAX_MS = 30_000;

export interface Intake {
  start(): Promise<void>;
  stop(): Promise<void>;
  running(): boolean;
}

/** Creates the delivery records of one event, one per subscribed endpoint (idempotent). */
export async function createDeliveries(kv: KV, endpoints: Endpoints, metrics: WebhooksMetrics, e: SourcedEvent, nowMs: number): Promise<number> {
  const subscribers = endpoints.subscribers(e.tenant, e.event.type);
  const body = JSON.stringify(e.event);
  let created = 0;
  for (const ep of subscribers) {
    const record: WebhookDeliveryRecord = {
      v: 1,
      id: e.id,
      tenant: e.tenant,
      endpointId: ep.id,
      type: e.event.type,
      body,
      createdAt: new Date(nowMs).toISOString(),
      state: 'pending',
      nextAttemptAt: nowMs,
      attempts: [],
    };
    try {
      await kv.create(webhookDeliveryKey(e.tenant, ep.id, e.id), JSON.stringify(record));
      metrics.deliveriesCreated.inc({ type: e.event.type });
      created++;
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err; // exists: this event was read before
    }
  }
  return subscribers.length === 0 ? -1 : created;
}

export function createIntake(deps: {
  js: JetStreamClient;
  jsm: JetStreamManager;
  kv: KV;
  endpoints: Endpoints;
  metrics: WebhooksMetrics;
  logger: Logger;
  consumer: string;
  timeoutMs: number;
}): Intake {
  const { js, jsm, kv, endpoints, metrics } = deps;
  const log = deps.logger.child({ component: 'intake', consumer: deps.consumer });
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;
  let stopping = false;

  async function ensureConsumer(): Promise<void> {
    try {
      const info = await jsm.consumers.info(STREAMS.RECEIPTS, deps.consumer);
      // Display receipts only: the acceptance records (three tokens) are never events.
      if (info.config.filter_subject !== DISPLAY_RECEIPTS_FILTER) {
        await jsm.consumers.update(STREAMS.RECEIPTS, deps.consumer, { filter_subject: DISPLAY_RECEIPTS_FILTER });
        log.info({ filter: DISPLAY_RECEIPTS_FILTER }, 'receipts consumer filter updated');
      }
    } catch (err) {
      if (!isJetStreamApiError(err, JS_API_CODES.ConsumerNotFound)) throw err;
      await jsm.consumers.add(STREAMS.RECEIPTS, {
        durable_name: deps.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        filter_subject: DISPLAY_RECEIPTS_FILTER,
        ack_wait: nanos(INTAKE_ACK_WAIT_MS),
        // Never give up on a receipt: a failure that outlasts every retry is an outage to fix.
        max_deliver: -1,
        max_ack_pending: INTAKE_MAX_ACK_PENDING,
        description: 'webhooks dispatcher: order.* events from receipts',
      });
      log.info('receipts consumer created');
    }
  }

  async function handle(m: JsMsg): Promise<void> {
    if (stopping) {
      m.nak();
      return;
    }
    let value: unknown;
    try {
      value = m.json();
    } catch {
      metrics.receipts.inc({ result: 'malformed' });
      m.ack();
      return;
    }
    const e = eventOfReceipt(value);
    if (e === undefined) {
      metrics.receipts.inc({ result: 'not_an_event' });
      m.ack();
      return;
    }
    try {
      const created = await createDeliveries(kv, endpoints, metrics, e, Date.now());
      metrics.receipts.inc({ result: created < 0 ? 'no_endpoint' : 'event' });
      if (created > 0) log.debug({ tenant: e.tenant, messageId: e.id, type: e.event.type, created }, 'deliveries created');
      const confirmed = await m.ackAck({ timeout: deps.timeoutMs });
      if (!confirmed) log.warn({ seq: m.seq }, 'receipt ack not confirmed; it will be read again and find its deliveries');
    } catch (err) {
      metrics.receipts.inc({ result: 'retried' });
      const delay = Math.min(INTAKE_RETRY_MAX_MS, INTAKE_RETRY_BASE_MS * 2 ** Math.max(0, m.info.deliveryCount - 1));
      log.error({ err, seq: m.seq, retryInMs: delay }, 'deliveries not written; receipt will be read again');
      m.nak(delay);
    }
  }

  return {
    async start() {
      await ensureConsumer();
      const consumer = await js.consumers.get(STREAMS.RECEIPTS, deps.consumer);
      const msgs = await consumer.consume({ max_messages: INTAKE_BATCH, expires: CONSUME_EXPIRES_MS });
      messages = msgs;
      stopping = false;
      loop = (async () => {
        for await (const m of msgs) await handle(m);
      })().catch((err: unknown) => log.error({ err }, 'intake loop ended with an error'));
    },
    async stop() {
      stopping = true;
      messages?.stop();
      await loop;
      messages = undefined;
    },
    running: () => messages !== undefined && !stopping,
  };
}
