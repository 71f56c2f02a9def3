/**
 * Publisher child of the pull-strategy benchmark: publishes orders the way ingest does
 * (JetStream publish, PubAck awaited, `Ow-Accepted-At` header) from its own process, so the
 * measured process spends its CPU on receiving only. Controlled over the fork IPC channel.
 */
import { connect, headers } from '@nats-io/transport-node';
import { HEADERS } from '@orderwire/contracts';
import { pino } from 'pino';
import { createReplyMux } from '../src/delivery/reply-mux.js';

interface BurstCmd {
  cmd: 'burst';
  subjects: string[];
}
interface TrickleCmd {
  cmd: 'trickle';
  subjects: string[];
  rate: number;
  durationMs: number;
}
type Cmd = BurstCmd | TrickleCmd | { cmd: 'exit' };

/** Publishes awaiting their PubAck at once (ingest's batch endpoint pipelines similarly). */
const WINDOW = 256;
const BENCH_T = 'Bench-T';

const url = process.argv[2]!;
const nc = await connect({ servers: url, name: 'bench-publisher' });
// Raw publish + PubAck over one inbox: the library's per-request Error objects would make
// the publisher, not the edge, the bottleneck on this 2-core machine.
const mux = createReplyMux(nc, pino({ level: 'warn' }));
const PUB_ACK_TIMEOUT_MS = 60_000;
let seq = 0;

const now = (): number => performance.timeOrigin + performance.now();

function envelope(subject: string): string {
  const orderId = `o-${process.pid}-${seq++}`;
  // Station subject, `orders[.<vp>].<tenant>.<store>.<station>` (the vp token when partitioned, ADR 0003).
  const t = subject.split('.');
  return JSON.stringify({
    v: 1,
    tenant: 'bench',
    acceptedAt: Date.now(),
    traceId: orderId,
    order: {
      orderId,
      storeId: t[t.length - 2],
      station: t[t.length - 1],
      items: [
        { name: 'Cheeseburger', qty: 2, modifiers: ['no onions', 'extra pickles'] },
        { name: 'Fries', qty: 1, modifiers: [] },
        { name: 'Cola', qty: 2, notes: 'no ice' },
      ],
      priority: 'normal',
      createdAt: new Date().toISOString(),
      metadata: { channel: 'pos', register: '3' },
    },
  });
}

async function publish(subject: string): Promise<void> {
  const h = headers();
  h.set(BENCH_T, now().toFixed(3));
  h.set(HEADERS.acceptedAt, String(Date.now()));
  const reply = await mux.request(subject, envelope(subject), { headers: h, timeoutMs: PUB_ACK_TIMEOUT_MS });
  const ack = reply.json<{ error?: { description: string } }>();
  if (ack.error !== undefined) throw new Error(ack.error.description);
}

async function burst(subjects: string[]): Promise<void> {
  let i = 0;
  const worker = async (): Promise<void> => {
    while (i < subjects.length) await publish(subjects[i++]!);
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, subjects.length) }, worker));
}

async function trickle(cmd: TrickleCmd): Promise<number> {
  const start = now();
  let sent = 0;
  const inflight = new Set<Promise<void>>();
  while (now() - start < cmd.durationMs) {
    const due = Math.floor(((now() - start) / 1000) * cmd.rate);
    while (sent < due) {
      const p = publish(cmd.subjects[Math.floor(Math.random() * cmd.subjects.length)]!).finally(() => inflight.delete(p));
      inflight.add(p);
      sent++;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(inflight);
  return sent;
}

process.on('message', (m: Cmd) => {
  void (async () => {
    try {
      if (m.cmd === 'exit') {
        await nc.drain();
        process.exit(0);
      }
      const t0 = now();
      const sent = m.cmd === 'burst' ? (await burst(m.subjects), m.subjects.length) : await trickle(m);
      process.send!({ ok: true, sent, ms: now() - t0 });
    } catch (err) {
      process.send!({ ok: false, error: String(err) });
    }
  })();
});
process.send!({ ready: true });
