import { describe, expect, test } from 'vitest';
import { ORDERWIRE_SERVICES, serviceConfigVars } from '../src/index.js';

describe('the services’ configuration specs, read from their build output', () => {
  test('each service declares its contract port as the PORT default, and auth requires its KEK', () => {
    const ports = Object.fromEntries(ORDERWIRE_SERVICES.map((s) => [s, serviceConfigVars(s).find((v) => v.env === 'PORT')?.default]));
    expect(ports).toEqual({ auth: '3001', ingest: '3002', edge: '3003', dlq: '3004' });
    expect(serviceConfigVars('auth').filter((v) => v.required).map((v) => v.env)).toContain('AUTH_KEK');
  });

  test('only what a service reads is declared: the dlq has no Redis', () => {
    expect(serviceConfigVars('dlq').some((v) => v.env === 'REDIS_URL')).toBe(false);
    expect(serviceConfigVars('edge').some((v) => v.env === 'REDIS_URL')).toBe(true);
  });
});
