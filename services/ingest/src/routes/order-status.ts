/** `GET /v1/orders/:orderId`: latest delivery status per target display, from RECEIPTS. */
import type { FastifyInstance } from 'fastify';
import { INGEST_ERRORS } from '../errors.js';
import { ErrorSchema, OrderIdParamsSchema, OrderStatusSchema, type OrderStatusBody } from '../schemas.js';
import { checkOrderIdParam } from '../validation.js';
import { caller, jsonSerializer, routeErrorHandler, security, tenantRateLimit, validatorFor, type RouteDeps } from './common.js';

const ROUTE = '/v1/orders/:orderId';

export function registerOrderStatusRoute(app: FastifyInstance, deps: RouteDeps): void {
  app.get(
    ROUTE,
    {
      onRequest: [deps.gate, deps.auth.read],
      config: { rateLimit: tenantRateLimit(deps, 'read', ROUTE) },
      validatorCompiler: validatorFor('params', checkOrderIdParam),
      serializerCompiler: jsonSerializer,
      errorHandler: routeErrorHandler(deps.intake, 0, false),
      schema: {
        summary: 'Delivery status of an order per target display',
        description:
          'One entry per display the order targets: pending (accepted, not yet acknowledged by the display), ' +
          'delivered (when, via which edge), dead_lettered (why) or replayed. Tenant-scoped: another tenant\'s ' +
          'order is indistinguishable from an unknown one (404).',
        tags: ['orders'],
        security: security('orders:read'),
        params: OrderIdParamsSchema,
        response: {
          200: OrderStatusSchema,
          400: ErrorSchema,
          401: ErrorSchema,
          403: ErrorSchema,
          404: ErrorSchema,
          429: ErrorSchema,
          503: ErrorSchema,
        },
      },
    },
    async (request) => {
      const { orderId } = request.params as { orderId: string };
      const { principal, log } = caller(request, { orderId });
      const displays = await deps.receipts.orderStatus(principal.tenant, orderId, log);
      if (displays.length === 0) {
        throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_ORDER_NOT_FOUND', { orderId }, { details: { orderId } });
      }
      const body: OrderStatusBody = { orderId, displays };
      return body;
    },
  );
}
