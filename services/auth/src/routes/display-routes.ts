/** Display registry and enrollment: `/v1/displays…`. */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ID_PATTERN, type DisplayRecord } from '@orderwire/contracts';
import type { AuthContext } from '../context.js';
import { decommissionDisplay, enrollDisplay, getDisplay, registerDisplay, type RegisterDisplayInput } from '../display-lifecycle.js';
import type { PresenceReader } from '../presence.js';
import { ipKey, type RateLimiter } from '../rate-limit.js';
import { authenticateCaller, requestInfo } from './caller.js';

/** 20 stations per display at most. */
export const MAX_STATIONS = 20;
/** 200 characters of free-text label. */
export const MAX_LABEL_LENGTH = 200;
/** Enrollment codes are 32 base32 characters plus separators; allow some slack for spacing. */
const MAX_CODE_LENGTH = 64;

const id = { type: 'string', pattern: ID_PATTERN } as const;

const registerSchema = {
  body: {
    type: 'object',
    required: ['displayId', 'storeId', 'stations'],
    additionalProperties: false,
    properties: {
      displayId: id,
      storeId: id,
      stations: { type: 'array', minItems: 1, maxItems: MAX_STATIONS, items: id },
      label: { type: 'string', maxLength: MAX_LABEL_LENGTH },
    },
  },
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: { reissue: { type: 'boolean', default: false } },
  },
} as const;

const displayParams = {
  params: { type: 'object', required: ['displayId'], properties: { displayId: id } },
} as const;

const listSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      storeId: id,
      online: { type: 'boolean' },
      status: { type: 'string', enum: ['registered', 'enrolled', 'decommissioned'] },
    },
  },
} as const;

const enrollSchema = {
  body: {
    type: 'object',
    required: ['enrollmentCode'],
    additionalProperties: false,
    properties: { enrollmentCode: { type: 'string', minLength: 1, maxLength: MAX_CODE_LENGTH } },
  },
} as const;

function noStore(reply: FastifyReply): void {
  void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

export function displayRoutes(app: FastifyInstance, ctx: AuthContext, limiter: RateLimiter, presence: PresenceReader): void {
  // Every management route, counted per address BEFORE authentication: an anonymous flood is
  // refused with 429 after the limit instead of costing a token check and an audit count each.
  const managePerIp = limiter.check({
    name: 'displays_manage',
    max: ctx.config.rateLimit.displaysPerIp,
    windowMs: ctx.config.rateLimit.windowMs,
    key: ipKey,
  });
  app.post<{ Body: RegisterDisplayInput; Querystring: { reissue: boolean } }>(
    '/v1/displays',
    { schema: registerSchema, onRequest: managePerIp },
    async (req, reply) => {
      const caller = await authenticateCaller(ctx, req, 'displays:manage');
      const result = await registerDisplay(ctx, caller, req.body, req.query.reissue, requestInfo(req));
      noStore(reply);
      return reply.code(201).send(result);
    },
  );

  app.get<{ Querystring: { storeId?: string; online?: boolean; status?: DisplayRecord['status'] } }>(
    '/v1/displays',
    { schema: listSchema, onRequest: managePerIp },
    async (req) => {
      const caller = await authenticateCaller(ctx, req, 'displays:manage');
      const { storeId, online, status } = req.query;
      const records = (await ctx.displays.list(caller.tenant)).filter(
        (r) => (storeId === undefined || r.storeId === storeId) && (status === undefined || r.status === status),
      );
      const result = await presence.read(caller.tenant, records);
      const displays = online === undefined ? result.displays : result.displays.filter((d) => d.online === online);
      return { displays, presence: result.available ? 'ok' : 'unavailable' };
    },
  );

  app.get<{ Params: { displayId: string } }>('/v1/displays/:displayId', { schema: displayParams, onRequest: managePerIp }, async (req) => {
    const caller = await authenticateCaller(ctx, req, 'displays:manage');
    return getDisplay(ctx, caller.tenant, req.params.displayId);
  });

  app.delete<{ Params: { displayId: string } }>('/v1/displays/:displayId', { schema: displayParams, onRequest: managePerIp }, async (req) => {
    const caller = await authenticateCaller(ctx, req, 'displays:manage');
    return decommissionDisplay(ctx, caller, req.params.displayId, requestInfo(req));
  });

  app.post<{ Body: { enrollmentCode: string } }>(
    '/v1/displays/enroll',
    {
      schema: enrollSchema,
      onRequest: limiter.check({
        name: 'displays_enroll',
        max: ctx.config.rateLimit.enrollPerIp,
        windowMs: ctx.config.rateLimit.windowMs,
        key: ipKey,
      }),
    },
    async (req, reply) => {
      const tokens = await enrollDisplay(ctx, req.body.enrollmentCode, requestInfo(req));
      noStore(reply);
      return tokens;
    },
  );
}
