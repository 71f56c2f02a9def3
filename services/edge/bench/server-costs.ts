/**
 * Server-side costs behind ADR 0002, measured on a real nats-server with N display consumers:
 *
 *   1. CPU the server spends per `no_wait` pull that finds one message, for the platform's
 *      multi-filter display consumer vs a single literal filter subject, asking for 32 (ended by
 *      a 408 status after the one message) or for exactly 1 (what the mailbox asks for after one
 *      doorbell: no status, no further walk of the stream);
 *   2. publish throughput (PubAck awaited, 256 in flight) to consumers with and without a
 *      pull request parked on them (what `consume()` keeps on every consumer).
 *
 *   npx tsx bench/server-costs.ts --consumers=10000
 */
import { readFileSync } from 'node:fs';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { stationSubject } from '@orderwire/contracts';
import { displayConsumerConfig, ensureTopology, STREAMS } from '@orderwire/platform';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { createAcker } from '../src/delivery/js-message.js';
import { createPuller } from '../src/delivery/puller.js';
import { createReplyMux, type ReplyMux } from '../src/delivery/reply-mux.js';

type Filter = 'multi' | 'single';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'];
  }),
);
const N = Number(args.get('consumers') ?? 10_000);
const PARALLEL_CREATE = 32;
const PUBLISH_WINDOW = 256;
const PULL_CONCURRENCY = 64;
const PAYLOAD = 'x'.repeat(400);
const log = pino({ level: 'warn' });

const subjectOf = (k: number): string => stationSubject('bench', `s${Math.floor(k / 10)}`, `st${k}`);

function serverCpuMs(server: NatsServerHandle): number {
  const stat = readFileSync(`/proc/${server.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function parallel(count: number, width: number, fn: (k: number) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < count) await fn(i++);
    }),
  );
  return performance.now() - t0;
}

/** Consumer name of display k (the platform names it; see displayConsumerConfig). */
const names: string[] = [];

async function setup(filter: Filter): Promise<{ server: NatsServerHandle; nc: NatsConnection; mux: ReplyMux }> {
  const server = await startNats();
  const nc = await connect({ servers: server.url });
  await ensureTopology(nc, { streams: [STREAMS.ORDERS], buckets: [] });
  const jsm = await jetstreamManager(nc);
  await parallel(N, PARALLEL_CREATE, async (k) => {
    const cfg = displayConsumerConfig({ tenant: 'bench', store: `s${Math.floor(k / 10)}`, displayId: `d${k}`, stations: [`st${k}`] });
    names[k] = cfg.durable_name;
    await jsm.consumers.add(STREAMS.ORDERS, filter === 'single' ? { ...cfg, filter_subjects: undefined, filter_subject: subjectOf(k) } : cfg);
  });
  return { server, nc, mux: createReplyMux(nc, log) };
}

async function publishTo(mux: ReplyMux, keys: number[]): Promise<number> {
  const ms = await parallel(keys.length, PUBLISH_WINDOW, async (i) => {
    await mux.request(subjectOf(keys[i]!), PAYLOAD, { timeoutMs: 120_000 });
  });
  return keys.length / (ms / 1000);
}

async function deliveringPullCost(filter: Filter, batch: number): Promise<string> {
  const { server, nc, mux } = await setup(filter);
  try {
    await publishTo(mux, Array.from({ length: N }, (_, k) => k));
    const puller = createPuller({ nc, acker: createAcker(nc, mux), logger: log });
    const cpu0 = serverCpuMs(server);
    let got = 0;
    const ms = await parallel(N, PULL_CONCURRENCY, async (k) => {
      const r = await puller.pull({ stream: STREAMS.ORDERS, consumer: names[k]!, batch });
      got += r.messages.length;
    });
    const cpu = (serverCpuMs(server) - cpu0) / N;
    return `| ${filter} | ${N} | ${batch} | ${(N / (ms / 1000)).toFixed(0)} | ${cpu.toFixed(3)} | ${got} |`;
  } finally {
    await nc.close();
    await server.dispose();
  }
}

async function parkedPublishCost(filter: Filter): Promise<string[]> {
  const { server, nc, mux } = await setup(filter);
  try {
    const slice = Math.floor(N / 2);
    const free = Array.from({ length: slice }, (_, k) => k);
    const parked = Array.from({ length: slice }, (_, k) => slice + k);
    const inbox = createInbox();
    nc.subscribe(`${inbox}.*`, { callback: () => undefined });
    for (const k of parked) {
      nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${STREAMS.ORDERS}.${names[k]!}`, JSON.stringify({ batch: 32, expires: 120e9 }), {
        reply: `${inbox}.${k}`,
      });
    }
    await nc.flush();
    const freeRate = await publishTo(mux, free);
    const parkedRate = await publishTo(mux, parked);
    return [`| ${filter} | without a parked pull | ${freeRate.toFixed(0)} |`, `| ${filter} | with a parked pull | ${parkedRate.toFixed(0)} |`];
  } finally {
    await nc.close();
    await server.dispose();
  }
}

const rows = ['| consumer filter | consumers | batch asked | delivering pulls/s | server CPU ms per pull | delivered |', '|---|---|---|---|---|---|'];
for (const f of ['multi', 'single'] as const) for (const batch of [32, 1]) rows.push(await deliveringPullCost(f, batch));
rows.push('', '| consumer filter | target consumer | publishes/s |', '|---|---|---|');
for (const f of ['multi', 'single'] as const) rows.push(...(await parkedPublishCost(f)));
console.log(rows.join('\n'));
process.exit(0);
