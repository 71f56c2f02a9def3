import { describe, expect, test } from 'vitest';
import { ORDERWIRE_SERVICES, processConfigVars, serviceConfigVars } from '../src/index.js';

describe('the services’ configuration specs, read from their build output', () => {
  test('each service declares its contract port as the PORT default, and auth requires its KEK', () => {
    const ports = Object.fromEntries(ORDERWIRE_SERVICES.map((s) => [s, serviceConfigVars(s).find((v) => v.env === 'PORT')?.default]));
    expect(ports).toEqual({ auth: '3001', ingest: '3002', edge: '3003', dlq: '3004', webhooks: '3006', display: '3005' });
    expect(serviceConfigVars('auth').filter((v) => v.required).map((v) => v.env)).toContain('AUTH_KEK');
  });

  test('only what a service reads is declared: the dlq has no Redis', () => {
    expect(serviceConfigVars('dlq').some((v) => v.env === 'REDIS_URL')).toBe(false);
    expect(serviceConfigVars('edge').some((v) => v.env === 'REDIS_URL')).toBe(true);
  });

  test('topology apply declares auth’s TOPOLOGY_APPLY_SPEC and the platform’s TOPOLOGY_CONFIG_SPEC, not the KEK', () => {
    const names = processConfigVars('topology-apply').map((v) => v.env);
    expect(names).toEqual(expect.arrayContaining(['NATS_URL', 'NATS_NKEY_SEED_FILE', 'AUTH_REFRESH_TTL', 'AUTH_LEASE_TTL', 'JETSTREAM_REPLICAS', 'JETSTREAM_ORDERS_MAX_BYTES']));
    expect(names).not.toContain('AUTH_KEK');
    expect(new Set(names).size).toBe(names.length);
  });
});
