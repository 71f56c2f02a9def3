/**
 * Tenant isolation at the edge (issue 12, item 1): whatever a display's consumer holds, the edge
 * emits only messages of the session's own tenant and store (and its own display subject), and
 * terminates the rest.
 */
import { displayFilterSubjects, displaySubject, stationSubject } from '@orderwire/contracts';
import { orderStreamFor } from '@orderwire/platform';
import { waitFor } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDisplay } from './support/display.js';
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
    // The foreign tenant and store are picked on the display's partition stream, the only one its
    // consumer can read.
    const stream = (await orderStreamFor(infra.jsm, d.tenant, d.store))!;
    const onStream = async (make: (i: number) => [string, string]): Promise<[string, string]> => {
      for (let i = 0; ; i++) if ((await orderStreamFor(infra.jsm, ...make(i))) === stream) return make(i);
    };
    const [foreignTenant] = await onStream((i) => [`acme_x${i}`, d.store]);
    const [, foreignStore] = await onStream((i) => ['acme', `other-store${i}`]);
    // Someone with JetStream access rewrote the filters (the collision of issue 12, or worse).
    const foreign = {
      tenant: stationSubject(foreignTenant, d.store, 'grill'),
      store: stationSubject('acme', foreignStore, 'grill'),
      display: displaySubject('acme', d.store, 'someone-else'),
    };
    await infra.jsm.consumers.update(stream, consumer, {
      filter_subjects: [...displayFilterSubjects(d.tenant, d.store, d.displayId, d.stations), ...Object.values(foreign)],
    });
    const before = { tenant: await foreignCount('tenant'), store: await foreignCount('store'), display: await foreignCount('display') };

    const display = new TestDisplay(await infra.jwks.sign(d));
    await display.connect(edge.url);
    try {
      const t = await publishOrder(infra, { ...d, tenant: foreignTenant });
      const s = await publishOrder(infra, { ...d, store: foreignStore });
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
});
