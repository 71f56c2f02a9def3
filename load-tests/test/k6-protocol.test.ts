/**
 * The k6 display's wire protocol against the real services: a display enrolled through auth,
 * connected to a real edge over a raw websocket with k6/lib's framing, acks an order exactly the
 * way k6/lib/orderwire.ts does, and ingest then reports the order delivered.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from '@orderwire/test-harness';
import { displayMemory, handleOrders } from '../k6/lib/deliveries.ts';
import { PONG_FRAME, ackFrame, connectFrame, decodeFrame, websocketUrl, type Frame } from '../k6/lib/socketio.ts';
import { clientToken, registerDisplay } from '../src/auth-client.js';
import { createHttpClient, type HttpClient } from '../src/http.js';
import { displayPlacement, orderBody, type Fleet } from '../src/plan.js';
import { startOwnStack, type Stack } from '../src/stack.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const built =
  ['auth', 'ingest', 'edge'].every((s) => existsSync(join(ROOT, 'services', s, 'dist', 'main.js'))) &&
  existsSync(fileURLToPath(new URL('../dist/orphan-guard.js', import.meta.url)));

describe('k6 display protocol against the real edge', () => {
  let stack: Stack;
  let http: HttpClient;
  const fleet: Fleet = { runId: 'k6proto', displays: 1, fanout: 1, stationsPerStore: 1 };

  beforeAll(async () => {
    // `npm test` builds everything first; a missing build is a setup error, never a silent skip.
    if (!built) throw new Error('services/{auth,ingest,edge}/dist or load-tests/dist missing: run `npm run build` first');
    stack = await startOwnStack({ edges: 1, logLevel: 'warn' });
    http = createHttpClient(4);
  }, 120_000);

  afterAll(async () => {
    http?.close();
    await stack?.dispose();
  }, 60_000);

  it('connects with 40{"token"}, answers pings, acks 42<id>["orders"] with 43<id>, and the order is delivered', async () => {
    const operator = await clientToken(http, stack.authUrl, stack.credentials.operator, 'displays:manage');
    const upstream = await clientToken(http, stack.authUrl, stack.credentials.upstream, 'orders:write orders:read');
    const code = await registerDisplay(http, stack.authUrl, operator, displayPlacement(fleet, 0));
    const enrolled = await http.request('POST', `${stack.authUrl}/v1/displays/enroll`, { body: { enrollmentCode: code } });
    expect(enrolled.status).toBe(200);
    const token = (enrolled.body as { accessToken: string }).accessToken;

    const frames: Frame[] = [];
    const memory = displayMemory();
    const latencies: number[] = [];
    const ws = new WebSocket(websocketUrl(stack.edgeUrls[0]!));
    ws.on('message', (data: Buffer) => {
      const f = decodeFrame(data.toString('utf8'));
      frames.push(f);
      if (f.layer === 'engine' && f.packet.type === 'open') ws.send(connectFrame({ token }));
      else if (f.layer === 'engine' && f.packet.type === 'ping') ws.send(PONG_FRAME);
      else if (f.layer === 'socket' && f.packet.type === 'event' && f.packet.name === 'orders' && f.packet.id !== undefined) {
        const out = handleOrders(f.packet.args, memory, Date.now());
        latencies.push(...out.latenciesMs);
        ws.send(ackFrame(f.packet.id, [out.answer]));
      }
    });
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    try {
      await waitFor(() => frames.some((f) => f.layer === 'socket' && f.packet.type === 'connect'), {
        timeoutMs: 10_000,
        message: () => `CONNECT ok from the edge; frames: ${JSON.stringify(frames)}`,
      });
      const posted = await http.request('POST', `${stack.ingestUrl}/v1/orders`, {
        body: orderBody(fleet, 0, new Date()),
        headers: { authorization: `Bearer ${upstream}` },
      });
      expect(posted.status).toBe(202);
      await waitFor(() => latencies.length === 1, { timeoutMs: 10_000, message: 'the order reached the raw display' });
      expect(latencies[0]).toBeGreaterThanOrEqual(0);
      expect(latencies[0]).toBeLessThan(10_000);
      // The edge turned our 43<id> ack into a JetStream ack and a receipt.
      await waitFor(
        async () => {
          const res = await http.request('GET', `${stack.ingestUrl}/v1/orders/k6proto-o0`, { headers: { authorization: `Bearer ${upstream}` } });
          const displays = (res.body as { displays?: Array<{ displayId: string; status: string }> } | undefined)?.displays ?? [];
          return displays.some((d) => d.displayId === 'k6proto-d0' && d.status === 'delivered');
        },
        { timeoutMs: 10_000, intervalMs: 200, message: 'ingest reports the order delivered to k6proto-d0' },
      );
    } finally {
      ws.close();
      await closed;
    }
  }, 60_000);

  it('gets CONNECT_ERROR with a machine-readable reason for a bad token', async () => {
    const frames: Frame[] = [];
    const ws = new WebSocket(websocketUrl(stack.edgeUrls[0]!));
    ws.on('message', (data: Buffer) => {
      const f = decodeFrame(data.toString('utf8'));
      frames.push(f);
      if (f.layer === 'engine' && f.packet.type === 'open') ws.send(connectFrame({ token: 'not-a-jwt' }));
    });
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    try {
      const err = await waitFor(
        () => frames.find((f): f is Extract<Frame, { layer: 'socket' }> => f.layer === 'socket' && f.packet.type === 'connect_error'),
        { timeoutMs: 10_000, message: 'CONNECT_ERROR from the edge' },
      );
      const packet = err?.packet;
      expect(packet?.type === 'connect_error' && (packet.data.data as { reason?: unknown } | undefined)?.reason).toBe('unauthorized');
    } finally {
      ws.close();
      await closed;
    }
  }, 30_000);
});
