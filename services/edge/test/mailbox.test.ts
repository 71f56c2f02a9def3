/** The mailbox state machine against a scripted puller (no servers). */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Acker, PulledMessage } from '../src/delivery/js-message.js';
import { createLimiter } from '../src/delivery/limiter.js';
import { MailboxImpl, RACE_RETRY_MS, type MailboxContext } from '../src/delivery/mailbox.js';
import type { PullRequest, PullResult, Puller } from '../src/delivery/puller.js';

function msg(seq: number, pending = 0): PulledMessage {
  return {
    subject: 'orders.t.s.grill',
    data: new Uint8Array(),
    headers: undefined,
    reply: `$JS.ACK.ORDERS.c.1.${seq}.${seq}.0.${pending}`,
    info: { stream: 'ORDERS', consumer: 'c', deliveryCount: 1, streamSeq: seq, deliverySeq: seq, storedAt: 0, pending },
  };
}

/** A puller whose answers the test releases one by one. */
function scriptedPuller(): Puller & { requests: PullRequest[]; answer(r: Partial<PullResult>): void } {
  const waiting: ((r: PullResult) => void)[] = [];
  const requests: PullRequest[] = [];
  return {
    requests,
    pull(req) {
      requests.push(req);
      return new Promise((resolve) => waiting.push(resolve));
    },
    answer(r) {
      waiting.shift()!({ messages: [], status: 'complete', ...r });
    },
    get outstanding() {
      return waiting.length;
    },
    orphans: 0,
    close: () => Promise.resolve(),
  };
}

const LADDER = [2, 10, 50];

function harness(batchMax = 2) {
  const puller = scriptedPuller();
  const naks: number[] = [];
  const acker: Acker = { ackAck: () => Promise.resolve(), nak: (m) => naks.push(m.info.streamSeq), term: () => undefined };
  const delivered: number[][] = [];
  const settle: (() => void)[] = [];
  const ctx: MailboxContext = {
    batchMax,
    sweepIntervalMs: 60_000,
    retryBaseMs: 10,
    retryMaxMs: 10,
    raceRetryMs: LADDER,
    puller,
    limiter: createLimiter(10),
    acker,
    logger: pino({ level: 'silent' }),
    onClose: () => undefined,
  };
  const box = new MailboxImpl('ORDERS', 'c', ['orders.t.s.grill'], {
    deliver: (ms) => {
      delivered.push(ms.map((m) => m.info.streamSeq));
      return new Promise<void>((r) => settle.push(r));
    },
    consumerMissing: () => undefined,
  }, ctx);
  const tick = () => new Promise((r) => setImmediate(r));
  return { box, puller, naks, delivered, settle, tick };
}

describe('mailbox', () => {
  it('pulls at once on connect and on a doorbell, and stays idle after an empty pull nobody rang for', async () => {
    const h = harness();
    h.box.wake('connect');
    expect(h.puller.requests.at(-1)).toEqual({ stream: 'ORDERS', consumer: 'c', batch: 2 });
    h.puller.answer({ code: 404 });
    await h.tick();
    expect(h.box.state).toBe('idle');
    await new Promise((r) => setTimeout(r, 20));
    expect(h.puller.requests).toHaveLength(1);
    h.box.ring();
    expect(h.puller.requests).toHaveLength(2);
    expect(h.box.state).toBe('pulling');
  });

  it('holds one batch at a time; a full batch or pending backlog is followed up after it settles', async () => {
    const h = harness(2);
    h.box.wake('connect');
    h.puller.answer({ messages: [msg(1), msg(2, 3)] });
    await h.tick();
    expect(h.box.state).toBe('delivering');
    h.box.wake('sweep'); // busy: remembered, no second pull
    expect(h.puller.requests).toHaveLength(1);
    h.settle.shift()!();
    await h.tick();
    expect(h.puller.requests).toHaveLength(2);
    expect(h.box.backlog).toBe(3);
  });

  it('a doorbell during delivery is answered by one follow-up pull after the batch settles', async () => {
    const h = harness(5);
    h.box.wake('connect');
    h.puller.answer({ messages: [msg(1)] });
    await h.tick();
    h.box.ring();
    h.box.ring();
    expect(h.puller.requests).toHaveLength(1);
    h.settle.shift()!();
    await h.tick();
    expect(h.puller.requests).toHaveLength(2);
  });

  it('sizes each pull from what it knows waits: rings since the last pull or the reported backlog; batchMax when it cannot know', async () => {
    const h = harness(8);
    h.box.wake('connect');
    expect(h.puller.requests.at(-1)!.batch).toBe(8); // connect: the backlog is unknown
    h.puller.answer({ code: 404 });
    await h.tick();
    h.box.ring();
    expect(h.puller.requests.at(-1)!.batch).toBe(1); // one ring, one stored message
    h.puller.answer({ messages: [msg(1)] });
    await h.tick();
    h.box.ring();
    h.box.ring();
    h.box.ring();
    h.settle.shift()!();
    await h.tick();
    expect(h.puller.requests.at(-1)!.batch).toBe(3); // three rings while delivering
    h.puller.answer({ messages: [msg(2), msg(3), msg(4, 6)] });
    await h.tick();
    h.settle.shift()!();
    await h.tick();
    expect(h.puller.requests.at(-1)!.batch).toBe(6); // the last message reported 6 more
    h.puller.answer({ messages: [msg(5), msg(6), msg(7), msg(8), msg(9), msg(10, 20)] });
    await h.tick();
    h.settle.shift()!();
    await h.tick();
    expect(h.puller.requests.at(-1)!.batch).toBe(8); // capped at batchMax
    h.puller.answer({ code: 404 });
    await h.tick();
    for (const reason of ['handback', 'timer', 'sweep', 'reconnect'] as const) {
      h.box.wake(reason);
      expect(h.puller.requests.at(-1)!.batch, reason).toBe(8);
      h.puller.answer({ code: 404 });
      await h.tick();
    }
  });

  it('a filled pull that asked for fewer than batchMax is not followed up when nothing more is pending', async () => {
    const h = harness(8);
    h.box.wake('connect');
    h.puller.answer({ code: 404 });
    await h.tick();
    h.box.ring();
    h.puller.answer({ messages: [msg(1, 0)] });
    await h.tick();
    h.settle.shift()!();
    await h.tick();
    expect(h.box.state).toBe('idle');
    expect(h.puller.requests).toHaveLength(2);
  });

  it('a ring whose message was not stored yet is retried on the short ladder, never parking a pull', async () => {
    const h = harness();
    h.box.ring();
    h.puller.answer({ code: 404 }); // the doorbell overtook the stream's write
    await h.tick();
    expect(h.puller.requests).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 2 * LADDER[0]! + 5));
    expect(h.puller.requests).toHaveLength(2);
    h.puller.answer({ messages: [msg(5)] });
    await h.tick();
    expect(h.delivered).toEqual([[5]]);
  });

  it('a due timer (nak delay, ack_wait) whose pull comes before the server requeued the message climbs the ladder; a plain timer does not', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const h = harness();
    h.box.wakeAfter(0, true);
    await sleep(60); // the timer's margin is 50 ms; timers fire in order
    expect(h.puller.requests).toHaveLength(1);
    h.puller.answer({ code: 404 }); // a loaded server has not requeued the nak'ed message yet
    await h.tick();
    await sleep(2 * LADDER[0]! + 5);
    expect(h.puller.requests, 'retried on the ladder, not left to the sweep').toHaveLength(2);
    h.puller.answer({ messages: [msg(7)] });
    await h.tick();
    expect(h.delivered).toEqual([[7]]);

    // A timer that expects nothing (a failed pull's backoff): one pull, then idle.
    const p = harness();
    p.box.wakeAfter(0);
    await sleep(60);
    expect(p.puller.requests).toHaveLength(1);
    p.puller.answer({ code: 404 });
    await p.tick();
    await sleep(LADDER.reduce((a, b) => a + b, 0) + 40);
    expect(p.puller.requests).toHaveLength(1);
    expect(p.box.state).toBe('idle');
  });

  it('gives up after the ladder (the sweep takes over)', async () => {
    const h = harness();
    h.box.ring();
    const total = LADDER.reduce((a, b) => a + b, 0);
    const deadline = Date.now() + total + 500;
    while (Date.now() < deadline) {
      if (h.puller.outstanding > 0) h.puller.answer({ code: 404 });
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(h.puller.requests).toHaveLength(1 + LADDER.length);
  });

  it('the default ladder reaches ~30 s out, where the sweep takes over', () => {
    const total = RACE_RETRY_MS.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(25_000);
    expect(total).toBeLessThan(45_000);
  });

  it('closing while a pull is in flight hands its messages straight back', async () => {
    const h = harness();
    h.box.wake('connect');
    h.box.close();
    h.puller.answer({ messages: [msg(7), msg(8)] });
    await h.tick();
    expect(h.naks).toEqual([7, 8]);
    expect(h.delivered).toEqual([]);
    h.box.wake('doorbell');
    expect(h.puller.requests).toHaveLength(1);
  });

  it('a failed pull is retried after a backoff', async () => {
    const h = harness();
    h.box.wake('connect');
    h.puller.answer({ status: 'timeout' });
    await h.tick();
    expect(h.puller.requests).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(h.puller.requests).toHaveLength(2);
  });
});
