import { describe, expect, it } from 'vitest';
import { grantScopes, OAuthError, parseBasic, parseTokenRequest } from '../../src/client-credentials.js';
import type { ClientRecord } from '../../src/stores/clients.js';
import { parseRefreshToken } from '../../src/tokens/refresh-tokens.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function oauthError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof OAuthError) return err.error;
    throw err;
  }
  return 'none';
}

describe('token request parsing', () => {
  it('reads Basic credentials, form-decoding them (RFC 6749 §2.3.1)', () => {
    expect(parseBasic(`Basic ${b64('my%20id:p%3Ass+word')}`)).toEqual({ id: 'my id', secret: 'p:ss word' });
    expect(oauthError(() => parseBasic('Bearer abc'))).toBe('invalid_client');
    expect(oauthError(() => parseBasic(`Basic ${b64('nocolon')}`))).toBe('invalid_client');
  });

  it('splits and de-duplicates scopes; empty scope means all', () => {
    const r = parseTokenRequest(undefined, { grant_type: 'client_credentials', client_id: 'a', client_secret: 'b', scope: 'x  y x' });
    expect(r).toMatchObject({ scopes: ['x', 'y'], authMethod: 'client_secret_post' });
    expect(parseTokenRequest(undefined, { grant_type: 'client_credentials', client_id: 'a', client_secret: 'b', scope: '' }).scopes).toBeUndefined();
  });

  it('maps malformed requests to the RFC error codes', () => {
    expect(oauthError(() => parseTokenRequest(undefined, 'text'))).toBe('invalid_request');
    expect(oauthError(() => parseTokenRequest(undefined, { grant_type: ['client_credentials', 'x'] }))).toBe('invalid_request');
    expect(oauthError(() => parseTokenRequest(undefined, { grant_type: 'authorization_code' }))).toBe('unsupported_grant_type');
    expect(oauthError(() => parseTokenRequest(undefined, { grant_type: 'client_credentials', client_id: 'a' }))).toBe('invalid_client');
    expect(oauthError(() => parseTokenRequest(undefined, { grant_type: 'client_credentials', client_id: 'a', client_secret: 'x'.repeat(300) }))).toBe(
      'invalid_client',
    );
  });

  it('grants a subset of the client’s scopes', () => {
    const client = { scopes: ['orders:write', 'orders:read'] } as unknown as ClientRecord;
    expect(grantScopes(client, undefined)).toEqual(['orders:write', 'orders:read']);
    expect(grantScopes(client, ['orders:read'])).toEqual(['orders:read']);
    expect(oauthError(() => grantScopes(client, ['dlq:read']))).toBe('invalid_scope');
    expect(oauthError(() => grantScopes(client, ['root']))).toBe('invalid_scope');
  });
});

describe('refresh token format', () => {
  it('parses only well-formed <familyId>.<secret> tokens', () => {
    const fam = 'A'.repeat(22);
    const secret = 'b'.repeat(43);
    expect(parseRefreshToken(`${fam}.${secret}`)).toEqual({ familyId: fam, secret });
    expect(parseRefreshToken(`${fam}${secret}`)).toBeUndefined();
    expect(parseRefreshToken(`${fam}.${secret}.x`)).toBeUndefined();
    expect(parseRefreshToken(`a*b.${secret}`)).toBeUndefined();
  });
});
