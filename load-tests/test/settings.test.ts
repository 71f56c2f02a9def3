import { describe, expect, it } from 'vitest';
import { SettingsError, k6Duration, parseCredentials, parseDurationMs, readSettings } from '../k6/lib/settings.ts';

describe('k6 settings', () => {
  it('has local defaults', () => {
    const s = readSettings({});
    expect(s.authUrl).toBe('http://127.0.0.1:3001');
    expect(s.ingestUrl).toBe('http://127.0.0.1:3002');
    expect(s.edgeUrls).toEqual(['http://127.0.0.1:3003', 'http://127.0.0.1:3013']);
    expect(s.plan).toEqual({ runId: 'k6', displays: 100, stationsPerStore: 4, fanout: 1 });
    expect([s.rate, s.rampMs, s.holdMs, s.p95Ms, s.errorRate, s.e2eP99Ms]).toEqual([100, 30_000, 60_000, 250, 0.001, 100]);
    expect(s.maxVus).toBeGreaterThanOrEqual(s.preAllocatedVus);
    expect(s.upstream).toBeUndefined();
  });

  it('reads a cluster setup from the environment', () => {
    const s = readSettings({
      AUTH_URL: 'https://auth.example.com/',
      INGEST_URL: 'https://ingest.example.com',
      EDGE_URLS: 'https://edge.example.com , https://edge2.example.com',
      UPSTREAM_CLIENT_ID: 'u',
      UPSTREAM_CLIENT_SECRET: 's',
      RUN_ID: 'soak-1',
      DISPLAYS: '5000',
      DISPLAY_OFFSET: '2500',
      RATE: '1000',
      HOLD: '10m',
    });
    expect(s.authUrl).toBe('https://auth.example.com');
    expect(s.edgeUrls).toEqual(['https://edge.example.com', 'https://edge2.example.com']);
    expect(s.upstream).toEqual({ clientId: 'u', clientSecret: 's' });
    expect([s.plan.displays, s.displayOffset, s.rate, s.holdMs]).toEqual([5000, 2500, 1000, 600_000]);
  });

  it('names the bad variable', () => {
    expect(() => readSettings({ RATE: 'fast' })).toThrow(/RATE=fast/);
    expect(() => readSettings({ DISPLAYS: '1.5' })).toThrow(/DISPLAYS/);
    expect(() => readSettings({ AUTH_URL: 'auth:3001' })).toThrow(/AUTH_URL/);
    expect(() => readSettings({ UPSTREAM_CLIENT_ID: 'u' })).toThrow(/UPSTREAM_CLIENT_SECRET/);
    expect(() => readSettings({ RUN_ID: 'a b' })).toThrow(SettingsError);
    expect(() => readSettings({ HOLD: '5 minutes' })).toThrow(/HOLD/);
    expect(() => readSettings({ PRE_VUS: '10', MAX_VUS: '5' })).toThrow(/MAX_VUS/);
  });

  it('converts durations both ways', () => {
    expect([parseDurationMs('x', '250'), parseDurationMs('x', '1.5s'), parseDurationMs('x', '2m'), parseDurationMs('x', '1h')]).toEqual([
      250, 1500, 120_000, 3_600_000,
    ]);
    expect([k6Duration(30_000), k6Duration(1500)]).toEqual(['30s', '1500ms']);
  });

  it('reads the dev credentials file', () => {
    const c = parseCredentials(
      JSON.stringify({ tenant: 'demo', upstream: { clientId: 'a', clientSecret: 'b' }, operator: { clientId: 'c', clientSecret: 'd' }, urls: { auth: 'x' } }),
    );
    expect(c).toEqual({ upstream: { clientId: 'a', clientSecret: 'b' }, operator: { clientId: 'c', clientSecret: 'd' }, urls: { auth: 'x' } });
    expect(() => parseCredentials('{')).toThrow(SettingsError);
    expect(() => parseCredentials('{"upstream":{}}')).toThrow(/upstream and operator/);
  });
});
