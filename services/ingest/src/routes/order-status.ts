/** `GET /v1/orders/:orderId`: the accepted order and its latest status per target display, from RECEIPTS. */
import { RECEIPT_STATUSES } from '@orderwire/contracts';
import type { FastifyInstance } from 'fastify';
import { INGEST_ERRORS } from '../errors.js';
import { displayStatuses } from '../receipt-store.js';
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
          'Answers 200 for every accepted order, with the number of displays it targets (0 is a valid answer) and one ' +
          'entry per target display: pending (accepted, not yet acknowledged by the display), delivered (when, via which ' +
          'edge), dead_lettered (why), replayed or expired (aged out of the stream before the display acknowledged it). ' +
          '404 only for an order never accepted (or older than RECEIPTS keeps). Tenant-scoped: another tenant\'s ' +
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
      const receipts = await deps.receipts.orderReceipts(principal.tenant, orderId, log);
      if (receipts.accepted === undefined && receipts.displays.length === 0) {
        throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_ORDER_NOT_FOUND', { orderId }, { details: { orderId } });
      }
      const displays = displayStatuses(receipts);
      const summary: Record<string, number> = Object.fromEntries(RECEIPT_STATUSES.map((s) => [s, 0]));
      for (const d of displays) summary[d.status] = (summary[d.status] ?? 0) + 1;
      const body: OrderStatusBody = { orderId, status: 'accepted', targetCount: displays.length, summary, displays };
      // Orders accepted before acceptance records existed have only display receipts.
      if (receipts.accepted !== undefined) body.acceptedAt = receipts.accepted.at;
      return body;
    },
  );
}
