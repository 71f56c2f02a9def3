/**
 * Bearer authentication of the management API (operators' client-credential tokens), verified
 * against this service's own keyring. The client record is re-checked too, so revoking a
 * client cuts off its management access at once, not at token expiry.
 */
import type { FastifyRequest } from 'fastify';
import type { Scope } from '@orderwire/contracts';
import type { AuthContext, RequestInfo } from '../context.js';
import type { Caller } from '../display-lifecycle.js';
import { AUTH_ERRORS } from '../errors.js';
import { recordFailure } from '../failures.js';

export function requestInfo(req: FastifyRequest): RequestInfo {
  return { ip: req.ip, requestId: req.id };
}

export async function authenticateCaller(ctx: AuthContext, req: FastifyRequest, scope: Scope): Promise<Caller> {
  const info = requestInfo(req);
  const header = req.headers.authorization;
  const m = header === undefined ? null : /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(header);
  if (m === null) {
    await recordFailure(ctx, info, 'missing_access_token', { actor: { type: 'anonymous' } });
    throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_UNAUTHENTICATED');
  }
  let claims;
  try {
    claims = await ctx.tokens.verifyClientToken(m[1]!);
  } catch (err) {
    await recordFailure(ctx, info, 'invalid_access_token', { actor: { type: 'anonymous' } });
    throw err;
  }
  const client = await ctx.clients.get(claims.sub);
  if (client === undefined || client.status !== 'active' || client.tenant !== claims.tid) {
    await recordFailure(ctx, info, 'client_revoked', { tenant: claims.tid, clientId: claims.sub, actor: { type: 'client', id: claims.sub } });
    throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_INVALID_TOKEN', { reason: 'client is no longer active' });
  }
  if (!claims.scope.split(' ').includes(scope)) {
    await recordFailure(ctx, info, 'insufficient_scope', {
      tenant: claims.tid,
      clientId: claims.sub,
      scope: claims.scope,
      actor: { type: 'client', id: claims.sub },
    });
    throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_FORBIDDEN', { scope });
  }
  return { tenant: claims.tid, clientId: claims.sub };
}
