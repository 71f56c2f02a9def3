/** `POST /v1/oauth/token` — OAuth 2.0 client credentials (RFC 6749 §4.4), RFC §5.2 errors. */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidId } from '@orderwire/contracts';
import { errorBody, isOrderwireError, PLATFORM_ERRORS } from '@orderwire/platform';
import {
  authenticateClient,
  grantScopes,
  OAuthError,
  parseBasic,
  parseTokenRequest,
} from '../client-credentials.js';
import type { AuthContext } from '../context.js';
import { recordFailure } from '../failures.js';
import { ipKey, type RateLimiter } from '../rate-limit.js';
import { requestInfo } from './caller.js';

/** RFC 6749 §5.1: token responses must not be cached. */
function noStore(reply: FastifyReply): void {
  void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

/** The client id a request claims, for the per-client limit (never trusted for anything else). */
function claimedClientId(req: FastifyRequest): string {
  let id: string | undefined;
  try {
    id = parseBasic(req.headers.authorization)?.id;
  } catch {
    id = undefined;
  }
  const body = req.body as Record<string, unknown> | undefined;
  if (id === undefined && body !== null && typeof body === 'object' && typeof body.client_id === 'string') id = body.client_id;
  return id === undefined ? '-' : isValidId(id) ? id : 'malformed';
}

function oauthErrorBody(reply: FastifyReply, err: OAuthError): object {
  noStore(reply);
  if (err.error === 'invalid_client') void reply.header('www-authenticate', 'Basic realm="orderwire", charset="UTF-8"');
  void reply.code(err.statusCode);
  return err.body();
}

/**
 * OAuth clients parse RFC 6749 error bodies, so this route maps its own errors; Orderwire
 * errors that are not about the OAuth request itself (429, 503) keep the Orderwire shape.
 */
function oauthErrorReply(err: FastifyError, req: FastifyRequest, reply: FastifyReply): object {
  if (err instanceof OAuthError) return oauthErrorBody(reply, err);
  if (isOrderwireError(err)) {
    if (err.statusCode >= 500) req.log.error({ err }, 'token request failed');
    void reply.code(err.statusCode);
    return errorBody(err);
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return oauthErrorBody(reply, new OAuthError('invalid_request', 'the request body could not be parsed'));
  }
  req.log.error({ err }, 'token request failed');
  void reply.code(500);
  return errorBody(PLATFORM_ERRORS.create('ORDERWIRE_ERR_INTERNAL'));
}

export function oauthRoutes(app: FastifyInstance, ctx: AuthContext, limiter: RateLimiter): void {
  const perIp = limiter.check({
    name: 'oauth_token_ip',
    max: ctx.config.rateLimit.tokenPerIp,
    windowMs: ctx.config.rateLimit.windowMs,
    key: ipKey,
  });
  const perClient = limiter.check({
    name: 'oauth_token_client',
    max: ctx.config.rateLimit.tokenPerClient,
    windowMs: ctx.config.rateLimit.windowMs,
    key: claimedClientId,
  });

  app.post('/v1/oauth/token', {
    onRequest: perIp,
    preHandler: perClient,
    // OAuth clients parse RFC 6749 error bodies, so this route maps its own errors; Orderwire
    // errors that are not about the OAuth request (429, 503) keep the Orderwire shape.
    errorHandler: (err: FastifyError, req, reply) => {
      void reply.send(oauthErrorReply(err, req, reply));
    },
    handler: async (req, reply) => {
      const info = requestInfo(req);
      let request;
      try {
        request = parseTokenRequest(req.headers.authorization, req.body);
      } catch (err) {
        if (err instanceof OAuthError) {
          await recordFailure(ctx, info, 'invalid_client_request', {
            actor: { type: 'anonymous' },
            details: { error: err.error },
          });
        }
        throw err;
      }
      const auth = await authenticateClient(ctx.clients, ctx.tenants, ctx.dummySecretHash, request.clientId, request.clientSecret);
      if (!auth.ok) {
        await recordFailure(ctx, info, auth.reason, {
          tenant: auth.tenant,
          actor: { type: 'anonymous' },
          clientId: isValidId(request.clientId) ? request.clientId : 'malformed',
        });
        // One error for every failure: the response must not reveal which client ids exist.
        throw new OAuthError('invalid_client', 'client authentication failed');
      }
      const client = auth.client;
      let scopes;
      try {
        scopes = grantScopes(client, request.scopes);
      } catch (err) {
        await recordFailure(ctx, info, 'invalid_scope', {
          tenant: client.tenant,
          clientId: client.clientId,
          actor: { type: 'client', id: client.clientId },
          scope: request.scopes?.join(' '),
        });
        throw err;
      }
      const issued = await ctx.tokens.issueClientToken({ tenant: client.tenant, clientId: client.clientId, scopes });
      // Stateless issuance: without its audit record, the token is not handed out.
      await ctx.audit.require('token_issued', {
        tenant: client.tenant,
        clientId: client.clientId,
        actor: { type: 'client', id: client.clientId },
        scope: issued.claims.scope,
        kid: ctx.keys.signer().kid,
        ip: info.ip,
        requestId: info.requestId,
        details: { jti: issued.claims.jti, authMethod: request.authMethod },
      });
      ctx.metrics.tokensIssued.inc({ kind: 'client' });
      noStore(reply);
      return {
        access_token: issued.token,
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        scope: issued.claims.scope,
      };
    },
  });
}
