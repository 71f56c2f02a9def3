/** `POST /v1/orders`: one order, 202 only after JetStream's PubAck. */
import type { Order } from '@orderwire/contracts';
import type { FastifyInstance } from 'fastify';
import { idempotencyKey } from '../idempotency.js';
import { ErrorSchema, OrderAcceptedSchema, OrderRequestSchema, OrderWriteHeadersSchema, type OrderAcceptedBody } from '../schemas.js';
import { orderCost } from '../order-quota.js';
import { traceFromRequest } from '../trace.js';
import { checkOrder } from '../validation.js';
import { caller, jsonSerializer, routeErrorHandler, security, tenantRateLimit, validatorFor, type RouteDeps } from './common.js';

const ROUTE = '/v1/orders';

export function registerOrderRoute(app: FastifyInstance, deps: RouteDeps): void {
  app.post(
    ROUTE,
    {
      onRequest: [deps.gate, deps.auth.write],
      config: { rateLimit: tenantRateLimit(deps, 'write', ROUTE) },
      bodyLimit: deps.bodyLimit,
      validatorCompiler: validatorFor('body', checkOrder),
      serializerCompiler: jsonSerializer,
      errorHandler: routeErrorHandler(deps.intake, deps.bodyLimit, true),
      schema: {
        summary: 'Submit one order',
        description:
          'Validates the order, publishes it to JetStream (one message for the station, or one per target display) ' +
          'and answers 202 only after the PubAck. A repeat with the same idempotency key inside the ORDERS duplicate ' +
          'window publishes nothing and answers the first acceptance with `duplicate: true`.',
        tags: ['orders'],
        security: security('orders:write'),
        headers: OrderWriteHeadersSchema,
        body: OrderRequestSchema,
        response: {
          202: OrderAcceptedSchema,
          400: ErrorSchema,
          401: ErrorSchema,
          403: ErrorSchema,
          409: ErrorSchema,
          413: ErrorSchema,
          429: ErrorSchema,
          503: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const order = request.body as Order;
      const trace = traceFromRequest(request.headers.traceparent);
      const { principal, log } = caller(request, { orderId: order.orderId, traceId: trace.traceId });
      const key = idempotencyKey(request.headers['idempotency-key'], order.orderId);
      const req = { tenant: principal.tenant, order, key, trace, log };
      deps.intake.checkSize(req);
      await deps.quota.take(principal.tenant, orderCost(order), reply);
      const accepted: OrderAcceptedBody = await deps.intake.accept(req);
      log.info(
        { seq: accepted.seq, duplicate: accepted.duplicate, targets: accepted.targets?.length },
        accepted.duplicate ? 'order repeat answered from the first acceptance' : 'order accepted',
      );
      return reply.code(202).send(accepted);
    },
  );
}
