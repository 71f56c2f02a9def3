/**
 * Fastify `preHandler` for the client-credential APIs (ingest, dlq, auth management).
 * Only types come from fastify, so the package needs no fastify at runtime (optional peer).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClientTokenClaims, ErrorBody, Scope } from '@orderwire/contracts';
import { TokenError } from './errors.js';
import { grantedScopes } from './claims.js';
import type { TokenVerifier } from './verifier.js';

/** Who called: set on `request.principal` by `bearerAuth`. The tenant always comes from here. */
export interface ClientPrincipal {
  tenant: string;
  clientId: string;
  scopes: readonly Scope[];
  /** `jti` of the token, for audit records. */
  tokenId: string;
  claims: ClientTokenClaims;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `bearerAuth`; undefined on routes without it. */
    principal?: ClientPrincipal;
  }
}

/** Seconds a client should wait before retrying when the JWKS is unavailable */
export const JWKS_RETRY_AFTER_SEC = 5;

export interface BearerAuthOptions {
  /** Every one of these must be granted. */
  scopes?: readonly Scope[];
  /** @default 'orderwire' */
  realm?: string;
  /** Called for every refused request (metrics, audit); must not throw. */
  onReject?: (err: TokenError, request: FastifyRequest) => void;
}

export type BearerAuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

const BEARER_RE = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or undefined. */
export function extractBearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return BEARER_RE.exec(header)?.[1];
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '')}"`;
}

/** RFC 6750 §3 challenge: no error code when no credentials were sent at all. */
function challenge(err: TokenError, realm: string, required: readonly Scope[]): string | undefined {
  if (err.status === 503 || err.status === 500) return undefined;
  const parts = [`realm=${quote(realm)}`];
  if (err.code === 'ORDERWIRE_ERR_TOKEN_INSUFFICIENT_SCOPE') {
    parts.push('error="insufficient_scope"', `scope=${quote(required.join(' '))}`);
  } else if (err.code !== 'ORDERWIRE_ERR_TOKEN_MISSING') {
    parts.push('error="invalid_token"', `error_description=${quote(err.message)}`);
  }
  return `Bearer ${parts.join(', ')}`;
}

export function bearerAuth(verifier: Pick<TokenVerifier, 'verifyClientToken'>, options: BearerAuthOptions = {}): BearerAuthHook {
  const scopes = [...(options.scopes ?? [])];
  const realm = options.realm ?? 'orderwire';

  return async function bearerAuthHook(request, reply) {
    const header = request.headers.authorization;
    try {
      const token = extractBearerToken(header);
      if (token === undefined) {
        throw new TokenError(
          header === undefined ? 'ORDERWIRE_ERR_TOKEN_MISSING' : 'ORDERWIRE_ERR_TOKEN_MALFORMED',
          header === undefined ? {} : { detail: 'Authorization header is not "Bearer <token>"' },
        );
      }
      const claims = await verifier.verifyClientToken(token, scopes);
      request.principal = {
        tenant: claims.tid,
        clientId: claims.sub,
        scopes: grantedScopes(claims.scope),
        tokenId: claims.jti,
        claims,
      };
      return undefined;
    } catch (err) {
      if (!(err instanceof TokenError)) throw err; // not the caller's fault: let the error handler answer 500
      options.onReject?.(err, request);
      request.log.info({ code: err.code, status: err.status }, 'bearer token refused');
      const headers: Record<string, string> = {};
      const wwwAuthenticate = challenge(err, realm, scopes);
      if (wwwAuthenticate !== undefined) headers['www-authenticate'] = wwwAuthenticate;
      if (err.status === 503) headers['retry-after'] = String(JWKS_RETRY_AFTER_SEC);
      const body: ErrorBody = { error: { code: err.code, message: err.message } };
      if (err.details !== undefined) body.error.details = err.details;
      // Returning the reply tells Fastify the hook answered: the route handler must not run.
      return reply.code(err.status).headers(headers).send(body);
    }
  };
}

/** The principal `bearerAuth` set; refuses (401) if the route was registered without the hook. */
export function requirePrincipal(request: FastifyRequest): ClientPrincipal {
  if (request.principal === undefined) throw new TokenError('ORDERWIRE_ERR_TOKEN_MISSING', { detail: 'route has no bearer authentication' });
  return request.principal;
}
