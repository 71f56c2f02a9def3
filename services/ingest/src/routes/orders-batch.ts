/**
 * `POST /v1/orders/batch`: each order is validated on its own (a bad one does not block the
 * others) and the good ones are published pipelined — every publish started, then all PubAcks
 * awaited together. 200 with per-item results whenever something could be attempted; 503 when
 * the broker refused all of it (nothing accepted), so the client retries the batch as a whole.
 */
import { isValidOrderId, type Order } from '@orderwire/contracts';
import { errorBody, OrderwireError } from '@orderwire/platform';
import type { FastifyInstance } from 'fastify';
import { INGEST_ERRORS } from '../errors.js';
import type { IntakeRequest } from '../intake.js';
import { BatchResponseSchema, ErrorSchema, OrderBatchRequestSchema, OrderWriteHeadersSchema, type BatchItemResultBody, type BatchResponseBody } from '../schemas.js';
import { orderCost } from '../order-quota.js';
import { traceFromRequest } from '../trace.js';
import { checkBatchShape, checkOrder } from '../validation.js';
import { caller, jsonSerializer, routeErrorHandler, security, tenantRateLimit, validatorFor, type RouteDeps } from './common.js';

const ROUTE = '/v1/orders/batch';

function failure(index: number, raw: unknown, err: unknown): BatchItemResultBody {
  const e = err instanceof OrderwireError ? err : INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_UNAVAILABLE', { reason: 'publish_error' });
  const orderId = (raw as { orderId?: unknown } | null)?.orderId;
  const item: BatchItemResultBody = {
    index,
    ok: false,
    status: e.statusCode,
    outcome: e.statusCode >= 500 ? 'failed' : 'rejected',
    error: errorBody(e).error,
  };
  if (isValidOrderId(orderId)) item.orderId = orderId;
  return item;
}

export function registerOrderBatchRoute(app: FastifyInstance, deps: RouteDeps): void {
  const { intake } = deps;
  app.post(
    ROUTE,
    {
      onRequest: [deps.gate, deps.auth.write],
      config: { rateLimit: tenantRateLimit(deps, 'write', ROUTE) },
      bodyLimit: deps.batchBodyLimit,
      validatorCompiler: validatorFor('body', checkBatchShape),
      serializerCompiler: jsonSerializer,
      // Items are counted one by one below; a batch-level refusal is not an order outcome.
      errorHandler: routeErrorHandler(intake, deps.batchBodyLimit, false),
      schema: {
        summary: 'Submit up to ORDER_BATCH_MAX orders',
        description:
          'Each order is validated and published independently (pipelined); the answer lists one result per ' +
          'order, in request order. Each order is keyed by its orderId (Idempotency-Key is not accepted here).',
        tags: ['orders'],
        security: security('orders:write'),
        headers: OrderWriteHeadersSchema,
        body: OrderBatchRequestSchema,
        response: {
          200: BatchResponseSchema,
          400: ErrorSchema,
          401: ErrorSchema,
          403: ErrorSchema,
          413: ErrorSchema,
          429: ErrorSchema,
          503: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const { orders } = request.body as { orders: unknown[] };
      deps.metrics.batchSize.observe(orders.length);
      if (request.headers['idempotency-key'] !== undefined) {
        throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY', {
          reason: 'not accepted on batch requests; each order is keyed by its orderId',
        });
      }
      const trace = traceFromRequest(request.headers.traceparent);
      const { principal, log } = caller(request, { traceId: trace.traceId, batch: orders.length });

      const results: BatchItemResultBody[] = new Array<BatchItemResultBody>(orders.length);
      const firstIndex = new Map<string, number>();
      const toPublish: { index: number; req: IntakeRequest }[] = [];
      orders.forEach((raw, index) => {
        const checked = checkOrder(raw);
        if (!checked.ok) {
          intake.countError(checked.error);
          results[index] = failure(index, raw, checked.error);
          return;
        }
        const order: Order = checked.value;
        const first = firstIndex.get(order.orderId);
        if (first !== undefined) {
          const err = INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_DUPLICATE_IN_BATCH', { orderId: order.orderId, first });
          intake.countError(err);
          results[index] = failure(index, raw, err);
          return;
        }
        firstIndex.set(order.orderId, index);
        const req: IntakeRequest = {
          tenant: principal.tenant,
          order,
          key: order.orderId,
          trace,
          log: log.with({ orderId: order.orderId, index }),
        };
        try {
          intake.checkSize(req);
        } catch (err) {
          intake.countError(err);
          results[index] = failure(index, raw, err);
          return;
        }
        toPublish.push({ index, req });
      });

      if (toPublish.length > 0) {
        // The whole batch fits in the tenant's quota or nothing of it is published: a batch retried
        // after the 429 then behaves like the first attempt.
        await deps.quota.take(principal.tenant, toPublish.reduce((n, p) => n + orderCost(p.req.order), 0), reply);
        try {
          deps.publisher.assertAvailable();
        } catch (err) {
          // Known down before anything was sent: nothing is published; the whole batch is retried.
          for (let i = 0; i < toPublish.length; i++) intake.countError(err);
          throw err;
        }
      }
      const settled = await Promise.allSettled(toPublish.map((p) => intake.accept(p.req)));
      let firstFailure: OrderwireError | undefined;
      settled.forEach((s, i) => {
        const { index, req } = toPublish[i]!;
        if (s.status === 'fulfilled') {
          results[index] = { index, ok: true, status: 202, outcome: s.value.duplicate ? 'duplicate' : 'accepted', ...s.value };
          return;
        }
        intake.countError(s.reason);
        results[index] = failure(index, req.order, s.reason);
        if (s.reason instanceof OrderwireError && s.reason.statusCode === 503) firstFailure ??= s.reason;
        else if (!(s.reason instanceof OrderwireError)) req.log.error({ err: s.reason }, 'batch item failed');
      });

      const accepted = results.filter((r) => r.ok).length;
      const body: BatchResponseBody = { results, accepted, rejected: results.length - accepted };
      if (accepted === 0 && firstFailure !== undefined) {
        throw INGEST_ERRORS.create(
          'ORDERWIRE_ERR_INGEST_UNAVAILABLE',
          { reason: (firstFailure.details as { reason: string }).reason },
          { details: { ...(firstFailure.details as object), results }, cause: firstFailure },
        );
      }
      log.info({ accepted, rejected: body.rejected }, 'order batch processed');
      return reply.code(200).send(body);
    },
  );
}
