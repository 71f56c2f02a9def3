/**
 * Pulls sized from what the mailbox knows is waiting (issue 14 §2), against a real nats-server:
 * a `no_wait` pull that asks for exactly the messages there are is answered with them and
 * nothing else, where a pull of `batchMax` also costs a 408 status (and the server a last walk
 * of the stream) — once per delivered order when displays get one order at a time.
 */
import { createInbox, type Msg } from '@nats-io/nats-core';
import { ensureDisplayConsumer } from '@orderwire/platform';
import { waitFor } from '@orderwire/test-harness';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeliveryEngine, type DeliveryEngine } from '../src/delivery/engine.js';
import type { PullObservation } from '../src/delivery/mailbox.js';
import { newDisplay, publishOrder, startInfra, type Infra } from './support/infra.js';

let infra: Infra;
let engine: DeliveryEngine | undefined;

beforeAll(async () => {
  infra = await startInfra();
});

afterAll(async () => {
  await engine?.close(1_000);
  await infra?.dispose();
});

/** Every message the server sends to one raw `no_wait` pull within `ms`. */
async function rawPull(stream: string, consumer: string, batch: number, ms = 300): Promise<Msg[]> {
  const inbox = createInbox();
  const got: Msg[] = [];
  const sub = infra.nc.subscribe(inbox, {
    callback: (_err, m) => {
      got.push(m);
    },
  });
  infra.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify({ batch, no_wait: true }), { reply: inbox });
  await new Promise((r) => setTimeout(r, ms));
  sub.unsubscribe();
  return got;
}

describe('pull sizing', () => {
  it('the server answers a pull of exactly the waiting messages without a status; a larger one ends with 408', async () => {
    const d = newDisplay();
    const { info } = await ensureDisplayConsumer(infra.jsm, d);
    await publishOrder(infra, d);
    const exact = await rawPull(info.stream_name, info.name, 1);
    expect(exact).toHaveLength(1);
    expect(exact[0]!.headers?.code ?? 0).toBe(0);
    exact[0]!.respond('+ACK');
    await publishOrder(infra, d);
    const large = await rawPull(info.stream_name, info.name, 32);
    expect(large).toHaveLength(2);
    expect(large[1]!.headers?.code).toBe(408);
  });

  it('a display getting orders one at a time costs one pull per order, each answered without a status reply', async () => {
    const d = newDisplay();
    const { info } = await ensureDisplayConsumer(infra.jsm, d);
    const pulls: PullObservation[] = [];
    const e = (engine = createDeliveryEngine({ nc: infra.nc, logger: pino({ level: 'silent' }), onPull: (o) => pulls.push(o) }));
    const shown: number[] = [];
    e.open({
      stream: info.stream_name,
      consumer: info.name,
      filterSubjects: info.config.filter_subjects ?? [],
      sink: {
        async deliver(messages) {
          for (const m of messages) {
            await e.acker.ackAck(m, 5_000);
            shown.push(m.info.streamSeq);
          }
        },
        consumerMissing: () => undefined,
      },
    });
    await waitFor(() => pulls.length === 1); // the connect pull: nothing there yet
    const orders = 20;
    for (let i = 0; i < orders; i++) {
      const { seq } = await publishOrder(infra, d);
      await waitFor(() => shown.includes(seq), { timeoutMs: 5_000, intervalMs: 2 });
    }
    const rung = pulls.filter((p) => p.reason === 'doorbell' || p.reason === 'followup' || p.reason === 'race');
    expect(shown).toHaveLength(orders);
    // One pull per order, each of which found its message and ended on the filled batch.
    expect(rung.filter((p) => p.messages > 0)).toHaveLength(orders);
    expect(rung.filter((p) => p.messages > 0 && p.code !== undefined)).toEqual([]);
    // Before sizing, every one of these pulls asked for batchMax and ended with a 408.
    expect(rung.length).toBeLessThanOrEqual(orders + 2);
  });
});
