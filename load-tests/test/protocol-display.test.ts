/**
 * The bench's protocol-level display (`--client protocol`) against the real services: it must
 * hold the same conversation the display SDK holds — enroll, connect, show and ack, reconnect to
 * the next edge when one dies, refresh a refused token once, stop on a final refusal — or the
 * bench figures taken with it would measure something else.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@orderwire/test-harness';
import { clientToken, deleteDisplay, registerDisplay } from '../src/auth-client.js';
import { createHttpClient, type HttpClient } from '../src/http.js';
import { displayPlacement, orderBody, type Fleet } from '../src/plan.js';
import { ProtocolDisplay, ProtocolDisplayError, enrollDisplay, type DisplayTokens } from '../src/protocol/display.js';
import { startOwnStack, type Stack } from '../src/stack.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const built =
  ['auth', 'ingest', 'edge'].every((s) => existsSync(join(ROOT, 'services', s, 'dist', 'main.js'))) &&
  existsSync(fileURLToPath(new URL('../dist/orphan-guard.js', import.meta.url)));

interface Seen {
  shown: Array<{ orderId: string; latencyMs: number }>;
  connects: number;
  disconnects: number;
  errors: ProtocolDisplayError[];
}

describe('protocol display against the real stack (two edges)', () => {
  let stack: Stack;
  let http: HttpClient;
  let operator: string;
  let upstream: string;
  const fleet: Fleet = { runId: 'protodisp', displays: 8, fanout: 1, stationsPerStore: 1 };
  const running: ProtocolDisplay[] = [];

  beforeAll(async () => {
    // `npm test` builds everything first; a missing build is a setup error, never a silent skip.
    if (!built) throw new Error('services/{auth,ingest,edge}/dist or load-tests/dist missing: run `npm run build` first');
    stack = await startOwnStack({ edges: 2, logLevel: 'warn' });
    http = createHttpClient(4);
    operator = await clientToken(http, stack.authUrl, stack.credentials.operator, 'displays:manage');
    upstream = await clientToken(http, stack.authUrl, stack.credentials.upstream, 'orders:write orders:read');
  }, 120_000);

  afterEach(() => {
    for (const d of running.splice(0)) d.stop();
  });

  afterAll(async () => {
    http?.close();
    await stack?.dispose();
  }, 60_000);

  async function enrolled(slot: number): Promise<DisplayTokens> {
    const code = await registerDisplay(http, stack.authUrl, operator, displayPlacement(fleet, slot));
    return enrollDisplay(http, stack.authUrl, code);
  }

  function display(tokens: DisplayTokens, edgeUrls: string[] = stack.edgeUrls): { d: ProtocolDisplay; seen: Seen } {
    const seen: Seen = { shown: [], connects: 0, disconnects: 0, errors: [] };
    const d = new ProtocolDisplay({
      authUrl: stack.authUrl,
      edgeUrls,
      http,
      tokens,
      now: Date.now,
      onShown: (delivery, latencyMs) => seen.shown.push({ orderId: delivery.orderId, latencyMs }),
      onConnected: () => seen.connects++,
      onDisconnected: () => seen.disconnects++,
      onError: (err) => seen.errors.push(err),
      backoff: { baseMs: 100, maxMs: 1_000 },
    });
    running.push(d);
    return { d, seen };
  }

  /** Order n goes to display slot n mod 8 (one display per station). */
  async function post(n: number): Promise<string> {
    const body = orderBody(fleet, n, new Date()) as { orderId: string };
    const res = await http.request('POST', `${stack.ingestUrl}/v1/orders`, { body, headers: { authorization: `Bearer ${upstream}` } });
    expect(res.status).toBe(202);
    return body.orderId;
  }

  it('enrolls, connects, shows an order once and acks it: ingest reports it delivered', async () => {
    const { d, seen } = display(await enrolled(0));
    d.start();
    await waitFor(() => d.isConnected, { timeoutMs: 10_000, message: () => `connected; errors ${seen.errors.map((e) => e.message).join('; ')}` });
    const orderId = await post(0);
    await waitFor(() => seen.shown.length === 1, { timeoutMs: 10_000, message: 'the order was shown' });
    expect(seen.shown[0]!.orderId).toBe(orderId);
    expect(seen.shown[0]!.latencyMs).toBeGreaterThanOrEqual(0);
    // The edge turned the display's ack into a JetStream ack and a delivered receipt.
    await waitFor(
      async () => {
        const res = await http.request('GET', `${stack.ingestUrl}/v1/orders/${encodeURIComponent(orderId)}`, { headers: { authorization: `Bearer ${upstream}` } });
        const displays = (res.body as { displays?: Array<{ displayId: string; status: string }> } | undefined)?.displays ?? [];
        return displays.some((x) => x.displayId === displayPlacement(fleet, 0).displayId && x.status === 'delivered');
      },
      { timeoutMs: 10_000, message: 'ingest reports the order delivered' },
    );
    expect(d.stats()).toMatchObject({ shown: 1, acked: 1, duplicatesOnWire: 0, rejected: 0 });
    expect(seen.errors).toEqual([]);
  });

  it('a killed edge: the display moves to the other edge and the next order is shown there', async () => {
    const { d, seen } = display(await enrolled(1), stack.edgeUrls);
    d.start();
    await waitFor(() => d.isConnected, { timeoutMs: 10_000, message: 'connected to edge-1' });
    expect(d.url).toBe(stack.edgeUrls[0]);
    await stack.faults!.killEdge(0);
    try {
      await waitFor(() => seen.disconnects === 1 && d.isConnected, { timeoutMs: 15_000, message: () => `reconnected; errors ${seen.errors.map((e) => e.message).join('; ')}` });
      expect(d.url).toBe(stack.edgeUrls[1]);
      const orderId = await post(1);
      await waitFor(() => seen.shown.some((s) => s.orderId === orderId), { timeoutMs: 10_000, message: 'the order was shown through edge-2' });
    } finally {
      await stack.faults!.startEdge(0);
    }
  });

  it('a refused access token is refreshed once, then the display connects with the new one', async () => {
    const tokens = await enrolled(2);
    const { d, seen } = display({ ...tokens, accessToken: `${tokens.accessToken.slice(0, -4)}AAAA` });
    d.start();
    await waitFor(() => d.isConnected, { timeoutMs: 10_000, message: () => `connected after a refresh; errors ${seen.errors.map((e) => e.message).join('; ')}` });
    expect(seen.errors.map((e) => `${e.code}:${e.reason}`)).toEqual(['ORDERWIRE_ERR_BENCH_DISPLAY_CONNECT:unauthorized']);
    expect(seen.connects).toBe(1);
  });

  it('a decommissioned display stops: its session ends for good, no reconnect loop', async () => {
    const { d, seen } = display(await enrolled(3));
    d.start();
    await waitFor(() => d.isConnected, { timeoutMs: 10_000, message: 'connected' });
    expect(await deleteDisplay(http, stack.authUrl, operator, displayPlacement(fleet, 3).displayId)).toBe(true);
    await waitFor(() => seen.disconnects === 1, { timeoutMs: 10_000, message: 'the edge ended the session' });
    const attempts = seen.connects + seen.errors.length;
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // > the test's backoff ceiling
    expect(d.isConnected).toBe(false);
    expect(seen.connects + seen.errors.length).toBe(attempts);
  });

  it('a wrong enrollment code is a clear error with the server code, not retried', async () => {
    const err = await enrollDisplay(http, stack.authUrl, 'NOT-A-CODE-0000').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolDisplayError);
    expect((err as ProtocolDisplayError).code).toBe('ORDERWIRE_ERR_BENCH_DISPLAY_ENROLL');
    expect((err as ProtocolDisplayError).retryable).toBe(false);
    expect((err as ProtocolDisplayError).reason).toMatch(/^ORDERWIRE_ERR_/);
  });
});
