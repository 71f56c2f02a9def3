/**
 * What a delivery keeps alive while the display has not answered yet. A held delivery lives for
 * the display's round trip plus the double ack and the receipt; under load that outlives two
 * scavenges, so everything it references is promoted and stays in the old generation until the
 * next major GC. The edge's RSS peak under delivery load was that garbage (services/edge/README.md,
 * "Memory"), so a held delivery must not reference the pulled message (decoded NATS headers, the
 * payload view that keeps the NATS read buffer alive), nor the order once it is on the wire.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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
