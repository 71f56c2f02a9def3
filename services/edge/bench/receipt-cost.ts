/**
 * What a `delivered` receipt costs nats-server, per way of writing it (issue 14 §2), on a real
 * server with the platform's RECEIPTS stream (one message per subject, direct gets allowed):
 *
 *   - the read of the compare-and-set: `$JS.API.STREAM.MSG.GET` (leader, JSON + base64) against
 *     `$JS.API.DIRECT.GET.<stream>.<subject>` (raw message, headers);
 *   - the write: a publish with `Nats-Expected-Last-Subject-Sequence` over a prior receipt, over an
 *     empty subject, and the whole read + write round of `writeReceipt` before and after (read first
 *     vs. optimistic empty publish).
 *
 * CPU is the server's utime+stime from /proc over N operations with `--window` in flight, so
 * the figure holds on a busy machine; the client's CPU is printed too.
 *
 *   npx tsx services/edge/bench/receipt-cost.ts [--n=20000] [--window=128]
 */
import { readFileSync } from 'node:fs';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { PubHeaders } from '@nats-io/jetstream';
import { pino } from 'pino';
import { receiptSubject, type Receipt } from '@orderwire/contracts';
import { ensureTopology, writeReceipt, STREAMS } from '@orderwire/platform';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { createReplyMux } from '../src/delivery/reply-mux.js';
import { createReceiptWriter } from '../src/delivery/receipt-writer.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'];
  }),
);
const N = Number(args.get('n') ?? 20_000);
const WINDOW = Number(args.get('window') ?? 128);
if (!Number.isInteger(N) || N < 100 || N > 500_000) throw new Error('--n must be an integer in 100..500000');
if (!Number.isInteger(WINDOW) || WINDOW < 1 || WINDOW > 4096) throw new Error('--window must be an integer in 1..4096');
const TIMEOUT_MS = 10_000;
const log = pino({ level: 'warn' });

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function parallel(count: number, width: number, fn: (k: number) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < count) await fn(i++);
    }),
  );
}

/** The order stream the receipts name (the receipts' cost does not depend on it). */
const BENCH_STREAM = 'ORDERS_P0';

const receipt = (run: string, k: number, status: Receipt['status']): Receipt => ({
  tenant: 'bench',
  orderId: `${run}-${k}`,
  displayId: 'd1',
  status,
  stream: BENCH_STREAM,
  seq: k + 1,
  at: Date.now(),
  edge: 'bench',
  deliveryCount: 1,
});

async function measure(server: NatsServerHandle, name: string, fn: (k: number) => Promise<void>): Promise<void> {
  const s0 = cpuMs(server.pid);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await parallel(N, WINDOW, fn);
  const wall = performance.now() - t0;
  const server1 = cpuMs(server.pid) - s0;
  const c = process.cpuUsage(c0);
  process.stdout.write(
    `${name.padEnd(58)} server ${((server1 * 1000) / N).toFixed(1).padStart(6)} µs/op   client ${(((c.user + c.system) / 1000 / N) * 1000).toFixed(1).padStart(6)} µs/op   ${Math.round((N / wall) * 1000)} ops/s\n`,
  );
}

async function main(): Promise<void> {
  await using server = await startNats();
  const nc: NatsConnection = await connect({ servers: server.url });
  await ensureTopology(nc, { streams: [STREAMS.RECEIPTS], buckets: [] });
  const mux = createReplyMux(nc, log);
  const enc = new TextEncoder();
  const pendingSeq = new Map<string, number>();

  // Pending receipts (what ingest writes today) for the "one prior receipt" runs.
  const seed = async (run: string): Promise<void> => {
    await parallel(N, WINDOW, async (k) => {
      const r = receipt(run, k, 'pending');
      const h = headers();
      h.set(PubHeaders.ExpectedLastSubjectSequenceHdr, '0');
      const reply = await mux.request(receiptSubject(r.tenant, r.orderId, r.displayId), enc.encode(JSON.stringify(r)), { timeoutMs: TIMEOUT_MS, headers: h });
      const ack = JSON.parse(new TextDecoder().decode(reply.data)) as { seq: number };
      pendingSeq.set(`${run}-${k}`, ack.seq);
    });
  };
  process.stdout.write(`nats-server ${server.url}, ${N} operations each, ${WINDOW} in flight\n`);

  await seed('a');
  await measure(server, 'read: STREAM.MSG.GET last_by_subj (leader)', async (k) => {
    await mux.request(`$JS.API.STREAM.MSG.GET.${STREAMS.RECEIPTS}`, JSON.stringify({ last_by_subj: receiptSubject('bench', `a-${k}`, 'd1') }), { timeoutMs: TIMEOUT_MS });
  });
  await measure(server, 'read: DIRECT.GET.<stream>.<subject>', async (k) => {
    await mux.request(`$JS.API.DIRECT.GET.${STREAMS.RECEIPTS}.${receiptSubject('bench', `a-${k}`, 'd1')}`, new Uint8Array(0), { timeoutMs: TIMEOUT_MS });
  });
  await measure(server, 'write: publish, expected seq = the prior receipt', async (k) => {
    const r = receipt('a', k, 'delivered');
    const h = headers();
    h.set(PubHeaders.ExpectedLastSubjectSequenceHdr, String(pendingSeq.get(`a-${k}`)));
    await mux.request(receiptSubject(r.tenant, r.orderId, r.displayId), enc.encode(JSON.stringify(r)), { timeoutMs: TIMEOUT_MS, headers: h });
  });
  await measure(server, 'write: publish, expected seq 0 (empty subject)', async (k) => {
    const r = receipt('b', k, 'delivered');
    const h = headers();
    h.set(PubHeaders.ExpectedLastSubjectSequenceHdr, '0');
    await mux.request(receiptSubject(r.tenant, r.orderId, r.displayId), enc.encode(JSON.stringify(r)), { timeoutMs: TIMEOUT_MS, headers: h });
  });

  // The edge's whole write, through its receipt writer (reads as the writer does).
  const writer = createReceiptWriter({ mux, instanceId: 'bench', timeoutMs: TIMEOUT_MS });
  await seed('c');
  await measure(server, 'edge writer: delivered over a pending receipt', async (k) => {
    await writer.delivered({ tenant: 'bench', orderId: `c-${k}`, displayId: 'd1', stream: BENCH_STREAM, seq: k + 1, deliveryCount: 1 });
  });
  await measure(server, 'edge writer: delivered on an empty subject', async (k) => {
    await writer.delivered({ tenant: 'bench', orderId: `d-${k}`, displayId: 'd1', stream: BENCH_STREAM, seq: k + 1, deliveryCount: 1 });
  });
  // The platform's generic path (leader read first), for comparison.
  await seed('e');
  await measure(server, 'writeReceipt, leader read + publish (round 3 path)', async (k) => {
    await writeReceipt(
      {
        last: async (subject) => {
          const reply = await mux.request(`$JS.API.STREAM.MSG.GET.${STREAMS.RECEIPTS}`, JSON.stringify({ last_by_subj: subject }), { timeoutMs: TIMEOUT_MS });
          const v = JSON.parse(new TextDecoder().decode(reply.data)) as { message?: { seq: number; data: string } };
          return v.message === undefined ? null : { seq: v.message.seq, data: new Uint8Array(Buffer.from(v.message.data, 'base64')) };
        },
        publish: async (subject, data, expected) => {
          const h = headers();
          h.set(PubHeaders.ExpectedLastSubjectSequenceHdr, String(expected));
          const reply = await mux.request(subject, data, { timeoutMs: TIMEOUT_MS, headers: h });
          const v = JSON.parse(new TextDecoder().decode(reply.data)) as { error?: unknown };
          if (v.error !== undefined) throw new Error(JSON.stringify(v.error));
        },
      },
      receipt('e', k, 'delivered'),
    );
  });
  mux.close();
  await nc.close();
}

await main();
