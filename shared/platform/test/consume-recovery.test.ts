/**
 * CONSUME_EXPIRES_MS bounds how long a consume() stalls after a reconnect whose first consumer
 * info fails. @nats-io/jetstream re-pulls only after an info succeeds and waits `expires` (with
 * jitter: ½–1½×) between failed infos; a second reconnect meanwhile does not shorten the wait. So:
 * the server goes away, a server without JetStream takes its place (the info is refused), then
 * the real one comes back with its store — as a restarted node that is still recovering looks.
 * With the library's default 30 s this stalled the consumer for 15–45 s (the dlq's NATS-restart
 * test saw it once); with ours it resumes within a few seconds.
 */
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNats, waitFor, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CONSUME_EXPIRES_MS } from '../src/jetstream.js';

let nats: NatsServerHandle;
let standIn: NatsServerHandle | undefined;

beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await standIn?.dispose();
  await nats?.dispose();
});

it('a consume() resumes within a few seconds when JetStream comes back after a refused consumer info', async () => {
  expect(CONSUME_EXPIRES_MS).toBeLessThanOrEqual(5_000);
  const nc = await connect({ servers: nats.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'RECOVER', subjects: ['recover.>'] });
    await jsm.consumers.add('RECOVER', { durable_name: 'c', ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc);
    const msgs = await (await js.consumers.get('RECOVER', 'c')).consume({ expires: CONSUME_EXPIRES_MS });
    const got: string[] = [];
    const loop = (async () => {
      for await (const m of msgs) {
        got.push(m.subject);
        m.ack();
      }
    })();
    await js.publish('recover.before', 'x');
    await waitFor(() => got.includes('recover.before'), { timeoutMs: 10_000, message: 'consumed before the restart' });

    const reconnected = async (): Promise<void> => {
      const before = nc.stats().inMsgs;
      await waitFor(async () => (await nc.rtt().then(() => true, () => false)) && nc.stats().inMsgs >= before, { timeoutMs: 15_000, message: 'client reconnected' });
    };
    await nats.kill();
    standIn = await startNats({ port: nats.port, jetstream: false });
    await reconnected();
    // Give the library its reconnect → info (refused) → backoff.
    await new Promise((r) => setTimeout(r, 500));
    await standIn.dispose();
    standIn = undefined;
    await nats.start();
    await reconnected();

    const t0 = Date.now();
    await js.publish('recover.after', 'y');
    await waitFor(() => got.includes('recover.after'), { timeoutMs: 20_000, message: 'consumed after JetStream came back' });
    const stalledMs = Date.now() - t0;
    // At most 1½ × expires (the library's jitter) plus the re-pull; 30 s expires would take 15–45 s.
    expect(stalledMs).toBeLessThan(1.5 * CONSUME_EXPIRES_MS + 3_000);
    await msgs.close();
    await loop;
  } finally {
    await nc.close();
  }
}, 60_000);
