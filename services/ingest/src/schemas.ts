/**
 * HTTP schemas of the ingest API, built from the shared TypeBox contracts: the same objects
 * validate requests, document the API (OpenAPI via @fastify/swagger) and type the handlers.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ORDER_ID_PATTERN, RECEIPT_STATUSES, OrderSchema, OrderBatchSchema } from '@orderwire/contracts';
import { IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_KEY_PATTERN } from './idempotency.js';

/**
 * The request as a client sees it: fields with a default (`priority`, `metadata`) are optional
 * on the wire although the validated `Order` always has them. Only the documents use this copy;
 * validation runs the shared OrderSchema itself (`validateOrder`).
 */
function optionalDefaults(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map((s) => optionalDefaults(s));
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = optionalDefaults(v);
  const props = out.properties as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out.required) && props !== undefined) {
    out.required = (out.required as string[]).filter((k) => props[k]?.default === undefined);
  }
  return out;
}

export const OrderRequestSchema = optionalDefaults(OrderSchema) as typeof OrderSchema;
export const OrderBatchRequestSchema = optionalDefaults(OrderBatchSchema) as typeof OrderBatchSchema;

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code, ORDERWIRE_ERR_<AREA>_<WHAT>' }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { description: 'The error shape of every Orderwire HTTP API' },
);

export const OrderWriteHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      pattern: IDEMPOTENCY_KEY_PATTERN,
      maxLength: IDEMPOTENCY_KEY_MAX,
      description: 'Idempotency key (default: the orderId); visible ASCII, at most 128 characters',
    }),
  ),
  traceparent: Type.Optional(Type.String({ description: 'W3C trace context; continued when valid' })),
});

export const TargetAcceptedSchema = Type.Object({
  displayId: Type.String(),
  stream: Type.String({ description: 'Order stream (ORDERS_P<i>) that stored the publish to this display' }),
  seq: Type.Integer({ description: 'Sequence of the publish to this display in `stream`' }),
  duplicate: Type.Boolean(),
});

const acceptedFields = {
  orderId: Type.String(),
  duplicate: Type.Boolean({ description: 'True when the idempotency key was already used: nothing new was published' }),
  stream: Type.String({ description: "Order stream (ORDERS_P<i>, the store's partition) that stored the order (the first target's for targeted orders)" }),
  seq: Type.Integer({ description: 'Sequence in `stream` (of the first target for targeted orders); the same on every repeat' }),
  acceptedAt: Type.Integer({ description: 'Epoch ms when the order was first accepted' }),
  traceId: Type.String({ description: 'W3C trace id of the accepting request' }),
  targets: Type.Optional(Type.Array(TargetAcceptedSchema, { description: 'Targeted orders: one entry per display' })),
};

export const OrderAcceptedSchema = Type.Object(acceptedFields, {
  description: 'Accepted: the order is stored in JetStream (PubAck received), or was already (duplicate)',
});
export type OrderAcceptedBody = Static<typeof OrderAcceptedSchema>;

export const BATCH_OUTCOMES = ['accepted', 'duplicate', 'rejected', 'failed'] as const;

export const BatchItemResultSchema = Type.Object({
  index: Type.Integer({ description: 'Position of the order in the request' }),
  ok: Type.Boolean({ description: 'True for accepted and duplicate' }),
  status: Type.Integer({ description: 'The HTTP status this order would have had alone (202, 400, 409, 413, 503)' }),
  outcome: Type.Union(BATCH_OUTCOMES.map((o) => Type.Literal(o))),
  orderId: Type.Optional(Type.String()),
  duplicate: Type.Optional(acceptedFields.duplicate),
  stream: Type.Optional(acceptedFields.stream),
  seq: Type.Optional(acceptedFields.seq),
  acceptedAt: Type.Optional(acceptedFields.acceptedAt),
  traceId: Type.Optional(acceptedFields.traceId),
  targets: Type.Optional(acceptedFields.targets),
  error: Type.Optional(ErrorSchema.properties.error),
});
export type BatchItemResultBody = Static<typeof BatchItemResultSchema>;

export const BatchResponseSchema = Type.Object(
  {
    results: Type.Array(BatchItemResultSchema),
    accepted: Type.Integer({ description: 'Items accepted or duplicate' }),
    rejected: Type.Integer({ description: 'Items rejected or failed' }),
  },
  { description: 'One result per order, in request order' },

);
export type BatchResponseBody = Static<typeof BatchResponseSchema>;

export const OrderIdParamsSchema = Type.Object({
  orderId: Type.String({ pattern: ORDER_ID_PATTERN, description: 'The orderId as sent (URL-encoded)' }),
});

export const DisplayStatusSchema = Type.Object({
  displayId: Type.String(),
  status: Type.Union(
    RECEIPT_STATUSES.map((s) => Type.Literal(s)),
    {
      description:
        'pending (accepted, not yet acknowledged by the display), delivered (the display acked and JetStream confirmed it), ' +
        'dead_lettered (in the DLQ), replayed (a DLQ replay is on its way), expired (aged out of the stream before the display acked it)',
    },
  ),
  at: Type.Integer({ description: 'Epoch ms of the latest state change (pending: the acceptance)' }),
  stream: Type.Optional(Type.String({ description: 'Order stream (ORDERS_P<i>) of `seq`; absent on receipts written before partitioning' })),
  seq: Type.Integer({ description: 'Sequence in `stream` of the message this display receives' }),
  edge: Type.Optional(Type.String({ description: 'Edge instance that delivered it' })),
  deliveryCount: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String({ description: 'Why it was dead-lettered or expired' })),
});

export const OrderStatusSchema = Type.Object(
  {
    orderId: Type.String(),
    status: Type.Literal('accepted', { description: 'Always `accepted`: an order that was never accepted is a 404' }),
    acceptedAt: Type.Optional(Type.Integer({ description: 'Epoch ms of the (first) acceptance' })),
    targetCount: Type.Integer({
      minimum: 0,
      description: 'How many displays the order targets; 0 is a valid answer (e.g. a station with no display yet)',
    }),
    summary: Type.Record(Type.String(), Type.Integer(), { description: 'Number of displays per status (every status, zeros included)' }),
    displays: Type.Array(DisplayStatusSchema, { description: 'One entry per target display, sorted by displayId' }),
  },
  { description: 'An accepted order and its latest delivery status per target display' },
);
export type OrderStatusBody = Static<typeof OrderStatusSchema>;
