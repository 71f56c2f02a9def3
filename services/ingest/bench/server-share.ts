/**
 * nats-server's CPU per operation of what ingest does per order, measured on a real server over N
 * operations (server utime+stime from /proc, as services/edge/bench/server-costs.ts does; this
 * machine has no Go toolchain to read a pprof profile):
 *
 *   - the order publish ingest makes (headers and `Nats-Msg-Id` as intake.ts sets them, to a
 *     partition stream), and the same without `Nats-Msg-Id` (the duplicate-window bookkeeping);
 *   - the acceptance record on RECEIPTS (`Nats-Expected-Last-Subject-Sequence: 0`);
 *   - a core NATS request/reply through the server with no JetStream (the floor: routing two
 *     messages and the socket work around them).
 *
 * Each at one in flight (a request at a time, as one HTTP request makes them) and with `--window`
 * in flight (the server reads and writes several per syscall), rounds alternating so machine
 * noise hits every variant alike. Optionally with `--consumers` display-like pull consumers on the
 * partition stream (each filtering its own station), to see what consumers add to a publish.
 *
 *   npx turbo run build --filter=@orderwire/ingest
 *   npx tsx services/ingest/bench/server-share.ts [--count 3000] [--window 64] [--rounds 3] [--consumers 0]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { HEADERS, orderAcceptedSubject, stationSubject } from '@orderwire/contracts';
import { createLogger, ensureTopology, orderStreamFor } from '@orderwire/platform';
import { startNats } from '@orderwire/test-harness';
import { createJsPublisher } from '../dist/jetstream-publish.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '3000' },
    window: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    consumers: { type: 'string', default: '0' },
  },
});
const COUNT = Math.min(100_000, Number(args.count));
const WINDOW = Math.min(1_024, Number(args.window));
const ROUNDS = Math.min(20, Number(args.rounds));
const CONSUMERS = Math.min(10_000, Number(args.consumers));
for (const [name, v] of [['count', COUNT], ['window', WINDOW], ['rounds', ROUNDS], ['consumers', CONSUMERS]] as const) {
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer`);
}
/** Every operation gives up after this long. */
const OP_TIMEOUT_MS = 10_000;
const TENANT = 'bench';
const STORE = 'store-bench';

/** utime+stime of a process in ms (USER_HZ 100 on Linux). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

const nats = await startNats();
const nc = await connect({ servers: nats.url });
try {
  await ensureTopology(nc, {});
  const js = createJsPublisher(nc, createLogger({ service: 'bench', version: '0', level: 'silent' }));
  const envelope = new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      tenant: TENANT,
      order: { orderId: 'bench-0', storeId: STORE, station: 'grill', items: [{ name: 'Burger', qty: 2, modifiers: ['no onions'] }, { name: 'Fries', qty: 1 }], priority: 'normal', metadata: {} },
      acceptedAt: Date.now(),
      traceId: '0af7651916cd43dd8448eb211c80319c',
    }),
  );
  const record = new TextEncoder().encode(
    JSON.stringify({ v: 1, kind: 'order_accepted', tenant: TENANT, orderId: 'bench-0', at: Date.now(), traceId: '0af7651916cd43dd8448eb211c80319c', targets: [{ displayId: 'd1', stream: 'ORDERS_P0', seq: 1 }] }),
  );
  const orderHeaders = (i: number): MsgHdrs => {
    const h = natsHeaders();
    h.set(HEADERS.orderId, `bench-${i}`);
    h.set(HEADERS.tenant, TENANT);
    h.set(HEADERS.acceptedAt, String(Date.now()));
    h.set(HEADERS.traceId, '0af7651916cd43dd8448eb211c80319c');
    h.set(HEADERS.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    h.set('Ow-Body-Hash', 'sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU');
    return h;
  };

  if (CONSUMERS > 0) {
    const jsm = await jetstreamManager(nc);
    const stream = await orderStreamFor(jsm, TENANT, STORE);
    if (stream === undefined) throw new Error('no order stream holds the bench store');
    for (let i = 0; i < CONSUMERS; i += 32) {
      await Promise.all(
        Array.from({ length: Math.min(32, CONSUMERS - i) }, (_, k) =>
          jsm.consumers.add(stream, {
            durable_name: `bench-c${i + k}`,
            ack_policy: AckPolicy.Explicit,
            filter_subjects: [stationSubject(TENANT, STORE, `st${i + k}`)],
          }),
        ),
      );
    }
  }

  // A core request/reply responder in this process: the server routes the request and the reply.
  const echo = nc.subscribe('bench.echo', { callback: (_err, msg) => {
      msg.respond(msg.data);
    } });
  await nc.flush();

  let n = 0;
  const variants: Record<string, () => Promise<unknown>> = {
    'core request/reply (no JetStream)': () => nc.request('bench.echo', envelope, { timeout: OP_TIMEOUT_MS }),
    'order publish (Nats-Msg-Id + headers)': () => {
      const i = n++;
      return js.publish(stationSubject(TENANT, STORE, 'grill'), envelope, { msgID: `${TENANT}:bench-${i}`, headers: orderHeaders(i), timeoutMs: OP_TIMEOUT_MS });
    },
    'order publish, no Nats-Msg-Id': () => {
      const i = n++;
      return js.publish(stationSubject(TENANT, STORE, 'grill'), envelope, { headers: orderHeaders(i), timeoutMs: OP_TIMEOUT_MS });
    },
    'acceptance record (expect empty subject)': () =>
      js.publish(orderAcceptedSubject(TENANT, `bench-r${n++}`), record, { expect: { lastSubjectSequence: 0 }, timeoutMs: OP_TIMEOUT_MS }),
  };

  const results = new Map<string, number[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const inFlight of [1, WINDOW]) {
      for (const [name, op] of Object.entries(variants)) {
        const key = `${name} @${inFlight} in flight`;
        const cpu0 = cpuMs(nats.pid);
        let next = 0;
        await Promise.all(
          Array.from({ length: inFlight }, async () => {
            while (next < COUNT) {
              next++;
              await op();
            }
          }),
        );
        const us = ((cpuMs(nats.pid) - cpu0) * 1000) / COUNT;
        results.set(key, [...(results.get(key) ?? []), us]);
      }
    }
  }
  console.log(`nats-server CPU per operation, µs (median of ${ROUNDS} rounds of ${COUNT}; ${CONSUMERS} consumers on the order partition)`);
  for (const [key, us] of results) {
    const sorted = [...us].sort((a, b) => a - b);
    console.log(`${sorted[Math.floor(sorted.length / 2)]!.toFixed(1).padStart(7)}  ${key}   (rounds: ${us.map((u) => u.toFixed(0)).join(', ')})`);
  }
  echo.unsubscribe();
  js.close();
} finally {
  await nc.close();
  await nats.dispose();
}
