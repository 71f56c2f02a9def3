/**
 * Changing the number of order partition streams under load (ADR 0003, issue 14 §1): vps move
 * between streams while orders are published, displays online and offline; the edge binds each
 * display to its old ("retiring") mailbox until it is drained, then to its twin on the new stream.
 * Proves: every published order is shown, once, and each display sees its orders in publish order.
 * Also the first adoption of a legacy single `ORDERS` stream holding undelivered orders.
 */
import { AckPolicy, DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { displayConsumerName, orderPartition } from '@orderwire/contracts';
import {
  displayConsumerMetadata,
  ensureTopology,
  finishRepartition,
  listOrderStreams,
  readOrderStreamAssignment,
  repartitionOrderStreams,
} from '@orderwire/platform';
import { waitFor } from '@orderwire/test-harness';
import { afterEach, describe, expect, it } from 'vitest';
import { TestDisplay } from './support/display.js';
import { startEdge, type TestEdge } from './support/edge.js';
import type { DisplayIdentity } from './support/jwks.js';
import { newDisplay, publishOrder, registerDisplay, startInfra, type Infra } from './support/infra.js';

let infra: Infra | undefined;
let edge: TestEdge | undefined;
afterEach(async () => {
  await edge?.close();
  await infra?.dispose();
  edge = undefined;
  infra = undefined;
});

/** Publishes like ingest's caller: a publish that finds no stream (mid-move) is retried with the same Nats-Msg-Id. */
async function publishRetrying(i: Infra, d: DisplayIdentity, orderId: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await publishOrder(i, d, { orderId });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** Keeps a display connected: a `session:end` asking for a reconnect is answered with one. */
function keepConnected(display: TestDisplay, url: string): { reconnects: () => number; stop: () => void } {
  let reconnects = 0;
  let seen = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy || display.sessionEnds.length === seen) return;
    seen = display.sessionEnds.length;
    if (display.sessionEnds.at(-1)?.reconnect !== true) return;
    busy = true;
    reconnects++;
    display.connect(url).then(
      () => (busy = false),
      () => {
        busy = false;
        seen--; // try again on the next tick
      },
    );
  }, 20);
  return { reconnects: () => reconnects, stop: () => clearInterval(timer) };
}

/** Displays whose stores' vps move from P=2 to P=4 and ones that stay, alternating. */
function displaysAcrossVps(n: number): DisplayIdentity[] {
  const out: DisplayIdentity[] = [];
  const moving = (d: DisplayIdentity): boolean => orderPartition(d.tenant, d.store) % 4 >= 2;
  while (out.length < n) {
    const d = newDisplay();
    if (moving(d) === (out.length % 2 === 0)) out.push(d);
  }
  return out;
}

describe('repartition while orders flow (P 2 → 4)', () => {
  it('moves half the vps; nothing is lost and every display sees its orders in publish order', async () => {
    infra = await startInfra();
    const i = infra;
    edge = await startEdge(i);
    const url = edge.url;
    const displays = displaysAcrossVps(8);
    for (const d of displays) await registerDisplay(i, d);
    const published = new Map<string, string[]>(displays.map((d) => [d.displayId, []]));
    let n = 0;
    const publish = async (d: DisplayIdentity): Promise<void> => {
      const orderId = `o-${++n}`;
      await publishRetrying(i, d, orderId);
      published.get(d.displayId)!.push(orderId);
    };
    // A backlog for everyone before the move; half the displays are online, half come later.
    for (let k = 0; k < 3; k++) for (const d of displays) await publish(d);
    const online = displays.filter((_, k) => k % 4 < 2);
    const screens = new Map<string, TestDisplay>();
    const keepers: ReturnType<typeof keepConnected>[] = [];
    for (const d of online) {
      const s = new TestDisplay(await i.jwks.sign(d));
      await s.connect(url);
      screens.set(d.displayId, s);
      keepers.push(keepConnected(s, url));
    }
    try {
      // Orders flow (one publisher, in a loop) while the vps move.
      let flowing = true;
      const flow = (async () => {
        for (let k = 0; flowing && k < 2_000; k++) await publish(displays[k % displays.length]!);
      })();
      await new Promise((r) => setTimeout(r, 100));
      const result = await repartitionOrderStreams(i.jsm, { partitions: 4 });
      expect(result.moves.map((m) => [m.to, m.vps.length])).toEqual([
        ['ORDERS_P2', 64],
        ['ORDERS_P3', 64],
      ]);
      await new Promise((r) => setTimeout(r, 300));
      flowing = false;
      await flow;
      const a = await readOrderStreamAssignment(i.jsm);
      expect(a.owner.every((s, vp) => s === `ORDERS_P${vp % 4}`)).toBe(true);
      // The declaration of P=4 is what the server has now: apply agrees.
      await ensureTopology(i.nc, { orderPartitions: 4, buckets: [] });

      for (const d of displays.filter((x) => !screens.has(x.displayId))) {
        const s = new TestDisplay(await i.jwks.sign(d));
        await s.connect(url);
        screens.set(d.displayId, s);
        keepers.push(keepConnected(s, url));
      }
      for (const d of displays) {
        const s = screens.get(d.displayId)!;
        const want = published.get(d.displayId)!;
        await waitFor(() => s.shown.size >= want.length, { timeoutMs: 20_000, message: `${d.displayId}: ${s.shown.size} of ${want.length} shown` });
        // Exactly its orders, each once, in the order they were published.
        expect(s.shownOrderIds(), d.displayId).toEqual(want);
      }
      // The moved displays' old mailboxes are drained: the finish retires them all.
      const moved = displays.filter((d) => orderPartition(d.tenant, d.store) % 4 >= 2);
      const fin = await finishRepartition(i.jsm);
      expect(fin.remaining).toEqual([]);
      expect(fin.retired).toBe(moved.length);
      for (const d of moved) {
        const name = displayConsumerName(d.tenant, d.displayId);
        await expect(i.jsm.consumers.info(`ORDERS_P${orderPartition(d.tenant, d.store) % 2}`, name)).rejects.toThrow(/consumer not found/);
        const twin = await i.jsm.consumers.info(`ORDERS_P${orderPartition(d.tenant, d.store) % 4}`, name);
        expect(twin.config.metadata?.['orderwire.retiring_from']).toBeUndefined();
      }
      // An order after the finish reaches a moved display on its new stream.
      const last = moved[0]!;
      await publish(last);
      const s = screens.get(last.displayId)!;
      await waitFor(() => s.shown.size === published.get(last.displayId)!.length, { timeoutMs: 10_000 });
      expect([...s.shown.keys()].at(-1)).toMatch(new RegExp(`^ORDERS_P${orderPartition(last.tenant, last.store) % 4}:`));
    } finally {
      for (const k of keepers) k.stop();
      for (const s of screens.values()) s.disconnect();
    }
  }, 90_000);
});

describe('first adoption of a legacy ORDERS stream', () => {
  /** What a pre-partition system had: ORDERS on orders.> with the old subject layout and a mailbox. */
  async function legacySystem(jsm: JetStreamManager, d: DisplayIdentity): Promise<void> {
    await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'], storage: 'file', allow_direct: true });
    await jsm.consumers.add('ORDERS', {
      durable_name: displayConsumerName(d.tenant, d.displayId),
      // The legacy layout, which nothing builds any more (contracts parseLegacyOrderSubject reads it).
      filter_subjects: [`orders.${d.tenant}.${d.store}.grill`, `orders.${d.tenant}.${d.store}.display.${d.displayId}`],
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      metadata: displayConsumerMetadata(d),
    });
  }

  it('apply refuses; the repartition parks it, and its undelivered orders reach the display before the new ones', async () => {
    infra = await startInfra({ topology: false });
    const i = infra;
    const d = newDisplay();
    await legacySystem(i.jsm, d);
    const old: string[] = [];
    for (let k = 0; k < 3; k++) old.push((await publishOrder(i, d, { subject: `orders.${d.tenant}.${d.store}.grill` })).orderId);
    const refused = await ensureTopology(i.nc, {}).then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    expect(refused?.code).toBe('ORDERWIRE_ERR_TOPOLOGY_LEGACY_ORDERS');

    const result = await repartitionOrderStreams(i.jsm, { partitions: 2 });
    expect(result.legacyAdopted).toBe(true);
    await ensureTopology(i.nc, {});
    expect(await listOrderStreams(i.jsm)).toEqual(['ORDERS_P0', 'ORDERS_P1']);
    expect((await i.jsm.streams.info('ORDERS')).config.subjects).toEqual(['ow.retired.ORDERS']);

    edge = await startEdge(i);
    const fresh = await publishOrder(i, d);
    const screen = new TestDisplay(await i.jwks.sign(d));
    const keeper = keepConnected(screen, edge.url);
    await screen.connect(edge.url);
    try {
      await waitFor(() => screen.shown.size === 4, { timeoutMs: 15_000, message: `${screen.shown.size} of 4 shown` });
      expect(screen.shownOrderIds()).toEqual([...old, fresh.orderId]);
      expect([...screen.shown.keys()].slice(0, 3).every((k) => k.startsWith('ORDERS:'))).toBe(true);
      expect(keeper.reconnects()).toBe(1);
      const fin = await finishRepartition(i.jsm);
      expect(fin).toEqual({ retired: 1, remaining: [] });
    } finally {
      keeper.stop();
      screen.disconnect();
    }
  }, 60_000);
});
