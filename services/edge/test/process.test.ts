/**
 * Edge nodes as real processes (`node dist/main.js`): SIGKILL mid-stream and SIGTERM drain.
 * Build first (`npm run build -w @orderwire/edge`; turbo's test task does it).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDisplayClient, createTokenManager, memoryTokenStore, type DisplayClient } from '@orderwire/display-sdk';
import { waitFor } from '@orderwire/test-harness';
import { TestDisplay, handshakeRefusal } from './support/display.js';
import { spawnEdge, startEdge, type EdgeProcess, type TestEdge } from './support/edge.js';
import { consumerState, newDisplay, publishOrder, registerDisplay, startInfra, type Infra } from './support/infra.js';

const MAIN_JS = fileURLToPath(new URL('../dist/main.js', import.meta.url));

let infra: Infra;
let survivor: TestEdge;
const children: EdgeProcess[] = [];

beforeAll(async () => {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} missing: run \`npm run build -w @orderwire/edge\` first`);
  infra = await startInfra();
  survivor = await startEdge(infra);
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await survivor?.close();
  await infra?.dispose();
});

describe('edge processes', () => {
  it('an edge SIGKILLed mid-stream: every accepted order is displayed via the other edge (SDK hides duplicates)', async () => {
    const d = newDisplay();
    // ack_wait bounds how long the dead node's unacked batch waits; short to keep the test fast.
    const consumer = await registerDisplay(infra, d, { ackWaitMs: 3_000 });
    const doomed = await spawnEdge(infra);
    children.push(doomed);

    const token = await infra.jwks.sign(d, { ttlSec: 3600 });
    const tokens = createTokenManager({
      development: true,
      authUrl: 'http://127.0.0.1:9', // never called: the access token outlives the test
      store: memoryTokenStore({
        displayId: d.displayId,
        accessToken: token,
        refreshToken: 'unused',
        accessExpiresAt: Date.now() + 3_600_000,
        obtainedAt: Date.now(),
      }),
    });
    const client: DisplayClient = createDisplayClient({ development: true, edgeUrls: [doomed.url, survivor.url], tokens, reconnect: { baseMs: 100, maxMs: 500 } });
    const displayed: string[] = [];
    client.on('order', async (delivery) => {
      await new Promise((r) => setTimeout(r, 5)); // drawing takes a moment: acks are in flight
      displayed.push(delivery.orderId);
    });
    client.start();
    try {
      await waitFor(() => client.state === 'connected', { timeoutMs: 10_000 });
      const accepted: string[] = [];
      for (let i = 0; i < 120; i++) {
        accepted.push((await publishOrder(infra, d)).orderId);
        if (i === 50) doomed.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, 10));
      }
      expect((await doomed.exited).signal).toBe('SIGKILL');
      await waitFor(() => accepted.every((id) => displayed.includes(id)), {
        timeoutMs: 20_000,
        message: () => `displayed ${new Set(displayed).size} of ${accepted.length}`,
      });
      // accepted − displayed = 0, and the app never saw an order twice.
      expect(accepted.filter((id) => !displayed.includes(id))).toEqual([]);
      expect(displayed.length).toBe(new Set(displayed).size);
      expect(client.url).toBe(survivor.url);
      await waitFor(async () => (await consumerState(infra, consumer)).ackPending === 0, { timeoutMs: 10_000 });
    } finally {
      client.stop();
    }
  });

  it('SIGTERM drains: displays told to reconnect, in-flight orders handed back at once, exit within the grace', async () => {
    const d = newDisplay();
    const consumer = await registerDisplay(infra, d); // default ack_wait (20 s): hand-back must beat it
    const draining = await spawnEdge(infra, { SHUTDOWN_GRACE: '8s' });
    children.push(draining);
    const token = await infra.jwks.sign(d);
    const published = [];
    for (let i = 0; i < 5; i++) published.push(await publishOrder(infra, d));
    const holder = new TestDisplay(token, { policy: () => 'silent' }); // shows nothing, answers nothing
    await holder.connect(draining.url);
    await waitFor(() => holder.received.length === 5, { timeoutMs: 5_000 });
    expect((await consumerState(infra, consumer)).ackPending).toBe(5);

    const t0 = Date.now();
    draining.kill('SIGTERM');
    await waitFor(() => holder.sessionEnds.length > 0, { timeoutMs: 3_000 });
    expect(holder.sessionEnds[0]).toEqual({ reason: 'server_shutdown', reconnect: true });

    const next = new TestDisplay(token);
    await next.connect(survivor.url);
    try {
      await waitFor(() => next.shown.size === 5, { timeoutMs: 5_000 });
      expect(Date.now() - t0).toBeLessThan(5_000); // handed back, not redelivered after ack_wait
      expect(next.shownOrderIds()).toEqual(published.map((p) => p.orderId));
      const { code, signal } = await draining.exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(8_000);
      expect(draining.output()).toMatch(/"msg":"edge drained"/);
    } finally {
      holder.disconnect();
      next.disconnect();
    }
  });

  it('while draining, new handshakes are refused with server_shutdown and readiness is false', async () => {
    const edge = await startEdge(infra);
    try {
      const d = newDisplay();
      await registerDisplay(infra, d);
      await edge.app.drain();
      expect((await fetch(`${edge.url}/readyz`)).status).toBe(503);
      expect(await handshakeRefusal(edge.url, await infra.jwks.sign(d))).toBe('server_shutdown');
    } finally {
      await edge.close();
    }
  });
});
