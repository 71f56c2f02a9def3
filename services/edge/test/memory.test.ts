/**
 * What the edge keeps per connected display, and what a delivery keeps alive while the display
 * has not answered yet.
 *
 * Per connected display: an edge holds thousands of idle sessions, so a session keeps none of its
 * handshake once started (the token, the raw upgrade headers), and creates no Map, Set, Timeout
 * of its own until it needs one (bench/session-memory.mjs measures the bytes; services/edge/
 * README.md, "Memory"). Counted against a bare Socket.IO server with the same clients in the same
 * process, so what the transport stack costs on both ends cancels out.
 *
 * Per delivery: what a delivery keeps alive while the display has not answered yet. A held delivery lives for
 * the display's round trip plus the double ack and the receipt; under load that outlives two
 * scavenges, so everything it references is promoted and stays in the old generation until the
 * next major GC. The edge's RSS peak under delivery load was that garbage (services/edge/README.md,
 * "Memory"), so a held delivery must not reference the pulled message (decoded NATS headers, the
 * payload view that keeps the NATS read buffer alive), nor the order once it is on the wire.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { queryObjects, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Server } from 'socket.io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@orderwire/test-harness';
import { createPuller } from '../src/delivery/puller.js';
import { TestDisplay } from './support/display.js';
import { startEdge, type TestEdge } from './support/edge.js';
import { consumerState, newDisplay, publishOrder, registerDisplay, startInfra, type Infra } from './support/infra.js';

/** The display answers this late: long enough to look at what the edge holds meanwhile. */
const ANSWER_DELAY_MS = 8_000;
const ORDERS = 3;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let infra: Infra;
let edge: TestEdge;
/** Every message the edge pulled, weakly: collected once nothing of the edge references it. */
const pulled: WeakRef<object>[] = [];

beforeAll(async () => {
  infra = await startInfra();
  edge = await startEdge(
    infra,
    { EDGE_ACK_TIMEOUT: '20s' },
    {
      createPuller(deps) {
        const puller = createPuller(deps);
        return {
          async pull(req) {
            const result = await puller.pull(req);
            for (const m of result.messages) pulled.push(new WeakRef(m));
            return result;
          },
          get outstanding() {
            return puller.outstanding;
          },
          get orphans() {
            return puller.orphans;
          },
          close: (ms) => puller.close(ms),
        };
      },
    },
  );
});

afterAll(async () => {
  await edge?.close();
  await infra?.dispose();
});

async function collectGarbage(): Promise<void> {
  // WeakRefs deref'ed or created in the current job survive its GCs: collect from fresh tasks.
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
}

describe('memory held per delivery', () => {
  it('a delivery awaiting its display keeps neither the pulled message nor its order; it is still acked in JetStream afterwards', async () => {
    const d = newDisplay();
    const consumer = await registerDisplay(infra, d);
    // Published before the display connects: its first pull takes all of them, one batch.
    const seqs: number[] = [];
    for (let i = 0; i < ORDERS; i++) seqs.push((await publishOrder(infra, d)).seq);
    const display = new TestDisplay(await infra.jwks.sign(d), { answerDelayMs: ANSWER_DELAY_MS });
    const started = Date.now();
    await display.connect(edge.url);
    try {
      await waitFor(() => display.received.length === ORDERS, { timeoutMs: ANSWER_DELAY_MS / 2 });
      // Emitted, not answered: the edge holds all of them.
      expect(edge.app.sockets.heldMessages()).toBe(ORDERS);
      expect(pulled.length).toBeGreaterThanOrEqual(ORDERS);
      await collectGarbage();
      expect(Date.now() - started, 'the display answered before the edge was looked at').toBeLessThan(ANSWER_DELAY_MS);
      expect(edge.app.sockets.heldMessages()).toBe(ORDERS);
      expect(pulled.filter((r) => r.deref() !== undefined)).toHaveLength(0);

      // What it held is enough to finish the job: shown, acked (floor at the last), nothing pending.
      await waitFor(() => display.shown.size === ORDERS, { timeoutMs: ANSWER_DELAY_MS + 5_000 });
      expect(display.received.map((r) => r.seq)).toEqual(seqs);
      for (const r of display.received) {
        // The wire delivery is what it always was: the contract's fields, the order included.
        expect(Object.keys(r).sort()).toEqual(['acceptedAt', 'deliveryCount', 'deliveryId', 'order', 'orderId', 'seq']);
        expect(r.order).toMatchObject({ orderId: r.orderId, storeId: d.store });
      }
      await waitFor(async () => (await consumerState(infra, consumer)).ackFloor === seqs[ORDERS - 1], { timeoutMs: 5_000 });
      expect(await consumerState(infra, consumer)).toMatchObject({ ackPending: 0, pending: 0 });
      expect(edge.app.sockets.heldMessages()).toBe(0);
    } finally {
      display.disconnect();
    }
  });
});

/** Idle displays connected for the per-display counts: enough that one-off objects round away. */
const IDLE_DISPLAYS = 40;

interface PerDisplay {
  maps: number;
  sets: number;
  activeTimeouts: number;
}

async function counts(): Promise<PerDisplay> {
  await collectGarbage();
  // queryObjects counts after a full GC; it is marked experimental and says so once.
  return {
    maps: queryObjects(Map, { format: 'count' }),
    sets: queryObjects(Set, { format: 'count' }),
    activeTimeouts: process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length,
  };
}

/** Objects per display that `displays` add while connected to `url` and idle. */
async function perConnectedDisplay(url: string, displays: TestDisplay[], settled: () => boolean | Promise<boolean>): Promise<PerDisplay> {
  const before = await counts();
  await Promise.all(displays.map((d) => d.connect(url)));
  try {
    await waitFor(settled, { timeoutMs: 10_000 });
    // The connect pulls (one per mailbox) find nothing and end; let them.
    await new Promise((r) => setTimeout(r, 500));
    const after = await counts();
    return {
      maps: (after.maps - before.maps) / displays.length,
      sets: (after.sets - before.sets) / displays.length,
      activeTimeouts: (after.activeTimeouts - before.activeTimeouts) / displays.length,
    };
  } finally {
    for (const d of displays) d.disconnect();
  }
}

describe('memory held per connected display', () => {
  it('a started session keeps neither its handshake token object nor the upgrade request', async () => {
    const seen: Array<{ auth: WeakRef<object>; request: WeakRef<object> | undefined; rawHeaders: WeakRef<object> | undefined }> = [];
    // Runs after the edge's own middleware, before its `connection` handler.
    edge.app.sockets.io.use((socket, next) => {
      const req = (socket.conn as { request?: { rawHeaders: string[] } }).request;
      seen.push({
        auth: new WeakRef(socket.handshake.auth),
        request: req === undefined ? undefined : new WeakRef(req),
        rawHeaders: req === undefined ? undefined : new WeakRef(req.rawHeaders),
      });
      next();
    });
    const d = newDisplay();
    await registerDisplay(infra, d);
    const token = await infra.jwks.sign(d);
    const display = new TestDisplay(token);
    await display.connect(edge.url);
    try {
      await waitFor(() => edge.app.sockets.sessions === 1, { timeoutMs: 5_000 });
      expect(seen).toHaveLength(1);
      await collectGarbage();
      const [{ auth, request, rawHeaders }] = seen as [(typeof seen)[0]];
      expect(auth.deref(), 'handshake.auth (the token) is still referenced').toBeUndefined();
      expect(rawHeaders, 'no upgrade request at the handshake').toBeDefined();
      expect(rawHeaders!.deref(), 'the raw upgrade headers are still referenced').toBeUndefined();
      expect(request!.deref(), 'the upgrade request is still referenced').toBeUndefined();
      const [socket] = [...edge.app.sockets.io.sockets.sockets.values()];
      expect(JSON.stringify(socket!.handshake)).not.toContain(token);
      // The session works without them: it is delivered to and acks.
      const { seq } = await publishOrder(infra, d);
      await waitFor(() => display.shown.size === 1, { timeoutMs: 5_000 });
      expect(display.received.map((r) => r.seq)).toEqual([seq]);
    } finally {
      display.disconnect();
      await waitFor(() => edge.app.sockets.sessions === 0, { timeoutMs: 5_000 });
    }
  });

  it('an idle session adds no Map, Set or Timeout of its own to what the transport stack holds', async () => {
    // The control: the same clients, connected to a bare Socket.IO server in this process.
    const http = createServer();
    const bare = new Server(http, { path: '/socket.io', transports: ['websocket'] });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const bareUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    try {
      const control = await perConnectedDisplay(
        bareUrl,
        Array.from({ length: IDLE_DISPLAYS }, () => new TestDisplay('unused')),
        () => bare.sockets.sockets.size === IDLE_DISPLAYS,
      );
      const ids = Array.from({ length: IDLE_DISPLAYS }, () => newDisplay());
      for (const d of ids) await registerDisplay(infra, d);
      const displays = await Promise.all(ids.map(async (d) => new TestDisplay(await infra.jwks.sign(d))));
      const sessions = await perConnectedDisplay(edge.url, displays, () => edge.app.sockets.sessions === IDLE_DISPLAYS);
      // Rounded to a tenth: an object per display is 1.0, one-off objects of either run ≤ 0.1.
      const extra = {
        maps: Math.round((sessions.maps - control.maps) * 10) / 10,
        sets: Math.round((sessions.sets - control.sets) * 10) / 10,
        activeTimeouts: Math.round((sessions.activeTimeouts - control.activeTimeouts) * 10) / 10,
      };
      expect(extra, JSON.stringify({ sessions, control })).toEqual({ maps: expect.closeTo(0, 0) as number, sets: expect.closeTo(0, 0) as number, activeTimeouts: expect.closeTo(0, 0) as number });
    } finally {
      await bare.close();
      await waitFor(() => edge.app.sockets.sessions === 0, { timeoutMs: 5_000 });
    }
  });
});
