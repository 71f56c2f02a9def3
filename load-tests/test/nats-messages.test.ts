import { connect } from '@nats-io/transport-node';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsMessagesPerDelivery, readNatsMessageCounts } from '../src/nats-messages.js';

describe('natsMessagesPerDelivery', () => {
  it('divides the counters moved between two readings by the deliveries', () => {
    expect(natsMessagesPerDelivery({ inMsgs: 100, outMsgs: 200 }, { inMsgs: 620, outMsgs: 830 }, 100)).toEqual({ in: 5.2, out: 6.3 });
  });
  it('gives no figure without both readings or without deliveries', () => {
    expect(natsMessagesPerDelivery(undefined, { inMsgs: 1, outMsgs: 1 }, 10)).toBeUndefined();
    expect(natsMessagesPerDelivery({ inMsgs: 1, outMsgs: 1 }, undefined, 10)).toBeUndefined();
    expect(natsMessagesPerDelivery({ inMsgs: 1, outMsgs: 1 }, { inMsgs: 9, outMsgs: 9 }, 0)).toBeUndefined();
  });
  it('gives no figure when a counter went backwards (a node restarted from 0 in between)', () => {
    expect(natsMessagesPerDelivery({ inMsgs: 500, outMsgs: 500 }, { inMsgs: 20, outMsgs: 900 }, 10)).toBeUndefined();
  });
});

describe('readNatsMessageCounts (a real nats-server)', () => {
  let nats: NatsServerHandle;
  beforeAll(async () => {
    nats = await startNats({ jetstream: false });
  });
  afterAll(async () => {
    await nats?.dispose();
  });

  it("counts the messages clients sent to the server and the server sent to clients", async () => {
    const nc = await connect({ servers: nats.url });
    try {
      let got = 0;
      nc.subscribe('count.me', { callback: () => void got++ });
      await nc.flush();
      const before = await readNatsMessageCounts([nats.monitorUrl]);
      for (let i = 0; i < 50; i++) nc.publish('count.me', 'x');
      await nc.flush();
      await expect.poll(() => got).toBe(50);
      const after = await readNatsMessageCounts([nats.monitorUrl]);
      const per = natsMessagesPerDelivery(before, after, 50);
      expect(per).toBeDefined();
      // 50 in and 50 out, plus whatever the client library's own flushes add (PINGs are not messages).
      expect(per!.in).toBeGreaterThanOrEqual(1);
      expect(per!.in).toBeLessThan(1.1);
      expect(per!.out).toBeGreaterThanOrEqual(1);
      expect(per!.out).toBeLessThan(1.1);
    } finally {
      await nc.close();
    }
  });

  it('sums the nodes, and gives no counts when one of them does not answer', async () => {
    const one = await readNatsMessageCounts([nats.monitorUrl]);
    const two = await readNatsMessageCounts([nats.monitorUrl, nats.monitorUrl]);
    expect(two!.inMsgs).toBeGreaterThanOrEqual(2 * one!.inMsgs);
    expect(await readNatsMessageCounts([nats.monitorUrl, 'http://127.0.0.1:1'])).toBeUndefined();
    expect(await readNatsMessageCounts([])).toBeUndefined();
  });
});
