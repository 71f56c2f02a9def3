/** `POST /v1/orders`: one order, 202 only after JetStream's PubAck. */
import type { Order } from '@orderwire/contracts';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { idempotencyKey } from '../idempotency.js';
import { ErrorSchema, OrderAcceptedSchema, OrderRequestSchema, OrderWriteHeadersSchema, type OrderAcceptedBody } from '../schemas.js';
import { orderCost } from '../order-quota.js';
import { traceFromRequest } from '../trace.js';
import { checkOrder } from '../validation.js';
import { requirePrincipal } from '@orderwire/token-verifier';
import {
  caller,
  isBodyValidationError,
  jsonSerializer,
  routeErrorHandler,
  security,
  validatorFor,
  writeAdmission,
  type RouteDeps,
} from './common.js';

const ROUTE = '/v1/orders';

export function registerOrderRoute(app: FastifyInstance, deps: RouteDeps): void {
  // The tenant's write rate limit is counted here, not by the rate-limit plugin: together with the
  // order quota, in one round trip (common.ts writeAdmission). A request refused before the quota
  // is taken counts its hit alone, and over the limit gets the 429 it got when the plugin counted
  // it first (in preValidation, before the body was checked).
  const admission = writeAdmission(deps, ROUTE);
  const handleError = routeErrorHandler(deps.intake, deps.bodyLimit, true);
  const countRefused = async (request: FastifyRequest, reply: FastifyReply, err: unknown): Promise<never> => {
    await admission.count(requirePrincipal(request).tenant, reply);
    throw err;
  };
  app.post(
    ROUTE,
    {
      onRequest: [deps.gate, deps.auth.write],
      bodyLimit: deps.bodyLimit,
      validatorCompiler: validatorFor('body', checkOrder),
      serializerCompiler: jsonSerializer,
      // Fastify awaits an error handler's promise (lib/error-handler.js wrapThenable); its type says void.
      // eslint-disable-next-line @typescript-eslint/no-misused-promises
      errorHandler: async (err, request, reply) => {
        const refusal = isBodyValidationError(err) ? await countRefused(request, reply, err).catch((e: unknown) => e) : err;
        return handleError(refusal as FastifyError, request, reply);
      },
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
      let req;
      try {
        const key = idempotencyKey(request.headers['idempotency-key'], order.orderId);
        req = { tenant: principal.tenant, order, key, trace, log };
        deps.intake.checkSize(req);
      } catch (err) {
        return countRefused(request, reply, err);
      }
      await admission.admit(principal.tenant, orderCost(order), reply);
      const accepted: OrderAcceptedBody = await deps.intake.accept(req);
      log.info(
        { seq: accepted.seq, duplicate: accepted.duplicate, targets: accepted.targets?.length },
        accepted.duplicate ? 'order repeat answered from the first acceptance' : 'order accepted',
      );
      return reply.code(202).send(accepted);
    },
  );
}
