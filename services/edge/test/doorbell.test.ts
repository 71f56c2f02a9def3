/**
 * Doorbells on a real nats-server with the platform topology: ORDERS republishes each stored
 * order's headers to `ow.ring.<subject>`, and a doorbell subscribes exactly the subjects its
 * mailboxes listen on — so a ring reaches only the connections (edges) that need it. Each
 * doorbell here has its own connection, as two edges do; `nc.stats().inMsgs` counts what
 * nats-server actually sent it, ring or not.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { displaySubject, stationSubject } from '@orderwire/contracts';
import { waitFor } from '@orderwire/test-harness';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDoorbell, type Doorbell, type Ringable } from '../src/delivery/doorbell.js';
import type { DisplayIdentity } from './support/jwks.js';
import { newDisplay, publishOrder, startInfra, type Infra } from './support/infra.js';

const logger = pino({ level: 'silent' });

let infra: Infra;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  infra = await startInfra();
});

afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  await infra?.dispose();
});

/** A doorbell on its own connection (an edge), counting every ring it received, matched or not. */
async function edgeDoorbell(): Promise<{ nc: NatsConnection; bell: Doorbell; received: { matched: number; unmatched: number } }> {
  const nc = await connect({ servers: infra.nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  connections.push(nc);
  const received = { matched: 0, unmatched: 0 };
  const bell = createDoorbell(nc, logger, (matched) => (matched ? received.matched++ : received.unmatched++));
  return { nc, bell, received };
}

class Box implements Ringable {
  rings = 0;
  ring(): void {
    this.rings++;
  }
}

function filters(d: DisplayIdentity): string[] {
  return [...d.stations.map((s) => stationSubject(d.tenant, d.store, s)), displaySubject(d.tenant, d.store, d.displayId)];
}

/**
 * Messages nats-server sent this connection since `before`, once everything it sent before the
 * call has arrived: a PING's PONG comes after them on the same connection.
 */
async function inMsgsSince(nc: NatsConnection, before: number): Promise<number> {
  await nc.flush();
  return nc.stats().inMsgs - before;
}

describe('doorbell', () => {
  it('an order rings only the edge holding a display that listens on its subject, not every edge with a display of its store', async () => {
    const store = `store-ring-${Date.now()}`;
    const grill = newDisplay({ store, stations: ['grill'] });
    const fryer = newDisplay({ store, stations: ['fryer'] });
    const a = await edgeDoorbell();
    const b = await edgeDoorbell();
    const onA = new Box();
    const onB = new Box();
    a.bell.register(onA, filters(grill));
    b.bell.register(onB, filters(fryer));
    // The subscriptions are on the server before anything is published.
    await Promise.all([a.nc.flush(), b.nc.flush()]);
    const aBefore = a.nc.stats().inMsgs;
    const bBefore = b.nc.stats().inMsgs;

    await publishOrder(infra, grill, { station: 'grill' });
    await waitFor(() => onA.rings === 1);
    // The server republishes a stored message to all its subscribers at once: B got its copy,
    // if any, before A got the ring above.
    expect(await inMsgsSince(b.nc, bBefore)).toBe(0);
    expect(b.received).toEqual({ matched: 0, unmatched: 0 });

    // A display-targeted order and a station order of the other side ring B only.
    await publishOrder(infra, fryer, { targeted: true });
    await publishOrder(infra, fryer, { station: 'fryer' });
    await waitFor(() => onB.rings === 2);
    expect(await inMsgsSince(a.nc, aBefore)).toBe(1);
    expect(onA.rings).toBe(1);
    expect(a.received).toEqual({ matched: 1, unmatched: 0 });
    expect(b.received).toEqual({ matched: 2, unmatched: 0 });
    a.bell.close();
    b.bell.close();
  });

  it('holds one subscription per distinct subject, ref-counted by the mailboxes on it, and lets go of each with its last mailbox', async () => {
    const store = `store-refs-${Date.now()}`;
    const d1 = newDisplay({ store, stations: ['grill', 'expo'] });
    const d2 = newDisplay({ store, stations: ['grill'] });
    const { nc, bell, received } = await edgeDoorbell();
    const one = new Box();
    const two = new Box();
    bell.register(one, filters(d1));
    bell.register(one, filters(d1)); // a repeat changes nothing
    bell.register(two, [...filters(d2), ...filters(d2)]); // nor does a subject listed twice
    // grill (shared), expo, d1's own, d2's own
    expect(bell.subscriptions).toBe(4);
    // The SUBs leave on the client's next write: without this flush the first order can reach
    // the server before them, and its ring goes to nobody (the sweep would still pull it).
    await nc.flush();

    await publishOrder(infra, d1, { station: 'grill' });
    await waitFor(() => one.rings === 1 && two.rings === 1);
    await publishOrder(infra, d1, { station: 'expo' });
    await publishOrder(infra, d2, { targeted: true });
    await waitFor(() => one.rings === 2 && two.rings === 2);

    bell.unregister(one, filters(d1));
    bell.unregister(one, filters(d1)); // a second unregister releases nothing
    bell.unregister(new Box(), filters(d2)); // nor does one for a mailbox never registered
    expect(bell.subscriptions).toBe(2);
    await nc.flush(); // the UNSUBs are on the server
    const before = nc.stats().inMsgs;
    await publishOrder(infra, d1, { station: 'expo' }); // nobody left on expo or d1's subject: no ring sent
    await publishOrder(infra, d1, { targeted: true });
    await publishOrder(infra, d2, { station: 'grill' }); // d2 still listens on grill
    await waitFor(() => two.rings === 3);
    expect(await inMsgsSince(nc, before)).toBe(1);
    expect(one.rings).toBe(2);

    bell.unregister(two, filters(d2));
    expect(bell.subscriptions).toBe(0);
    await nc.flush();
    const after = nc.stats().inMsgs;
    await publishOrder(infra, d2, { station: 'grill' });
    await publishOrder(infra, d2, { targeted: true });
    expect(await inMsgsSince(nc, after)).toBe(0);
    expect(two.rings).toBe(3);
    expect(received.unmatched).toBe(0);
  });

  it('rings again after nats-server restarts (the client subscribes its subjects again), close() lets go of every subject, and a closed connection takes none', async () => {
    const d = newDisplay({ stations: ['grill'] });
    const { nc, bell } = await edgeDoorbell();
    const box = new Box();
    bell.register(box, filters(d));
    await nc.flush();
    await publishOrder(infra, d, { station: 'grill' });
    await waitFor(() => box.rings === 1);

    await infra.nats.restart();
    // Both clients are back (the publisher's PubAck needs JetStream; the doorbell's flush, its SUBs).
    await waitFor(async () => (await nc.flush().then(() => true, () => false)) && (await infra.nc.flush().then(() => true, () => false)), { timeoutMs: 15_000 });
    await waitFor(async () => (await publishOrder(infra, d, { targeted: true }).then(() => true, () => false)), { timeoutMs: 15_000 });
    await waitFor(() => box.rings >= 2, { timeoutMs: 5_000 });

    bell.close();
    expect(bell.subscriptions).toBe(0);
    await nc.flush();
    const before = nc.stats().inMsgs;
    const rings = box.rings;
    await publishOrder(infra, d, { station: 'grill' });
    await publishOrder(infra, d, { targeted: true });
    expect(await inMsgsSince(nc, before)).toBe(0);
    expect(box.rings).toBe(rings);

    // A closed connection takes no subscription: the display is not rung (its sweep still pulls), nothing throws.
    await nc.close();
    expect(() => bell.register(box, filters(d))).not.toThrow();
    expect(bell.subscriptions).toBe(0);
  });
});
