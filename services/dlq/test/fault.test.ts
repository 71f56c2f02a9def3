/**
 * The broker goes away and comes back: the API answers 503 with Retry-After meanwhile, and capture
 * resumes by itself (no entry missing) once NATS is back with its store.
 */
import { waitFor } from '@orderwire/test-harness';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addDisplay, buildApp, publishOrder, reject, startEnv, waitForEntries, type Env, type TestApp } from './helpers.js';

let env: Env;
let app: TestApp;

beforeAll(async () => {
  env = await startEnv();
  app = await buildApp(env, { natsTimeoutMs: 1_000, readBarrierTimeoutMs: 500 });
});

afterAll(async () => {
  await app?.close();
  await env?.dispose();
});

it('answers 503 while NATS is down and captures again after it restarts', async () => {
  await addDisplay(env, 'flt', 's1', 'kds-1', ['grill']);
  await publishOrder(env, 'flt', 's1', 'F-1', { station: 'grill' });
  await reject(env, 'flt', 'kds-1', 'rejected: one');
  await waitForEntries(app, 'flt', 1);
  const token = await env.token('flt', ['dlq:read']);
  expect((await app.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);

  await env.nats.kill();
  const down = await app.app.inject({ method: 'GET', url: '/v1/dlq', headers: { authorization: `Bearer ${token}` } });
  expect(down.statusCode).toBe(503);
  expect(down.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_DLQ_UNAVAILABLE');
  expect(down.headers['retry-after']).toBe('1');
  const ready = await app.app.inject({ method: 'GET', url: '/readyz' });
  expect(ready.statusCode).toBe(503);

  await env.nats.start();
  await waitFor(async () => (await env.nc.rtt()) >= 0, { timeoutMs: 15_000, message: 'test client reconnected' });
  await publishOrder(env, 'flt', 's1', 'F-2', { station: 'grill' });
  await reject(env, 'flt', 'kds-1', 'rejected: two');
  const entries = await waitForEntries(app, 'flt', 2, 30_000);
  expect(entries.map((e) => e.orderId).sort()).toEqual(['F-1', 'F-2']);
}, 60_000);
