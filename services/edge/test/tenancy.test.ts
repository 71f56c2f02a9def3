/**
 * Tenant isolation at the edge (issue 12, item 1): whatever a display's consumer holds, the edge
 * emits only messages of the session's own tenant and store (and its own display subject), and
 * terminates the rest; a display whose mailbox is still under the legacy name is served from it
 * only when the consumer's filters prove it is this display's.
 */
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { displayFilterSubjects, displaySubject, legacyDisplayConsumerName, stationSubject } from '@orderwire/contracts';
import { STREAMS } from '@orderwire/platform';
import { waitFor } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDisplay, handshakeRefusal } from './support/display.js';
import { startEdge, type TestEdge } from './support/edge.js';
import { consumerState, newDisplay, publishOrder, registerDisplay, startInfra, type Infra } from './support/infra.js';

let infra: Infra;
let edge: TestEdge;
const advisories: { subject: string; body: Record<string, unknown> }[] = [];

beforeAll(async () => {
  infra = await startInfra();
  edge = await startEdge(infra);
  infra.nc.subscribe('$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>', {
    callback: (_err, msg) => {
      advisories.push({ subject: msg.subject, body: msg.json<Record<string, unknown>>() });
    },
  });
});

afterAll(async () => {
  await edge?.close();
  await infra?.dispose();
});

async function foreignCount(field: string): Promise<number> {
  const text = await (await fetch(`${edge.url}/metrics`)).text();
  const m = new RegExp(`orderwire_edge_foreign_messages_total\\{[^}]*field="${field}"[^}]*\\} (\\d+)`).exec(text);
  return m === null ? Number.NaN : Number(m[1]);
}

describe('tenant isolation at the edge', () => {
  it('terminates a message of another tenant, store or display that reached the mailbox, and shows only its own', async () => {
    const d = newDisplay({ tenant: 'acme', stations: ['grill'] });
    const consumer = await registerDisplay(infra, d);
    // Someone with JetStream access rewrote the filters (the collision of issue 12, or worse).
    const foreign = {
      tenant: stationSubject('acme_x', d.store, 'grill'),
      store: stationSubject('acme', 'other-store', 'grill'),
      display: displaySubject('acme', d.store, 'someone-else'),
    };
    await infra.jsm.consumers.update(STREAMS.ORDERS, consumer, {
      filter_subjects: [...displayFilterSubjects(d.tenant, d.store, d.displayId, d.stations), ...Object.values(foreign)],
    });
    const before = { tenant: await foreignCount('tenant'), store: await foreignCount('store'), display: await foreignCount('display') };

    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edge.url);
    try {
      const t = await publishOrder(infra, { ...d, tenant: 'acme_x' });
      const s = await publishOrder(infra, { ...d, store: 'other-store' });
      const x = await publishOrder(infra, { ...d, displayId: 'someone-else' }, { targeted: true });
      const own = await publishOrder(infra, d);
      await waitFor(() => display.shown.size === 1, { timeoutMs: 5_000 });
      // Everything settled: the foreign three terminated (term counts as acknowledged), ours acked.
      await waitFor(async () => (await consumerState(infra, consumer)).ackFloor === own.seq, { timeoutMs: 5_000 });
      expect(display.shownOrderIds()).toEqual([own.orderId]);
      expect(display.received.map((r) => r.seq)).toEqual([own.seq]);
      expect((await consumerState(infra, consumer)).ackPending).toBe(0);

      await waitFor(() => advisories.filter((a) => a.subject.endsWith(`.${consumer}`)).length === 3, { timeoutMs: 5_000 });
      const terminated = advisories.filter((a) => a.subject.endsWith(`.${consumer}`));
      expect(terminated.map((a) => a.body.stream_seq).sort()).toEqual([t.seq, s.seq, x.seq].sort());
      expect(terminated.map((a) => a.body.reason).sort()).toEqual(['foreign_subject:display', 'foreign_subject:store', 'foreign_subject:tenant']);
      expect(await foreignCount('tenant')).toBe(before.tenant + 1);
      expect(await foreignCount('store')).toBe(before.store + 1);
      expect(await foreignCount('display')).toBe(before.display + 1);
    } finally {
      display.disconnect();
    }
  });

  it('binds a legacy-named mailbox that is provably the display’s, never one whose filters are another’s', async () => {
    // Victim acme_x/1's legacy mailbox shares its name with attacker acme/x_1.
    const victim = newDisplay({ tenant: 'acme_x', displayId: '1', stations: ['grill'] });
    const attacker = newDisplay({ tenant: 'acme', displayId: 'x_1', stations: ['grill'] });
    const legacy = legacyDisplayConsumerName(victim.tenant, victim.displayId);
    expect(legacy).toBe(legacyDisplayConsumerName(attacker.tenant, attacker.displayId));
    await infra.jsm.consumers.add(STREAMS.ORDERS, {
      durable_name: legacy,
      filter_subjects: displayFilterSubjects(victim.tenant, victim.store, victim.displayId, victim.stations),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
    });
    const pending = await publishOrder(infra, victim);

    expect(await handshakeRefusal(edge.url, await infra.jwks.sign(attacker))).toBe('display_decommissioned');

    const display = new TestDisplay(await infra.jwks.sign(victim));
    await display.connect(edge.url);
    try {
      await waitFor(() => display.shown.size === 1, { timeoutMs: 5_000 });
      expect(display.shownOrderIds()).toEqual([pending.orderId]);
    } finally {
      display.disconnect();
    }
  });
  it('a session bound to a legacy mailbox that gets migrated is told to reconnect, and then reads the new mailbox', async () => {
    const d = newDisplay({ tenant: 'mig', stations: ['grill'] });
    const legacy = legacyDisplayConsumerName(d.tenant, d.displayId);
    await infra.jsm.consumers.add(STREAMS.ORDERS, {
      durable_name: legacy,
      filter_subjects: displayFilterSubjects(d.tenant, d.store, d.displayId, d.stations),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
    });
    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edge.url);
    try {
      const first = await publishOrder(infra, d);
      await waitFor(() => display.shown.size === 1, { timeoutMs: 5_000 });
      // What auth's migration does: the new mailbox, then the legacy one deleted.
      await registerDisplay(infra, d);
      await infra.jsm.consumers.delete(STREAMS.ORDERS, legacy);
      const second = await publishOrder(infra, d);
      await waitFor(() => display.sessionEnds.length === 1, { timeoutMs: 5_000 });
      expect(display.sessionEnds[0]).toMatchObject({ reason: 'server_shutdown', reconnect: true });
      await display.connect(edge.url);
      await waitFor(() => display.shown.size === 2, { timeoutMs: 5_000 });
      expect(display.shownOrderIds()).toEqual([first.orderId, second.orderId]);
    } finally {
      display.disconnect();
    }
  });
});
