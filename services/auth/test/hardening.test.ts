/**
 * Auth's HTTP exposure: small bodies only, CORS for exactly the display web app's origins
 * (enroll and refresh are called from the browser), security headers, and per-IP limits keyed
 * by the real client behind trusted proxies — a spoofed X-Forwarded-For buys nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuth, startInfra, type ErrorBody, type Infra, type TestAuth } from './helpers.js';

let infra: Infra;
let plain: TestAuth;
let proxied: TestAuth;

beforeAll(async () => {
  infra = await startInfra();
  plain = await startAuth(infra, { AUTH_RATE_LIMIT_ENROLL_PER_IP: '2' });
  proxied = await startAuth(infra, { AUTH_RATE_LIMIT_ENROLL_PER_IP: '2', TRUSTED_PROXIES: '10.0.0.0/8' });
});

afterAll(async () => {
  await plain?.close();
  await proxied?.close();
  await infra?.dispose();
});

function enroll(t: TestAuth, remoteAddress: string, headers: Record<string, string> = {}, code = 'no-such-code') {
  return t.auth.app.inject({ method: 'POST', url: '/v1/displays/enroll', remoteAddress, headers, payload: { enrollmentCode: code } });
}

describe('body limit', () => {
  it('answers a body above AUTH_BODY_LIMIT (16 KiB) with 413 in the error shape', async () => {
    const res = await plain.auth.app.inject({
      method: 'POST',
      url: '/v1/token/refresh',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ refreshToken: 'x'.repeat(20 * 1024) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_PAYLOAD_TOO_LARGE');
  });
});

describe('CORS', () => {
  it.each(['http://127.0.0.1:3005', 'http://localhost:3005'])('lets the local display app (%s) enroll and refresh from the browser', async (origin) => {
    for (const url of ['/v1/displays/enroll', '/v1/token/refresh']) {
      const pre = await plain.auth.app.inject({
        method: 'OPTIONS',
        url,
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      expect(pre.statusCode, url).toBe(204);
      expect(pre.headers['access-control-allow-origin'], url).toBe(origin);
      expect(String(pre.headers['access-control-allow-methods']), url).toContain('POST');
    }
    const res = await enroll(plain, '192.0.2.50', { origin });
    expect(res.headers['access-control-allow-origin']).toBe(origin);
  });

  it('gives any other origin nothing', async () => {
    const pre = await plain.auth.app.inject({
      method: 'OPTIONS',
      url: '/v1/token/refresh',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    const res = await enroll(plain, '192.0.2.51', { origin: 'http://127.0.0.1:3006' });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('CORS_ALLOWED_ORIGINS replaces the default', async () => {
    const t = await startAuth(infra, { CORS_ALLOWED_ORIGINS: 'https://kds.example.com' });
    try {
      const ok = await enroll(t, '192.0.2.52', { origin: 'https://kds.example.com' });
      expect(ok.headers['access-control-allow-origin']).toBe('https://kds.example.com');
      const local = await enroll(t, '192.0.2.52', { origin: 'http://127.0.0.1:3005' });
      expect(local.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});

describe('security headers', () => {
  it('are on the JWKS, on errors and on 404s', async () => {
    for (const url of ['/.well-known/jwks.json', '/v1/nope', '/healthz']) {
      const res = await plain.auth.app.inject({ method: 'GET', url });
      expect(res.headers['x-content-type-options'], url).toBe('nosniff');
      expect(res.headers['content-security-policy'], url).toContain("frame-ancestors 'none'");
      expect(res.headers['x-powered-by'], url).toBeUndefined();
    }
  });
});

describe('client address for the per-IP limits', () => {
  it('without TRUSTED_PROXIES, rotating a spoofed X-Forwarded-For does not reset the limit', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await enroll(plain, '192.0.2.10', { 'x-forwarded-for': `198.51.100.${i}` })).statusCode);
    expect(statuses.slice(0, 2)).not.toContain(429);
    expect(statuses[2]).toBe(429);
  });

  it('with TRUSTED_PROXIES, the limit follows the first untrusted hop from the right, not the spoofed leftmost', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await enroll(proxied, '10.0.0.5', { 'x-forwarded-for': `203.0.113.${i}, 198.51.100.7` })).statusCode);
    }
    expect(statuses.slice(0, 2)).not.toContain(429);
    expect(statuses[2]).toBe(429);
    // Another real client behind the same proxy has its own budget.
    expect((await enroll(proxied, '10.0.0.5', { 'x-forwarded-for': '198.51.100.8' })).statusCode).not.toBe(429);
  });
});
