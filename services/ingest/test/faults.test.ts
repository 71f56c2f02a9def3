/**
 * Broker faults: the breaker turns an unresponsive broker into fast 503s and recovers; NATS
 * SIGKILLed and restarted with its store in the middle of a stream of orders loses none that
 * were answered 202, never hangs a request past the retry window plus one publish timeout, and retries with the same
 * key end with every order stored exactly once.
 */
import { readFileSync } from 'node:fs';
import { Kvm } from '@nats-io/kv';
import { HEADERS } from '@orderwire/contracts';
import { KV_BUCKETS, listOrderStreams } from '@orderwire/platform';
import { startNats, waitFor, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, inspector, order, startJwks, type Jwks, type TestApp } from './helpers.js';

const PUBLISH_TIMEOUT_MS = 400;
/**
 * Retriable failures (timeout, reconnect) are retried this long before the 503: a request may
 * take the window plus one publish timeout. Shorter than the default so the breaker opens soon.
 */
const RETRY_WINDOW_MS = 500;
/** Slack for event-loop scheduling on a busy 2-core box. */
const LATENCY_SLACK_MS = 600;

let jwks: Jwks | undefined;
let nats: NatsServerHandle | undefined;
let t: TestApp | undefined;
let ins: Awaited<ReturnType<typeof inspector>> | undefined;

afterEach(async () => {
  if (nats !== undefined && nats.pid > 0 && nats.running) {
    try {
      process.kill(nats.pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
  await t?.dispose();
  await ins?.close();
  await nats?.dispose();
  t = undefined;
  ins = undefined;
  nats = undefined;
});
afterAll(async () => {
  await jwks?.close();
});

async function setup(env: Record<string, string>): Promise<{ token: string }> {
  jwks ??= await startJwks();
  nats = await startNats();
  t = await buildTestApp({ natsUrl: nats.url, jwksUrl: jwks.url, env });
  ins = await inspector(nats.url);
  return { token: await jwks.sign({ tenant: 't1', scopes: ['orders:write', 'orders:read'] }) };
}

/** Linux process state letter (`T` = stopped) from /proc. */
function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

async function timed(fn: () => Promise<{ statusCode: number; headers: Record<string, unknown>; body: string; json<T>(): T }>) {
  const started = performance.now();
  const res = await fn();
  return { res, ms: performance.now() - started };
}

/** Every Ow-Order-Id stored in ORDERS, with how often it appears. */
async function storedOrderIds(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const stream of await listOrderStreams(ins!.jsm)) {
    const info = await ins!.jsm.streams.info(stream);
    const seqs = Array.from({ length: info.state.last_seq }, (_, i) => i + 1);
    for (let i = 0; i < seqs.length; i += 100) {
      const msgs = await Promise.all(seqs.slice(i, i + 100).map((seq) => ins!.jsm.streams.getMessage(stream, { seq })));
      for (const m of msgs) {
        if (m === null) continue;
        const id = m.header.get(HEADERS.orderId);
        out.set(id, (out.get(id) ?? 0) + 1);
      }
    }
  }
  return out;
}

describe('publish circuit breaker', () => {
  it('opens on timeouts of an unresponsive broker (fast 503 + Retry-After), then closes once it answers again', async () => {
    const { token } = await setup({
      INGEST_PUBLISH_TIMEOUT: `${PUBLISH_TIMEOUT_MS}ms`,
      INGEST_PUBLISH_RETRY_WINDOW: `${RETRY_WINDOW_MS}ms`,
      INGEST_BREAKER_VOLUME_THRESHOLD: '2',
      INGEST_BREAKER_ERROR_THRESHOLD: '50',
      INGEST_BREAKER_RESET_TIMEOUT: '1s',
      INGEST_RECEIPT_TIMEOUT: '300ms',
    });
    const post = (body: object) => t!.app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(token), payload: body });
    expect((await post(order())).statusCode).toBe(202);

    // Frozen, not dead: the TCP connection stays up, so only the timeout can notice.
    process.kill(nats!.pid, 'SIGSTOP');
    await waitFor(() => processState(nats!.pid) === 'T', { timeoutMs: 2_000, message: 'nats-server stopped' });
    const timedOut = [order(), order()];
    for (const o of timedOut) {
      const { res, ms } = await timed(() => post(o));
      expect(res.statusCode, `${o.orderId as string} after ${ms} ms: ${res.body}`).toBe(503);
      expect(res.json<{ error: { code: string; details: { reason: string } } }>().error).toMatchObject({
        code: 'ORDERWIRE_ERR_INGEST_UNAVAILABLE',
        details: { reason: 'timeout' },
      });
      expect(ms).toBeLessThan(RETRY_WINDOW_MS + PUBLISH_TIMEOUT_MS + LATENCY_SLACK_MS);
    }
    expect(t!.publisher.state()).toBe('open');
    const { res: fast, ms } = await timed(() => post(order()));
    expect(fast.statusCode).toBe(503);
    expect(fast.json<{ error: { details: { reason: string } } }>().error.details.reason).toBe('breaker_open');
    expect(Number(fast.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(ms).toBeLessThan(100);
    expect(await t!.metricsRegistry.text()).toMatch(/orderwire_ingest_breaker_state\{[^}]*\} 2/);

    process.kill(nats!.pid, 'SIGCONT');
    await waitFor(async () => (await post(order())).statusCode === 202, { timeoutMs: 10_000, intervalMs: 200, message: 'breaker closed again' });
    expect(t!.publisher.state()).toBe('closed');
    expect(await t!.metricsRegistry.text()).toMatch(/orderwire_ingest_breaker_state\{[^}]*\} 0/);

    // The client retries the timed-out orders with the same key: each ends up stored once,
    // whether or not the frozen broker had persisted the first attempt.
    for (const o of timedOut) expect((await post(o)).statusCode).toBe(202);
    const stored = await storedOrderIds();
    for (const o of timedOut) expect(stored.get(String(o.orderId))).toBe(1);
  });
});

describe('NATS SIGKILLed during a stream of publishes', () => {
  it('never answers 2xx for an order it did not persist, never hangs, and loses nothing after restart', async () => {
    const { token } = await setup({
      INGEST_PUBLISH_TIMEOUT: `${PUBLISH_TIMEOUT_MS}ms`,
      INGEST_PUBLISH_RETRY_WINDOW: `${RETRY_WINDOW_MS}ms`,
      INGEST_BREAKER_RESET_TIMEOUT: '500ms',
      INGEST_RECEIPT_TIMEOUT: '300ms',
      INGEST_RETRY_AFTER: '1s',
    });
    const post = (body: object) => t!.app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(token), payload: body });

    const accepted = new Set<string>();
    const refused = new Map<string, object>();
    const statuses = new Map<number, number>();
    const reasons = new Set<string>();
    let maxMs = 0;
    let phase: 'before' | 'down' | 'after' = 'before';
    let acceptedWhileDown = 0;
    let acceptedAfterRestart = 0;
    let stop = false;

    const worker = async (): Promise<void> => {
      while (!stop) {
        const o = order();
        const { res, ms } = await timed(() => post(o));
        maxMs = Math.max(maxMs, ms);
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode === 202) {
          accepted.add(String(o.orderId));
          if (phase === 'down') acceptedWhileDown++;
          if (phase === 'after') acceptedAfterRestart++;
        } else {
          expect(res.statusCode).toBe(503);
          const error = res.json<{ error: { code: string; details: { reason: string } } }>().error;
          expect(error.code).toBe('ORDERWIRE_ERR_INGEST_UNAVAILABLE');
          reasons.add(error.details.reason);
          expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
          refused.set(String(o.orderId), o);
          // A real client backs off; keep the loop from spinning on instant 503s.
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const workers = Array.from({ length: 4 }, () => worker());

    await waitFor(() => accepted.size >= 100, { timeoutMs: 15_000, message: 'first 100 orders accepted' });
    await nats!.kill();
    phase = 'down';
    await new Promise((r) => setTimeout(r, 1_500));
    phase = 'after';
    await nats!.start();
    await waitFor(() => acceptedAfterRestart >= 100, { timeoutMs: 20_000, message: 'orders accepted again after restart' });
    stop = true;
    await Promise.all(workers);

    expect(maxMs).toBeLessThan(RETRY_WINDOW_MS + PUBLISH_TIMEOUT_MS + LATENCY_SLACK_MS);
    expect(refused.size).toBeGreaterThan(0);
    expect([...statuses.keys()].sort()).toEqual([202, 503]);
    // Most refusals are immediate: the client saw the connection drop.
    expect(reasons.has('disconnected')).toBe(true);
    // Nothing was accepted while the broker was dead, except acks already on the wire at the kill
    // (at most one per worker).
    expect(acceptedWhileDown).toBeLessThanOrEqual(4);

    // Loss accounting: every 202 is in the stream.
    const stored = await storedOrderIds();
    const missing = [...accepted].filter((id) => !stored.has(id));
    expect(missing).toEqual([]);

    // The clients retry every refused order with the same key; afterwards each order is stored exactly once.
    for (const o of refused.values()) {
      await waitFor(async () => (await post(o)).statusCode === 202, { timeoutMs: 10_000, intervalMs: 100 });
    }
    const final = await storedOrderIds();
    for (const id of [...accepted, ...refused.keys()]) expect(final.get(id), id).toBe(1);
    expect(final.size).toBe(accepted.size + refused.size);

    // Readiness recovers with the connection, and the display-registry watch survived the restart.
    await waitFor(async () => (await t!.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, { timeoutMs: 10_000 });
    const kv = await new Kvm(ins!.nc).open(KV_BUCKETS.DISPLAYS);
    await kv.put(
      't1.after-restart',
      JSON.stringify({ v: 1, tenant: 't1', displayId: 'after-restart', storeId: 'store-1', stations: ['grill'], consumer: 'c', status: 'enrolled', createdAt: new Date().toISOString() }),
    );
    await waitFor(() => t!.index.get('t1', 'after-restart') !== undefined, { timeoutMs: 10_000, message: 'registry watch resumed after restart' });
  });
});
