/**
 * OAuth 2.0 client credentials grant (RFC 6749 §4.4) — request parsing, client
 * authentication (§2.3.1: HTTP Basic or body parameters, never both) and scope selection.
 * Errors are RFC 6749 §5.2 errors, not Orderwire catalogue errors: OAuth clients expect them.
 */
import { isScope, type Scope } from '@orderwire/contracts';
import { verifySecret, type SecretHash } from './crypto/secrets.js';
import type { ClientRecord, ClientStore } from './stores/clients.js';
import type { TenantStore } from './stores/tenants.js';

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope';

/** An RFC 6749 §5.2 error response. */
export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly statusCode: number = error === 'invalid_client' ? 401 : 400,
  ) {
    super(`${error}: ${description}`);
    this.name = 'OAuthError';
  }

  body(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}

export const CLIENT_CREDENTIALS = 'client_credentials';

export interface TokenRequest {
  grantType: string;
  clientId: string;
  clientSecret: string;
  /** Requested scopes; undefined = everything the client may have. */
  scopes: string[] | undefined;
  authMethod: 'client_secret_basic' | 'client_secret_post';
}

/** Longest client id or secret we bother to look at (ours are far shorter). */
const MAX_CREDENTIAL_LENGTH = 256;

function single(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  // RFC 6749 §3.2: request parameters MUST NOT be included more than once.
  if (Array.isArray(v)) throw new OAuthError('invalid_request', `parameter ${name} was sent more than once`);
  if (typeof v !== 'string') throw new OAuthError('invalid_request', `parameter ${name} must be a string`);
  return v;
}

/** Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1). */
function formDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new OAuthError('invalid_client', 'malformed Basic credentials');
  }
}

export function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  if (header === undefined) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (m === null) throw new OAuthError('invalid_client', 'unsupported Authorization scheme; use Basic');
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new OAuthError('invalid_client', 'malformed Basic credentials');
  return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

export function parseTokenRequest(authorization: string | undefined, rawBody: unknown): TokenRequest {
  if (rawBody !== undefined && rawBody !== null && (typeof rawBody !== 'object' || Array.isArray(rawBody))) {
    throw new OAuthError('invalid_request', 'body must be application/x-www-form-urlencoded or a JSON object');
  }
  const body = (rawBody ?? {}) as Record<string, unknown>;
  const grantType = single(body, 'grant_type');
  const bodyId = single(body, 'client_id');
  const bodySecret = single(body, 'client_secret');
  const scope = single(body, 'scope');
  if (grantType === undefined || grantType === '') throw new OAuthError('invalid_request', 'grant_type is required');
  if (grantType !== CLIENT_CREDENTIALS) {
    throw new OAuthError('unsupported_grant_type', `grant_type ${JSON.stringify(grantType.slice(0, 64))} is not supported; use client_credentials`);
  }
  const basic = parseBasic(authorization);
  if (basic !== undefined && (bodyId !== undefined || bodySecret !== undefined)) {
    // RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
    throw new OAuthError('invalid_request', 'client credentials were sent both in the Authorization header and in the body');
  }
  const clientId = basic?.id ?? bodyId;
  const clientSecret = basic?.secret ?? bodySecret;
  if (clientId === undefined || clientId === '' || clientSecret === undefined || clientSecret === '') {
    throw new OAuthError('invalid_client', 'client authentication is required (HTTP Basic or client_id and client_secret)');
  }
  if (clientId.length > MAX_CREDENTIAL_LENGTH || clientSecret.length > MAX_CREDENTIAL_LENGTH) {
    throw new OAuthError('invalid_client', 'client authentication failed');
  }
  const scopes = scope === undefined || scope.trim() === '' ? undefined : [...new Set(scope.trim().split(/ +/))];
  return {
    grantType,
    clientId,
    clientSecret,
    scopes,
    authMethod: basic !== undefined ? 'client_secret_basic' : 'client_secret_post',
  };
}

export type ClientAuthFailure = 'unknown_client' | 'bad_secret' | 'client_revoked' | 'tenant_missing';

export type ClientAuthResult =
  | { ok: true; client: ClientRecord }
  | { ok: false; reason: ClientAuthFailure; /** set when the client exists */ tenant?: string };

/**
 * Verifies a client secret. An unknown client is hashed against `dummy`, so both failures take
 * one scrypt evaluation and look the same from outside (same error, same time).
 */
export async function authenticateClient(
  clients: ClientStore,
  tenants: TenantStore,
  dummy: SecretHash,
  clientId: string,
  clientSecret: string,
): Promise<ClientAuthResult> {
  const client = await clients.get(clientId);
  const matches = await verifySecret(clientSecret, client?.secret ?? dummy);
  if (client === undefined) return { ok: false, reason: 'unknown_client' };
  const tenant = client.tenant;
  if (!matches) return { ok: false, reason: 'bad_secret', tenant };
  if (client.status !== 'active') return { ok: false, reason: 'client_revoked', tenant };
  if ((await tenants.get(tenant)) === undefined) return { ok: false, reason: 'tenant_missing', tenant };
  return { ok: true, client };
}

/** Requested scopes must be a subset of the client's; none requested means all of them. */
export function grantScopes(client: ClientRecord, requested: readonly string[] | undefined): Scope[] {
  if (requested === undefined) return [...client.scopes];
  const unknown = requested.filter((s) => !isScope(s));
  if (unknown.length > 0) throw new OAuthError('invalid_scope', `unknown scope(s): ${unknown.join(' ').slice(0, 200)}`);
  const denied = requested.filter((s) => !client.scopes.includes(s as Scope));
  if (denied.length > 0) throw new OAuthError('invalid_scope', `scope(s) not allowed for this client: ${denied.join(' ')}`);
  return requested as Scope[];
}
