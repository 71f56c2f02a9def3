/**
 * CPU per JetStream publish in this process: `js.publish()` of @nats-io/jetstream against the
 * mux-based publisher ingest uses (src/jetstream-publish.ts), alternating rounds so machine noise
 * hits both alike. Each round publishes `--count` messages to ORDERS, `--concurrency` at a time.
 *
 *   npx turbo run build --filter=@orderwire/ingest
 *   npx tsx services/ingest/bench/publish-cost.ts [--count 5000] [--concurrency 8] [--rounds 4]
 */
import { parseArgs } from 'node:util';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createLogger, ensureTopology, STREAMS } from '@orderwire/platform';
import { startNats } from '@orderwire/test-harness';
import { createJsPublisher } from '../dist/jetstream-publish.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '4' },
  },
});
const COUNT = Math.min(100_000, Number(args.count));
const CONCURRENCY = Math.min(256, Number(args.concurrency));
const ROUNDS = Math.min(20, Number(args.rounds));

const nats = await startNats();
const nc = await connect({ servers: nats.url });
try {
  await ensureTopology(nc, { streams: [STREAMS.ORDERS], buckets: [] });
  const js = jetstream(nc);
  const mux = createJsPublisher(nc, createLogger({ service: 'bench', version: '0', level: 'silent' }));
  const payload = new TextEncoder().encode(JSON.stringify({ v: 1, tenant: 't1', order: { orderId: 'o', items: [{ name: 'Burger', qty: 2 }] } }));
  const variants = {
    'js.publish': (i: number, h: ReturnType<typeof natsHeaders>) => js.publish('orders.t1.s1.grill', payload, { msgID: `lib-${i}`, headers: h, timeout: 5_000 }),
    mux: (i: number, h: ReturnType<typeof natsHeaders>) => mux.publish('orders.t1.s1.grill', payload, { msgID: `mux-${i}`, headers: h, timeoutMs: 5_000 }),
  };
  const results: Record<string, number[]> = { 'js.publish': [], mux: [] };
  let seq = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, publish] of Object.entries(variants)) {
      const cpu0 = process.cpuUsage();
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < COUNT) {
            next++;
            const h = natsHeaders();
            h.set('Ow-Order-Id', 'o');
            await publish(seq++, h);
          }
        }),
      );
      const cpu = process.cpuUsage(cpu0);
      results[name]!.push((cpu.user + cpu.system) / COUNT);
    }
  }
  for (const [name, us] of Object.entries(results)) {
    const sorted = [...us].sort((a, b) => a - b);
    console.log(`${name.padEnd(10)} µs CPU per publish: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)}  (rounds: ${us.map((u) => u.toFixed(1)).join(', ')})`);
  }
  mux.close();
} finally {
  await nc.close();
  await nats.dispose();
}
