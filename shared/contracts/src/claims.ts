/**
 * Claims of the access tokens the auth service issues and every other service verifies.
 * Short claim names keep tokens small on the wire; the meaning is documented here once.
 */

export const SCOPES = ['orders:write', 'orders:read', 'dlq:read', 'dlq:replay', 'displays:manage', 'webhooks:manage'] as const;
export type Scope = (typeof SCOPES)[number];

/** Audience of display tokens (edge nodes). */
export const DISPLAY_AUDIENCE = 'edge';
/** Audience of client-credential tokens (ingest, dlq, auth management API). */
export const API_AUDIENCE = 'orderwire-api';

export interface DisplayTokenClaims {
  typ: 'display';
  iss: string;
  aud: typeof DISPLAY_AUDIENCE;
  /** displayId */
  sub: string;
  /** tenant id */
  tid: string;
  /** store id */
  sid: string;
  /** stations the display shows */
  stn: string[];
  /** refresh-token family: revoking it invalidates every access token minted from it */
  fam: string;
  jti: string;
  iat: number;
  nbf?: number;
  exp: number;
}

export interface ClientTokenClaims {
  typ: 'client';
  iss: string;
  aud: typeof API_AUDIENCE;
  /** clientId */
  sub: string;
  /** tenant id */
  tid: string;
  /** space-separated scopes (RFC 8693 `scope`) */
  scope: string;
  jti: string;
  iat: number;
  nbf?: number;
  exp: number;
}

export type AccessTokenClaims = DisplayTokenClaims | ClientTokenClaims;

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}
