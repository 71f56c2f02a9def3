/** Display token lifecycle: `POST /v1/token/refresh`, `POST /v1/token/revoke`. */
import type { FastifyInstance } from 'fastify';
import type { AuthContext } from '../context.js';
import { ipKey, type RateLimiter } from '../rate-limit.js';
import { refreshDisplayToken, revokeRefreshToken } from '../refresh.js';
import { requestInfo } from './caller.js';

/** Refresh tokens are ~66 characters; anything much longer is not one of ours. */
const MAX_REFRESH_TOKEN_LENGTH = 256;

const tokenBody = {
  body: {
    type: 'object',
    required: ['refreshToken'],
    additionalProperties: false,
    properties: { refreshToken: { type: 'string', minLength: 1, maxLength: MAX_REFRESH_TOKEN_LENGTH } },
  },
} as const;

export function tokenRoutes(app: FastifyInstance, ctx: AuthContext, limiter: RateLimiter): void {
  const perIp = limiter.check({
    name: 'token_refresh',
    max: ctx.config.rateLimit.refreshPerIp,
    windowMs: ctx.config.rateLimit.windowMs,
    key: ipKey,
  });

  app.post<{ Body: { refreshToken: string } }>('/v1/token/refresh', { schema: tokenBody, onRequest: perIp }, async (req, reply) => {
    // Arrival time, not handler time: rate limiting may delay the handler, and the retry grace
    // asks whether the request was sent before or after a rotation.
    const receivedAt = Date.now() - reply.elapsedTime;
    const tokens = await refreshDisplayToken(ctx, req.body.refreshToken, { ...requestInfo(req), receivedAt });
    void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    return tokens;
  });

  // Same budget as refresh: revocation also proves possession of a token.
  app.post<{ Body: { refreshToken: string } }>('/v1/token/revoke', { schema: tokenBody, onRequest: perIp }, async (req) => {
    await revokeRefreshToken(ctx, req.body.refreshToken, requestInfo(req));
    return {};
  });
}
