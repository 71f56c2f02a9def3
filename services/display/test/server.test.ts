/**
 * The display server: the built site, `/config.json` from validated settings, probes and
 * metrics, security headers; and config validation naming the bad variable.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMetrics } from '@orderwire/platform';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, DEFAULT_PUBLIC_DIR, type DisplayApp } from '../src/app.js';
import { loadDisplayConfig } from '../src/config.js';

let display: DisplayApp;

beforeAll(async () => {
  const config = loadDisplayConfig({
    DISPLAY_AUTH_URL: 'https://auth.example.com/',
    DISPLAY_EDGE_URLS: 'https://edge-a.example.com,https://edge-b.example.com',
    DISPLAY_AGE_WARN: '4m',
    DISPLAY_AGE_LATE: '7m',
  });
  display = await createApp({ config, logger: pino({ level: 'silent' }), metrics: createMetrics({ service: 'display', defaultMetrics: false }) });
  display.health.markStarted();
});

afterAll(async () => {
  await display?.close();
});

describe('display server', () => {
  it('serves the runtime settings, uncached', async () => {
    const res = await display.app.inject({ method: 'GET', url: '/config.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toEqual({
      authUrl: 'https://auth.example.com',
      edgeUrls: ['https://edge-a.example.com', 'https://edge-b.example.com'],
      ageWarnMs: 240_000,
      ageLateMs: 420_000,
      offlineAfterMs: 15_000,
      recallHistory: 10,
      reconnectMaxMs: 5_000,
      development: false,
    });
  });

  it('serves the built page with a CSP that allows exactly auth and the edges', async () => {
    expect(existsSync(join(DEFAULT_PUBLIC_DIR, 'index.html')), 'run the build first').toBe(true);
    const res = await display.app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toContain('<div id="app">');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("connect-src 'self' https://auth.example.com https://edge-a.example.com wss://edge-a.example.com");
    expect(csp).toContain("script-src 'self'");
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(res.body)?.[1];
    expect(script).toBeDefined();
    const asset = await display.app.inject({ method: 'GET', url: script! });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toContain('immutable');
  });

  it('answers the probes and /metrics', async () => {
    expect((await display.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await display.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const metrics = await display.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('orderwire_http_request_duration_seconds');
  });

  it('is not ready without its site', async () => {
    const bare = await createApp({
      config: loadDisplayConfig({ DISPLAY_DEVELOPMENT: 'true' }),
      logger: pino({ level: 'silent' }),
      metrics: createMetrics({ service: 'display', defaultMetrics: false }),
      publicDir: join(DEFAULT_PUBLIC_DIR, 'missing'),
    });
    bare.health.markStarted();
    try {
      const res = await bare.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.body).toContain('run the build');
    } finally {
      await bare.close();
    }
  });
});

describe('config', () => {
  it('names every bad variable', () => {
    expect(() => loadDisplayConfig({ DISPLAY_EDGE_URLS: 'ftp://x', DISPLAY_AGE_WARN: 'soon' })).toThrow(/DISPLAY_EDGE_URLS[\s\S]*DISPLAY_AGE_WARN|DISPLAY_AGE_WARN[\s\S]*DISPLAY_EDGE_URLS/);
    expect(() => loadDisplayConfig({ DISPLAY_AGE_WARN: '8m', DISPLAY_AGE_LATE: '5m' })).toThrow(/DISPLAY_AGE_LATE/);
    // The local defaults are plain http: outside development they are refused, not served to a kiosk.
    expect(() => loadDisplayConfig({})).toThrow(/DISPLAY_DEVELOPMENT/);
    expect(() => loadDisplayConfig({ DISPLAY_AUTH_URL: 'https://a.example.com', DISPLAY_EDGE_URLS: 'http://e.example.com' })).toThrow(/http:\/\/e\.example\.com/);
    expect(loadDisplayConfig({ DISPLAY_DEVELOPMENT: 'true' }).development).toBe(true);
  });

  it('is documented: every variable in docs/display-app.md', () => {
    const doc = readFileSync(new URL('../../../docs/display-app.md', import.meta.url), 'utf8');
    const spec = readFileSync(new URL('../src/config.ts', import.meta.url), 'utf8');
    const vars = [...spec.matchAll(/env: '(DISPLAY_[A-Z_]+)'/g)].map((m) => m[1]);
    expect(vars.length).toBeGreaterThan(5);
    expect(vars.filter((v) => !doc.includes(`\`${v}\``))).toEqual([]);
  });
});
