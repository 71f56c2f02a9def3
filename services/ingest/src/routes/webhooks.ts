/**
 * Webhook endpoint management (`webhooks:manage`), docs/webhooks.md:
 *   POST   /v1/webhooks                                      → 201 { id, secret, … } (the secret, once)
 *   GET    /v1/webhooks                                      → { endpoints }
 *   GET    /v1/webhooks/:id                                  → endpoint
 *   PATCH  /v1/webhooks/:id                                  { url?, events?, enabled?, description? }
 *   DELETE /v1/webhooks/:id                                  → 204
 *   POST   /v1/webhooks/:id/rotate-secret                    → { id, secret, previousSecretExpiresAt }
 *   GET    /v1/webhooks/:id/deliveries?state=&limit=         → { deliveries }
 *   POST   /v1/webhooks/:id/deliveries/:deliveryId/retry     → 202 delivery
 * Every route works on the caller's tenant only: another tenant's endpoint is "not found".
 */
import {
  WEBHOOK_EVENT_TYPES,
  isWebhookEndpointId,
  isWebhookEventType,
  isWebhookMessageId,
  type WebhookDeliveryRecord,
  type WebhookDeliveryState,
  type WebhookEndpointRecord,
  type WebhookEventType,
} from '@orderwire/contracts';
import { checkWebhookUrl, type AddressPolicy, type OrderwireError } from '@orderwire/platform';
import type { BearerAuthHook } from '@orderwire/token-verifier';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { INGEST_ERRORS } from '../errors.js';
import type { Checked } from '../validation.js';
import type { WebhookStore } from '../webhook-store.js';
import { caller, jsonSerializer, routeErrorHandler, tenantRateLimit, validatorFor, type RouteDeps } from './common.js';
import { ErrorSchema } from '../schemas.js';

/** 256 characters of free text. */
export const WEBHOOK_DESCRIPTION_MAX = 256;
/** Deliveries listed per request unless `limit` says otherwise. */
export const DELIVERIES_DEFAULT_LIMIT = 50;
/** Most deliveries one list request answers. */
export const DELIVERIES_MAX_LIMIT = 200;

export interface WebhookRouteDeps {
  store: WebhookStore;
  auth: BearerAuthHook;
  policy: AddressPolicy;
  allowHttp: boolean;
  maxEndpoints: number;
  secretGraceMs: number;
}

const invalid = (summary: string, field: string): OrderwireError =>
  INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_WEBHOOK_INVALID', { summary }, { details: { field } });

function checkUrl(value: unknown, deps: WebhookRouteDeps): Checked<string> {
  if (typeof value !== 'string') return { ok: false, error: invalid('url must be a string', 'url') };
  const verdict = checkWebhookUrl(value, { allowHttp: deps.allowHttp, policy: deps.policy });
  if (!verdict.ok) {
    return { ok: false, error: INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_WEBHOOK_URL_REFUSED', { reason: verdict.reason }, { details: { field: 'url' } }) };
  }
  return { ok: true, value: verdict.url.toString() };
}

function checkEvents(value: unknown): Checked<WebhookEventType[]> {
  if (!Array.isArray(value) || value.length === 0) return { ok: false, error: invalid('events must be a non-empty array', 'events') };
  const seen = new Set<WebhookEventType>();
  for (const [i, e] of value.entries()) {
    if (!isWebhookEventType(e)) return { ok: false, error: invalid(`events[${i}] must be one of ${WEBHOOK_EVENT_TYPES.join(', ')}`, `events[${i}]`) };
    seen.add(e);
  }
  return { ok: true, value: [...seen] };
}

function checkDescription(value: unknown): Checked<string | undefined> {
  if (value === undefined) return { ok: true, value: undefined };
  if (typeof value !== 'string' || value.length > WEBHOOK_DESCRIPTION_MAX) {
    return { ok: false, error: invalid(`description must be a string of at most ${WEBHOOK_DESCRIPTION_MAX} characters`, 'description') };
  }
  return { ok: true, value };
}

function checkObject(body: unknown, allowed: readonly string[]): Checked<Record<string, unknown>> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, error: invalid('body must be a JSON object', 'body') };
  const extra = Object.keys(body).find((k) => !allowed.includes(k));
  if (extra !== undefined) return { ok: false, error: invalid(`unknown property ${JSON.stringify(extra)}`, extra) };
  return { ok: true, value: body as Record<string, unknown> };
}

interface CreateBody {
  url: string;
  events: WebhookEventType[];
  description?: string;
}
interface PatchBody {
  url?: string;
  events?: WebhookEventType[];
  description?: string;
  enabled?: boolean;
}

function checkCreate(deps: WebhookRouteDeps) {
  return (body: unknown): Checked<CreateBody> => {
    const obj = checkObject(body, ['url', 'events', 'description']);
    if (!obj.ok) return obj;
    const url = checkUrl(obj.value.url, deps);
    if (!url.ok) return url;
    const events = checkEvents(obj.value.events);
    if (!events.ok) return events;
    const description = checkDescription(obj.value.description);
    if (!description.ok) return description;
    return { ok: true, value: { url: url.value, events: events.value, ...(description.value === undefined ? {} : { description: description.value }) } };
  };
}

function checkPatch(deps: WebhookRouteDeps) {
  return (body: unknown): Checked<PatchBody> => {
    const obj = checkObject(body, ['url', 'events', 'description', 'enabled']);
    if (!obj.ok) return obj;
    if (Object.keys(obj.value).length === 0) return { ok: false, error: invalid('name at least one of url, events, description, enabled', 'body') };
    const out: PatchBody = {};
    if (obj.value.url !== undefined) {
      // A changed URL is checked exactly like a new one.
      const url = checkUrl(obj.value.url, deps);
      if (!url.ok) return url;
      out.url = url.value;
    }
    if (obj.value.events !== undefined) {
      const events = checkEvents(obj.value.events);
      if (!events.ok) return events;
      out.events = events.value;
    }
    if (obj.value.description !== undefined) {
      const description = checkDescription(obj.value.description);
      if (!description.ok) return description;
      out.description = description.value;
    }
    if (obj.value.enabled !== undefined) {
      if (typeof obj.value.enabled !== 'boolean') return { ok: false, error: invalid('enabled must be a boolean', 'enabled') };
      out.enabled = obj.value.enabled;
    }
    return { ok: true, value: out };
  };
}

/** The endpoint as the API shows it: never a secret. */
export function endpointView(r: WebhookEndpointRecord): Record<string, unknown> {
  const previous = r.secrets.slice(1).map((s) => s.expiresAt).filter((e): e is string => e !== undefined);
  return {
    id: r.id,
    url: r.url,
    events: r.events,
    ...(r.description === undefined ? {} : { description: r.description }),
    enabled: r.enabled,
    ...(r.disabledReason === undefined ? {} : { disabledReason: r.disabledReason, disabledAt: r.disabledAt }),
    ...(r.failingSince === undefined ? {} : { failingSince: r.failingSince }),
    ...(previous.length === 0 ? {} : { previousSecretExpiresAt: previous.sort().at(-1) }),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

export function deliveryView(d: WebhookDeliveryRecord): Record<string, unknown> {
  let payload: unknown;
  try {
    payload = JSON.parse(d.body);
  } catch {
    payload = d.body;
  }
  return {
    id: d.id,
    type: d.type,
    state: d.state,
    createdAt: d.createdAt,
    attempts: d.attempts,
    ...(d.state === 'pending' ? { nextAttemptAt: new Date(d.nextAttemptAt).toISOString() } : {}),
    ...(d.failedReason === undefined ? {} : { failedReason: d.failedReason }),
    payload,
  };
}

/** A malformed id cannot exist: it is "not found", like another tenant's. */
function endpointId(request: FastifyRequest): string {
  const id = (request.params as { id?: unknown }).id;
  if (!isWebhookEndpointId(id)) throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_WEBHOOK_NOT_FOUND', { endpointId: String(id) }, { details: { endpointId: String(id) } });
  return id;
}

const STATES: readonly WebhookDeliveryState[] = ['pending', 'succeeded', 'failed'];

const EndpointSchema = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    events: Type.Array(Type.Union(WEBHOOK_EVENT_TYPES.map((e) => Type.Literal(e)))),
    description: Type.Optional(Type.String()),
    enabled: Type.Boolean(),
    disabledReason: Type.Optional(Type.Union([Type.Literal('gone'), Type.Literal('failing'), Type.Literal('manual')])),
    disabledAt: Type.Optional(Type.String()),
    failingSince: Type.Optional(Type.String()),
    previousSecretExpiresAt: Type.Optional(Type.String({ description: 'Until when the previous secret still signs (after a rotation)' })),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { additionalProperties: true },
);
const CreateRequestSchema = Type.Object({
  url: Type.String({ description: 'https URL (http only where the deployment allows it); private addresses are refused' }),
  events: Type.Array(Type.Union(WEBHOOK_EVENT_TYPES.map((e) => Type.Literal(e))), { minItems: 1 }),
  description: Type.Optional(Type.String({ maxLength: WEBHOOK_DESCRIPTION_MAX })),
});
const PatchRequestSchema = Type.Partial(Type.Object({ ...CreateRequestSchema.properties, enabled: Type.Boolean() }));
const SecretSchema = Type.String({ description: 'whsec_<base64>: shown only in this answer; the HMAC key is the base64 part' });
const DeliverySchema = Type.Object({}, { additionalProperties: true });
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 429: ErrorSchema, 503: ErrorSchema };
const security = [{ bearerAuth: ['webhooks:manage'] }];
const IdParams = Type.Object({ id: Type.String() });

export function registerWebhookRoutes(app: FastifyInstance, deps: RouteDeps, hooks: WebhookRouteDeps): void {
  const common = (route: string, group: 'read' | 'write') => ({
    onRequest: [deps.gate, hooks.auth],
    config: { rateLimit: tenantRateLimit(deps, group, route) },
    serializerCompiler: jsonSerializer,
    errorHandler: routeErrorHandler(deps.intake, deps.bodyLimit, false),
  });
  const { store } = hooks;

  app.post(
    '/v1/webhooks',
    {
      ...common('/v1/webhooks', 'write'),
      validatorCompiler: validatorFor('body', checkCreate(hooks)),
      schema: {
        summary: 'Create a webhook endpoint',
        tags: ['webhooks'],
        security,
        body: CreateRequestSchema,
        response: { 201: Type.Intersect([EndpointSchema, Type.Object({ secret: SecretSchema })]), ...errors },
      },
    },
    async (request, reply) => {
      const { principal, log } = caller(request);
      const { record, secret } = await store.create(principal.tenant, request.body as CreateBody, hooks.maxEndpoints);
      log.info({ endpointId: record.id, events: record.events }, 'webhook endpoint created');
      return reply.code(201).send({ ...endpointView(record), secret });
    },
  );

  app.get(
    '/v1/webhooks',
    {
      ...common('/v1/webhooks', 'read'),
      schema: { summary: "The tenant's webhook endpoints", tags: ['webhooks'], security, response: { 200: Type.Object({ endpoints: Type.Array(EndpointSchema) }), ...errors } },
    },
    async (request) => {
      const { principal } = caller(request);
      return { endpoints: (await store.list(principal.tenant)).map(endpointView) };
    },
  );

  app.get(
    '/v1/webhooks/:id',
    {
      ...common('/v1/webhooks/:id', 'read'),
      schema: { summary: 'One webhook endpoint', tags: ['webhooks'], security, params: IdParams, response: { 200: EndpointSchema, ...errors } },
    },
    async (request) => endpointView(await store.get(caller(request).principal.tenant, endpointId(request))),
  );

  app.patch(
    '/v1/webhooks/:id',
    {
      ...common('/v1/webhooks/:id', 'write'),
      validatorCompiler: validatorFor('body', checkPatch(hooks)),
      schema: {
        summary: 'Change events, url (checked again), description, or enable/disable',
        tags: ['webhooks'],
        security,
        params: IdParams,
        body: PatchRequestSchema,
        response: { 200: EndpointSchema, ...errors },
      },
    },
    async (request) => {
      const { principal, log } = caller(request);
      const id = endpointId(request);
      const record = await store.update(principal.tenant, id, request.body as PatchBody);
      log.info({ endpointId: id, enabled: record.enabled }, 'webhook endpoint updated');
      return endpointView(record);
    },
  );

  app.delete(
    '/v1/webhooks/:id',
    {
      ...common('/v1/webhooks/:id', 'write'),
      schema: { summary: 'Delete a webhook endpoint', tags: ['webhooks'], security, params: IdParams, response: { 204: Type.Null(), ...errors } },
    },
    async (request, reply) => {
      const { principal, log } = caller(request);
      const id = endpointId(request);
      await store.remove(principal.tenant, id);
      log.info({ endpointId: id }, 'webhook endpoint deleted');
      return reply.code(204).send();
    },
  );

  app.post(
    '/v1/webhooks/:id/rotate-secret',
    {
      ...common('/v1/webhooks/:id/rotate-secret', 'write'),
      schema: {
        summary: 'New signing secret; the previous one keeps signing during the grace period',
        tags: ['webhooks'],
        security,
        params: IdParams,
        response: { 200: Type.Object({ id: Type.String(), secret: SecretSchema, previousSecretExpiresAt: Type.Optional(Type.String()) }), ...errors },
      },
    },
    async (request) => {
      const { principal, log } = caller(request);
      const id = endpointId(request);
      const { record, secret } = await store.rotate(principal.tenant, id, hooks.secretGraceMs);
      log.info({ endpointId: id }, 'webhook secret rotated');
      const view = endpointView(record);
      return { id, secret, ...(view.previousSecretExpiresAt === undefined ? {} : { previousSecretExpiresAt: view.previousSecretExpiresAt }) };
    },
  );

  app.get(
    '/v1/webhooks/:id/deliveries',
    {
      ...common('/v1/webhooks/:id/deliveries', 'read'),
      schema: {
        summary: 'Recent deliveries of an endpoint: attempts, status codes, next retry',
        tags: ['webhooks'],
        security,
        params: IdParams,
        querystring: Type.Object({
          state: Type.Optional(Type.Union(STATES.map((s) => Type.Literal(s)))),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: DELIVERIES_MAX_LIMIT, default: DELIVERIES_DEFAULT_LIMIT })),
        }),
        response: { 200: Type.Object({ deliveries: Type.Array(DeliverySchema), scanned: Type.Integer() }), ...errors },
      },
      // The query is checked here with ingest's codes (the route's validator only runs on bodies).
      validatorCompiler: () => () => ({}),
    },
    async (request) => {
      const { principal } = caller(request);
      const id = endpointId(request);
      const q = request.query as { state?: unknown; limit?: unknown };
      let state: WebhookDeliveryState | undefined;
      if (q.state !== undefined) {
        if (!STATES.includes(q.state as WebhookDeliveryState)) throw invalid(`state must be one of ${STATES.join(', ')}`, 'state');
        state = q.state as WebhookDeliveryState;
      }
      let limit = DELIVERIES_DEFAULT_LIMIT;
      if (q.limit !== undefined) {
        limit = Number(q.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > DELIVERIES_MAX_LIMIT) throw invalid(`limit must be an integer from 1 to ${DELIVERIES_MAX_LIMIT}`, 'limit');
      }
      const { deliveries, scanned } = await store.deliveries(principal.tenant, id, { limit, ...(state === undefined ? {} : { state }) });
      return { deliveries: deliveries.map(deliveryView), scanned };
    },
  );

  app.post(
    '/v1/webhooks/:id/deliveries/:deliveryId/retry',
    {
      ...common('/v1/webhooks/:id/deliveries/:deliveryId/retry', 'write'),
      schema: {
        summary: 'Send a delivery again now (same webhook-id)',
        tags: ['webhooks'],
        security,
        params: Type.Object({ id: Type.String(), deliveryId: Type.String() }),
        response: { 202: DeliverySchema, ...errors },
      },
    },
    async (request, reply) => {
      const { principal, log } = caller(request);
      const id = endpointId(request);
      const deliveryId = (request.params as { deliveryId?: unknown }).deliveryId;
      if (!isWebhookMessageId(deliveryId)) {
        throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_WEBHOOK_DELIVERY_NOT_FOUND', { deliveryId: String(deliveryId), endpointId: id }, { details: { deliveryId: String(deliveryId), endpointId: id } });
      }
      const record = await store.retry(principal.tenant, id, deliveryId);
      log.info({ endpointId: id, deliveryId }, 'webhook delivery retry requested');
      return reply.code(202).send(deliveryView(record));
    },
  );
}
