/**
 * The built service (`dist/main.js`) as a real process on a real port: readiness, an order over
 * HTTP, its status, structured logs, graceful SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort, startNats, startRedis, waitFor, type NatsServerHandle, type RedisServerHandle } from '@orderwire/test-harness';
import { connect } from '@nats-io/transport-node';
import { ensureTopology, loadTopologyConfig } from '@orderwire/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ISSUER, order, startJwks, type Jwks } from './helpers.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
/** 15 s for the process to become ready */
const READY_TIMEOUT_MS = 15_000;

let nats: NatsServerHandle;
let redis: RedisServerHandle;
let jwks: Jwks;
let proc: ChildProcess | undefined;
let base: string;
const lines: string[] = [];
let exit: Promise<number | null>;

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build -w @orderwire/ingest\` first`);
  [nats, redis, jwks] = await Promise.all([startNats(), startRedis(), startJwks()]);
  // The topology owner's job (ingest only verifies): apply with the defaults.
  const owner = await connect({ servers: nats.url });
  await ensureTopology(owner, loadTopologyConfig({}));
  await owner.close();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  proc = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: String(port),
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      AUTH_JWKS_URL: jwks.url,
      AUTH_ISSUER: ISSUER,
      LOG_LEVEL: 'info',
      INSTANCE_ID: 'ingest-e2e',
      SHUTDOWN_GRACE: '10s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let partial = '';
  const collect = (chunk: Buffer): void => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  exit = new Promise((resolve) => proc!.once('exit', (code) => resolve(code)));
  await waitFor(
    async () => {
      if (proc!.exitCode !== null) throw new Error(`ingest exited early:\n${lines.join('\n')}`);
      return (await fetch(`${base}/readyz`)).status === 200;
    },
    { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, message: () => `ingest ready; output:\n${lines.slice(-20).join('\n')}` },
  );
}, 60_000);

afterAll(async () => {
  if (proc !== undefined && proc.exitCode === null) proc.kill('SIGKILL');
  await Promise.all([nats?.dispose(), redis?.dispose(), jwks?.close()]);
});

function logged(msg: string): Array<Record<string, unknown>> {
  return lines.flatMap((l) => {
    try {
      const j = JSON.parse(l) as Record<string, unknown>;
      return j.msg === msg ? [j] : [];
    } catch {
      return [];
    }
  });
}

describe('ingest process (dist/main.js)', () => {
  it('accepts an order over HTTP and logs it with its ids', async () => {
    const token = await jwks.sign({ tenant: 'e2e', clientId: 'pos-e2e', scopes: ['orders:write', 'orders:read'] });
    const o = order();
    const res = await fetch(`${base}/v1/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-request-id': 'req-e2e-1' },
      body: JSON.stringify(o),
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-request-id')).toBe('req-e2e-1');
    const body = (await res.json()) as { orderId: string; traceId: string; duplicate: boolean };
    expect(body).toMatchObject({ orderId: o.orderId, duplicate: false });

    // No display is registered for this store: accepted, with zero targets (not a 404).
    const status = await fetch(`${base}/v1/orders/${encodeURIComponent(String(o.orderId))}`, { headers: { authorization: `Bearer ${token}` } });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ orderId: o.orderId, status: 'accepted', targetCount: 0, displays: [] });

    await waitFor(() => logged('order accepted').length > 0, { message: 'accept log line' });
    expect(logged('order accepted')[0]).toMatchObject({
      service: 'ingest',
      instance: 'ingest-e2e',
      requestId: 'req-e2e-1',
      tenant: 'e2e',
      clientId: 'pos-e2e',
      orderId: o.orderId,
      traceId: body.traceId,
    });
    // Tokens never reach the logs.
    expect(lines.join('\n')).not.toContain(token);
  });

  it('serves metrics and the OpenAPI document', async () => {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('orderwire_ingest_orders_total');
    expect(metrics).toContain('orderwire_ingest_breaker_state');
    expect((await fetch(`${base}/docs/json`)).status).toBe(200);
  });

  it('shuts down cleanly on SIGTERM', async () => {
    proc!.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(logged('shutdown complete')).toHaveLength(1);
  });
});
