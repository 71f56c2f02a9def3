import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@orderwire/platform';
import { loadAuthConfig } from '../../src/config.js';

const KEK = randomBytes(32).toString('base64');

function problems(env: Record<string, string>): string[] {
  try {
    loadAuthConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.env);
    throw err;
  }
  return [];
}

describe('auth config', () => {
  it('has the documented defaults', () => {
    const c = loadAuthConfig({ AUTH_KEK: KEK });
    expect(c).toMatchObject({
      port: 3001,
      issuer: 'orderwire-auth',
      displayTokenTtlMs: 15 * 60_000,
      clientTokenTtlMs: 15 * 60_000,
      refreshTtlMs: 30 * 86_400_000,
      enrollmentTtlMs: 15 * 60_000,
      keyRotationIntervalMs: 24 * 3_600_000,
      jwksMaxAgeSeconds: 300,
      scryptLogN: 15,
    });
    expect(c.kek).toHaveLength(32);
    expect(c.kekPrevious).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('requires a 32-byte base64 KEK (standard or url alphabet) and never echoes it', () => {
    expect(problems({})).toContain('AUTH_KEK');
    expect(problems({ AUTH_KEK: randomBytes(16).toString('base64') })).toEqual(['AUTH_KEK']);
    expect(problems({ AUTH_KEK: KEK, AUTH_KEK_PREVIOUS: 'short' })).toEqual(['AUTH_KEK_PREVIOUS']);
    expect(loadAuthConfig({ AUTH_KEK: randomBytes(32).toString('base64url') }).kek).toHaveLength(32);
    const secret = randomBytes(20).toString('base64');
    try {
      loadAuthConfig({ AUTH_KEK: secret });
    } catch (err) {
      expect(String((err as Error).message)).not.toContain(secret);
    }
  });

  it('refuses a rotation interval shorter than a token TTL or the JWKS max-age', () => {
    expect(problems({ AUTH_KEK: KEK, AUTH_KEY_ROTATION_INTERVAL: '10m' })).toEqual(['AUTH_KEY_ROTATION_INTERVAL']);
    expect(problems({ AUTH_KEK: KEK, AUTH_KEY_ROTATION_INTERVAL: '20m', AUTH_CLIENT_TOKEN_TTL: '30m' })).toEqual([
      'AUTH_KEY_ROTATION_INTERVAL',
    ]);
    expect(
      problems({
        AUTH_KEK: KEK,
        AUTH_KEY_ROTATION_INTERVAL: '2m',
        AUTH_CLIENT_TOKEN_TTL: '1m',
        AUTH_DISPLAY_TOKEN_TTL: '1m',
        AUTH_JWKS_MAX_AGE: '300',
      }),
    ).toEqual(['AUTH_KEY_ROTATION_INTERVAL']);
    expect(problems({ AUTH_KEK: KEK, AUTH_DISPLAY_TOKEN_TTL: 'soon' })).toEqual(['AUTH_DISPLAY_TOKEN_TTL']);
  });
});

describe('AUTH_REFRESH_RETRY_GRACE', () => {
  it('defaults to 30s, accepts 0 (strict), and must not exceed the display access-token TTL', () => {
    expect(loadAuthConfig({ AUTH_KEK: KEK }).refreshRetryGraceMs).toBe(30_000);
    expect(loadAuthConfig({ AUTH_KEK: KEK, AUTH_REFRESH_RETRY_GRACE: '0' }).refreshRetryGraceMs).toBe(0);
    expect(loadAuthConfig({ AUTH_KEK: KEK, AUTH_REFRESH_RETRY_GRACE: '15m' }).refreshRetryGraceMs).toBe(15 * 60_000);
    expect(problems({ AUTH_KEK: KEK, AUTH_REFRESH_RETRY_GRACE: '16m' })).toEqual(['AUTH_REFRESH_RETRY_GRACE']);
    expect(problems({ AUTH_KEK: KEK, AUTH_REFRESH_RETRY_GRACE: '45s', AUTH_DISPLAY_TOKEN_TTL: '30s' })).toEqual([
      'AUTH_REFRESH_RETRY_GRACE',
    ]);
    expect(problems({ AUTH_KEK: KEK, AUTH_REFRESH_RETRY_GRACE: '-1s' })).toEqual(['AUTH_REFRESH_RETRY_GRACE']);
    expect(problems({ AUTH_KEK: KEK, AUTH_REFRESH_RETRY_GRACE: 'a while' })).toEqual(['AUTH_REFRESH_RETRY_GRACE']);
  });

  it('left unset, follows a display-token TTL shorter than 30s instead of refusing to start', () => {
    expect(loadAuthConfig({ AUTH_KEK: KEK, AUTH_DISPLAY_TOKEN_TTL: '4s', AUTH_KEY_ROTATION_INTERVAL: '15m' }).refreshRetryGraceMs).toBe(4_000);
    expect(loadAuthConfig({ AUTH_KEK: KEK, AUTH_DISPLAY_TOKEN_TTL: '4s', AUTH_KEY_ROTATION_INTERVAL: '15m', AUTH_REFRESH_RETRY_GRACE: '' }).refreshRetryGraceMs).toBe(4_000);
  });
});

describe('display consumer settings', () => {
  it('default to the platform values and carry AUTH_CONSUMER_* through', () => {
    expect(loadAuthConfig({ AUTH_KEK: KEK }).consumer).toEqual({ ackWaitMs: 20_000, maxAckPending: 256, maxDeliver: 50, backoffMs: undefined });
    const c = loadAuthConfig({
      AUTH_KEK: KEK,
      AUTH_CONSUMER_ACK_WAIT: '45s',
      AUTH_CONSUMER_MAX_ACK_PENDING: '64',
      AUTH_CONSUMER_MAX_DELIVER: '5',
    });
    expect(c.consumer).toEqual({ ackWaitMs: 45_000, maxAckPending: 64, maxDeliver: 5, backoffMs: undefined });
  });

  it('takes a backoff list whose first step becomes the ack wait', () => {
    const c = loadAuthConfig({ AUTH_KEK: KEK, AUTH_CONSUMER_BACKOFF: '15s, 1m,5m', AUTH_CONSUMER_MAX_DELIVER: '4' });
    expect(c.consumer).toMatchObject({ ackWaitMs: 15_000, backoffMs: [15_000, 60_000, 300_000], maxDeliver: 4 });
  });

  it('refuses bad values, naming the variable', () => {
    expect(problems({ AUTH_KEK: KEK, AUTH_CONSUMER_ACK_WAIT: '500ms' })).toEqual(['AUTH_CONSUMER_ACK_WAIT']);
    expect(problems({ AUTH_KEK: KEK, AUTH_CONSUMER_MAX_DELIVER: '1' })).toEqual(['AUTH_CONSUMER_MAX_DELIVER']);
    expect(problems({ AUTH_KEK: KEK, AUTH_CONSUMER_MAX_ACK_PENDING: '0' })).toEqual(['AUTH_CONSUMER_MAX_ACK_PENDING']);
    expect(problems({ AUTH_KEK: KEK, AUTH_CONSUMER_BACKOFF: '10s,soon' })).toEqual(['AUTH_CONSUMER_BACKOFF']);
    expect(problems({ AUTH_KEK: KEK, AUTH_CONSUMER_BACKOFF: '200ms' })).toEqual(['AUTH_CONSUMER_BACKOFF']);
    // JetStream needs fewer backoff steps than deliveries.
    expect(problems({ AUTH_KEK: KEK, AUTH_CONSUMER_BACKOFF: '10s,20s', AUTH_CONSUMER_MAX_DELIVER: '2' })).toEqual(['AUTH_CONSUMER_BACKOFF']);
  });
});

describe('AUTH_TRUST_PROXY', () => {
  it('accepts false, true, or an address list', () => {
    expect(loadAuthConfig({ AUTH_KEK: KEK }).trustProxy).toBe(false);
    expect(loadAuthConfig({ AUTH_KEK: KEK, AUTH_TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadAuthConfig({ AUTH_KEK: KEK, AUTH_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(problems({ AUTH_KEK: KEK, AUTH_TRUST_PROXY: 'everyone' })).toEqual(['AUTH_TRUST_PROXY']);
  });
});
