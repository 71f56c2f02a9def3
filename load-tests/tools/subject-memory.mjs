/**
 * What nats-server keeps in memory per subject a stream holds (docs/adr/0006): a nats-server of
 * its own, a RECEIPTS-shaped stream (`receipts.>`, one message per subject), then `--subjects`
 * messages on subjects of their own, shaped like Orderwire's receipts. Prints the live heap (the
 * server's pprof endpoint collects, then reports HeapAlloc) before and after each step, and the
 * heap bytes per subject. Then, after `--idle` seconds without a write, the heap again: nats-server
 * keeps a subject in the stream's index for as long as it holds a message, and in its block's
 * subject state until 2 min after the block's last use (`defaultFssExpiration`), so the idle
 * figure is what the old blocks of a stream filled over hours cost (docs/adr/0006).
 *
 *   node load-tests/tools/subject-memory.mjs [--nats .tools/bin/nats-server] [--subjects 1000000] [--steps 4] [--idle 150]
 *
 * Bounded: at most 5,000,000 subjects, 2,000 publishes in flight, 10 minutes of writing and 10 of idling.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort, startNats } from '@orderwire/test-harness';

const { values } = parseArgs({
  options: {
    nats: { type: 'string', default: '.tools/bin/nats-server' },
    subjects: { type: 'string', default: '1000000' },
    steps: { type: 'string', default: '4' },
    idle: { type: 'string', default: '150' },
  },
});
const SUBJECTS = Number(values.subjects);
const STEPS = Number(values.steps);
const IDLE_S = Number(values.idle);
if (!Number.isInteger(SUBJECTS) || SUBJECTS < 1000 || SUBJECTS > 5_000_000) throw new Error('--subjects must be an integer from 1000 to 5000000');
if (!Number.isInteger(STEPS) || STEPS < 1 || STEPS > 20) throw new Error('--steps must be an integer from 1 to 20');
if (!Number.isInteger(IDLE_S) || IDLE_S < 0 || IDLE_S > 600) throw new Error('--idle must be a whole number of seconds from 0 to 600');
if (!existsSync(resolve(values.nats))) throw new Error(`--nats ${values.nats}: no such file (npm run tools fetches nats-server into .tools/bin)`);
const IN_FLIGHT = 2_000;
const DEADLINE = Date.now() + 10 * 60_000;

// The harness's nats-server (temp store, free ports, readiness, clean-up), on the binary given,
// with Go's pprof endpoints for the heap readings.
process.env.ORDERWIRE_NATS_SERVER = resolve(values.nats);
const profPort = await freePort();
const server = await startNats({ config: `prof_port: ${profPort}` });

/** Live heap (bytes): nats-server's pprof endpoint collects first (`gc=1`), then reports MemStats' HeapAlloc. */
async function liveBytes() {
  const res = await fetch(`http://127.0.0.1:${profPort}/debug/pprof/heap?gc=1&debug=1`, { signal: AbortSignal.timeout(30_000) });
  const m = /# HeapAlloc = (\d+)/.exec(await res.text());
  if (m === null) throw new Error('no HeapAlloc in the heap profile');
  return Number(m[1]);
}

try {
  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'RECEIPTS', subjects: ['receipts.>'], max_msgs_per_subject: 1, allow_direct: true });
  const js = jetstream(nc);
  const body = new TextEncoder().encode(
    JSON.stringify({ tenant: 'tenant-00042', orderId: 'order-000000000', displayId: 'disp-00000', status: 'delivered', stream: 'ORDERS_P7', seq: 1234567, at: Date.now(), edge: 'edge-7c9d5f6b8-x2k4q', deliveryCount: 1, traceId: '0'.repeat(32) }),
  );
  const base = await liveBytes();
  console.log(JSON.stringify({ subjects: 0, liveMB: +(base / 2 ** 20).toFixed(1) }));
  let written = 0;
  for (let step = 1; step <= STEPS; step++) {
    const end = Math.round((SUBJECTS * step) / STEPS);
    while (written < end) {
      if (Date.now() > DEADLINE) throw new Error(`not done in 10 minutes (${written} subjects)`);
      const batch = [];
      for (; batch.length < IN_FLIGHT && written < end; written++) {
        const orderKey = Buffer.from(`order-${written}`).toString('base64url');
        batch.push(js.publish(`receipts.tenant-00042.${orderKey}.disp-${String(written % 10_000).padStart(5, '0')}`, body));
      }
      await Promise.all(batch);
    }
    const live = await liveBytes();
    const info = await jsm.streams.info('RECEIPTS');
    console.log(
      JSON.stringify({
        subjects: written,
        streamMB: +(info.state.bytes / 1e6).toFixed(1),
        liveMB: +(live / 2 ** 20).toFixed(1),
        heapBytesPerSubject: Math.round((live - base) / written),
        streamBytesPerMessage: Math.round(info.state.bytes / info.state.messages),
      }),
    );
  }
  if (IDLE_S > 0) {
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const live = await liveBytes();
    console.log(JSON.stringify({ subjects: written, idleS: IDLE_S, liveMB: +(live / 2 ** 20).toFixed(1), heapBytesPerSubject: Math.round((live - base) / written) }));
  }
  await nc.close();
} finally {
  await server.dispose();
}
