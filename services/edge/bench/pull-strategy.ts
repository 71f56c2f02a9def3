/**
 * Pull-strategy benchmark for the edge (ADR 0002). For N display consumers on a real
 * nats-server it compares:
 *   mailbox        doorbell-woken single-shot raw pulls over one shared inbox (the edge's engine)
 *   mailbox-fetch  the same mailboxes, but each pull is the client library's consumer.fetch()
 *   consume        one long-lived consumer.consume() loop per display (the naive design)
 * and reports attach time, idle cost, burst throughput (one order to each of N displays),
 * trickle latency, deep-backlog throughput, process RSS/CPU, nats-server CPU and event-loop delay.
 *
 *   npx tsx bench/pull-strategy.ts --displays=1000,10000 --strategies=mailbox,mailbox-fetch,consume
 *
 * `--partitions=P` (ADR 0003) spreads the displays over P order streams instead of one ORDERS:
 * a store's subjects carry a virtual-partition token, `orders.<vp>.<tenant>.<store>.<...>`, with
 * vp = FNV-1a(`<tenant>.<store>`) mod `--vpartitions` (default 256), and stream ORDERS_P<i>
 * captures `orders.<vp>.>` for every vp with vp mod P = i. P=1 (default) is today's layout:
 * one ORDERS stream on `orders.>`, subjects without the token.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type Consumer, type ConsumerConfig, type JsMsg } from '@nats-io/jetstream';
import { pino } from 'pino';
import { displayConsumerConfig, ensureTopology, STREAMS, streamDeclarations } from '@orderwire/platform';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { createDeliveryEngine, type DeliveryEngine, type DeliveryEngineOptions } from '../src/delivery/engine.js';
import { parseAckSubject, type Acker, type PulledMessage } from '../src/delivery/js-message.js';
import { createPuller, type Puller, type PullResult } from '../src/delivery/puller.js';

type Strategy = 'mailbox' | 'mailbox-fetch' | 'consume';
type PullerFactory = NonNullable<DeliveryEngineOptions['createPuller']>;

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'];
  }),
);
const DISPLAYS = (args.get('displays') ?? '1000,10000').split(',').map(Number);
const STRATEGIES = (args.get('strategies') ?? 'mailbox,mailbox-fetch,consume').split(',') as Strategy[];
const IDLE_MS = Number(args.get('idle-ms') ?? 10_000);
const TRICKLE_RATE = Number(args.get('trickle-rate') ?? 500);
const TRICKLE_MS = Number(args.get('trickle-ms') ?? 10_000);
const PHASE_TIMEOUT_MS = Number(args.get('phase-timeout-ms') ?? 90_000);
const MAX_PULLS = args.has('max-pulls') ? Number(args.get('max-pulls')) : undefined;
/**
 * `multi`: the platform's display consumer (station subjects + the display's own subject).
 * `single`: one literal filter subject per consumer — on nats-server 2.10 a pull that finds a
 * message is ~50× cheaper for the server (no linear `firstMatchingMulti` scan); see ADR 0002.
 */
const FILTER = (args.get('filter') ?? 'multi') as 'multi' | 'single';
/** Order streams the displays are spread over (ADR 0003). 1 = today's single ORDERS stream. */
const PARTITIONS = (args.get('partitions') ?? '1').split(',').map(Number);
/**
 * Virtual partitions: the fixed token in the subject. Streams own whole virtual partitions, so
 * changing the stream count moves consumers but never changes a subject.
 */
const VPARTITIONS = Number(args.get('vpartitions') ?? 256);
/** nats-server's pprof port (`--profile`), to profile the server during a phase (ADR 0003). */
const NATS_PROFILE_PORT = args.get('nats-profile-port');
const DEBUG = args.has('debug');
const pullLog = new Map<string, string[]>();
const DEEP_PER_DISPLAY = 20;
const DISPLAYS_PER_STORE = 10;
const BATCH = 32;
const TENANT = 'bench';
const ACK_TIMEOUT_MS = 10_000;
const BENCH_T = 'Bench-T';

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const silent = pino({ level: 'warn' });

interface Display {
  consumer: string;
  station: string;
  /** The order stream holding this display's consumer. */
  stream: string;
  /** Station subject: where the benchmark publishes this display's orders. */
  subject: string;
  filterSubjects: string[];
  /** The consumer as created: the platform's display consumer, subjects partitioned when P > 1. */
  config: Partial<ConsumerConfig>;
}

/** FNV-1a, 32 bit: stable across processes and languages (Go's hash/fnv gives the same value). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

function virtualPartition(tenant: string, store: string): number {
  return fnv1a(`${tenant}.${store}`) % VPARTITIONS;
}

function partitionStream(p: number, partitions: number): string {
  return partitions === 1 ? STREAMS.ORDERS : `${STREAMS.ORDERS}_P${p}`;
}

/** `orders.<tenant>.<store>.<...>` → `orders.<vp>.<tenant>.<store>.<...>` (P > 1 only). */
function partitionSubject(subject: string, vp: number): string {
  const [prefix, ...rest] = subject.split('.');
  return [prefix, String(vp), ...rest].join('.');
}

function displays(n: number, partitions: number): Display[] {
  return Array.from({ length: n }, (_, i) => {
    const store = `s${Math.floor(i / DISPLAYS_PER_STORE)}`;
    const platform = displayConsumerConfig({ tenant: TENANT, store, displayId: `d${i}`, stations: [`st${i}`] });
    const vp = virtualPartition(TENANT, store);
    const all = partitions === 1 ? platform.filter_subjects : platform.filter_subjects.map((s) => partitionSubject(s, vp));
    const filterSubjects = FILTER === 'single' ? [all[0]!] : all;
    const config: Partial<ConsumerConfig> =
      FILTER === 'single' ? { ...platform, filter_subjects: undefined, filter_subject: all[0]! } : { ...platform, filter_subjects: all };
    return {
      consumer: platform.durable_name,
      station: `st${i}`,
      stream: partitionStream(vp % partitions, partitions),
      subject: all[0]!,
      filterSubjects,
      config,
    };
  });
}

/** Creates the order streams: today's ORDERS for P=1, else P copies of its config, each on its virtual partitions. */
async function createStreams(nc: NatsConnection, partitions: number): Promise<void> {
  if (partitions === 1) {
    await ensureTopology(nc, { streams: [STREAMS.ORDERS], buckets: [] });
    return;
  }
  const orders = streamDeclarations().find((d) => d.name === STREAMS.ORDERS)!;
  const jsm = await jetstreamManager(nc);
  for (let p = 0; p < partitions; p++) {
    const subjects: string[] = [];
    for (let vp = p; vp < VPARTITIONS; vp += partitions) subjects.push(`orders.${vp}.>`);
    await jsm.streams.add({ ...orders, name: partitionStream(p, partitions), subjects });
  }
}

/**
 * The engine takes one stream for all its mailboxes (DeliveryEngineOptions.stream). This
 * bench-local adapter sends each pull to the stream of its consumer instead; ADR 0003 lists
 * what the engine itself would need.
 */
function partitionedPuller(base: PullerFactory, streamOf: ReadonlyMap<string, string>): PullerFactory {
  return (deps) => {
    const inner = base(deps);
    return {
      pull: (req) => inner.pull({ ...req, stream: streamOf.get(req.consumer) ?? req.stream }),
      get outstanding() {
        return inner.outstanding;
      },
      get orphans() {
        return inner.orphans;
      },
      close: (timeoutMs) => inner.close(timeoutMs),
    };
  };
}

// ---------------------------------------------------------------------------------------------
// Measurement

class Recorder {
  latencies: number[] = [];
  received = 0;
  acked = 0;
  ackFailures = 0;
  reset(): void {
    this.latencies = [];
    this.received = 0;
    this.acked = 0;
    this.ackFailures = 0;
  }
  record(benchT: string | undefined): void {
    this.received++;
    if (benchT !== undefined && benchT !== '') this.latencies.push(now() - Number(benchT));
  }
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function procStat(pid: number): { cpuMs: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuMs: ticks * 10, rssMb: rssKb / 1024 };
}

interface PhaseStats {
  wallMs: number;
  /** CPU time (ms) the edge process and nats-server spent in the phase: load-independent cost. */
  clientCpuMs: number;
  serverCpuMs: number;
  clientCpuPct: number;
  serverCpuPct: number;
  clientRssMb: number;
  serverRssMb: number;
  loopDelayP99Ms: number;
}

async function measure<T>(server: NatsServerHandle, fn: () => Promise<T>): Promise<{ result: T; stats: PhaseStats }> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const c0 = process.cpuUsage();
  const s0 = procStat(server.pid);
  const t0 = now();
  const result = await fn();
  const wallMs = now() - t0;
  const c1 = process.cpuUsage(c0);
  const s1 = procStat(server.pid);
  h.disable();
  return {
    result,
    stats: {
      wallMs,
      clientCpuMs: (c1.user + c1.system) / 1000,
      serverCpuMs: s1.cpuMs - s0.cpuMs,
      clientCpuPct: ((c1.user + c1.system) / 1000 / wallMs) * 100,
      serverCpuPct: ((s1.cpuMs - s0.cpuMs) / wallMs) * 100,
      clientRssMb: process.memoryUsage().rss / 1024 / 1024,
      serverRssMb: s1.rssMb,
      loopDelayP99Ms: h.percentile(99) / 1e6,
    },
  };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Publisher child

interface Publisher {
  run(cmd: object): Promise<{ sent: number; ms: number }>;
  close(): Promise<void>;
}

async function startPublisher(url: string): Promise<Publisher> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./publisher.ts', import.meta.url)), [url], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`publisher exited ${code}`)));
  });
  return {
    run(cmd) {
      return new Promise((resolve, reject) => {
        child.once('message', (m: { ok: boolean; sent: number; ms: number; error?: string }) =>
          m.ok ? resolve(m) : reject(new Error(m.error)),
        );
        child.send(cmd);
      });
    },
    async close() {
      child.send({ cmd: 'exit' });
      await new Promise((r) => child.once('exit', r));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Strategies

interface Attached {
  /** Completes when every display's first pull has been answered (consume: loop started). */
  close(): Promise<void>;
  pullRtts: number[];
  stats(): Record<string, number>;
}

function fetchPuller(nc: NatsConnection): (deps: { acker: Acker }) => Puller {
  const js = jetstream(nc);
  const consumers = new Map<string, Consumer>();
  let outstanding = 0;
  return () => ({
    async pull(req): Promise<PullResult> {
      outstanding++;
      try {
        let c = consumers.get(req.consumer);
        if (c === undefined) consumers.set(req.consumer, (c = await js.consumers.get(req.stream, req.consumer)));
        // fetch() has no no_wait: it ends when the batch fills or `expires` (min 1 s) passes.
        const iter = await c.fetch({ max_messages: req.batch, expires: 1_000 });
        const messages: PulledMessage[] = [];
        for await (const m of iter) {
          const reply = (m as JsMsg & { reply: string }).reply;
          messages.push({ subject: m.subject, data: m.data, headers: m.headers, reply, info: parseAckSubject(reply)! });
        }
        return { messages, status: 'complete' };
      } catch (err) {
        return { messages: [], status: 'error', description: String(err) };
      } finally {
        outstanding--;
      }
    },
    get outstanding() {
      return outstanding;
    },
    orphans: 0,
    close: () => Promise.resolve(),
  });
}

async function attachMailboxes(nc: NatsConnection, ds: Display[], rec: Recorder, viaFetch: boolean): Promise<Attached> {
  const pullRtts: number[] = [];
  const pullKinds = new Map<string, number>();
  let firstPulls = 0;
  const streamOf = new Map(ds.map((d) => [d.consumer, d.stream]));
  const engine: DeliveryEngine = createDeliveryEngine({
    nc,
    logger: silent,
    batchMax: BATCH,
    ...(MAX_PULLS === undefined ? {} : { maxOutstandingPulls: MAX_PULLS }),
    onPull: (o) => {
      if (DEBUG) {
        const log = pullLog.get(o.consumer) ?? [];
        log.push(`${(now() % 100000).toFixed(1)} ${o.reason} ${o.status} ${o.code ?? ''} n=${o.messages} ${o.ms.toFixed(1)}ms`);
        pullLog.set(o.consumer, log.slice(-12));
      }
      pullRtts.push(o.ms);
      const k = `${o.reason}:${o.status}:${o.code ?? ''}:${o.messages > 0 ? 'msgs' : 'empty'}`;
      pullKinds.set(k, (pullKinds.get(k) ?? 0) + 1);
      if (o.reason === 'connect') firstPulls++;
    },
    createPuller: partitionedPuller(viaFetch ? fetchPuller(nc) : createPuller, streamOf),
  });
  for (const d of ds) {
    engine.open({
      stream: d.stream,
      consumer: d.consumer,
      filterSubjects: d.filterSubjects,
      sink: {
        async deliver(msgs) {
          for (const m of msgs) {
            const t = m.headers?.get(BENCH_T);
            if (DEBUG && t !== undefined && now() - Number(t) > 1000) {
              console.error(`LATE ${d.consumer} seq ${m.info.streamSeq} ${(now() - Number(t)).toFixed(0)} ms; published ${(Number(t) % 100000).toFixed(1)}\n  ${(pullLog.get(d.consumer) ?? []).join('\n  ')}`);
            }
          }
          for (const m of msgs) rec.record(m.headers?.get(BENCH_T));
          await Promise.all(
            msgs.map((m) =>
              engine.acker.ackAck(m, ACK_TIMEOUT_MS).then(
                () => rec.acked++,
                () => rec.ackFailures++,
              ),
            ),
          );
        },
        consumerMissing: () => undefined,
      },
    });
  }
  await until(() => firstPulls >= ds.length, PHASE_TIMEOUT_MS);
  return {
    close: () => engine.close(2_000),
    pullRtts,
    stats: () => ({ ...engine.stats(), firstPulls, ...Object.fromEntries(pullKinds) }),
  };
}

async function attachConsume(nc: NatsConnection, ds: Display[], rec: Recorder): Promise<Attached> {
  const js = jetstream(nc);
  const iters: { stop(): void }[] = [];
  let started = 0;
  const loops: Promise<void>[] = [];
  const PARALLEL = 64;
  let i = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (i < ds.length) {
        const d = ds[i++]!;
        const c = await js.consumers.get(d.stream, d.consumer);
        const msgs = await c.consume({ max_messages: BATCH });
        iters.push(msgs);
        started++;
        loops.push(
          (async () => {
            for await (const m of msgs) {
              rec.record(m.headers?.get(BENCH_T));
              await m.ackAck({ timeout: ACK_TIMEOUT_MS }).then(
                () => rec.acked++,
                () => rec.ackFailures++,
              );
            }
          })().catch(() => undefined),
        );
      }
    }),
  );
  return {
    async close() {
      for (const it of iters) it.stop();
      await Promise.race([Promise.all(loops), sleep(2_000)]);
    },
    pullRtts: [],
    stats: () => ({ loops: started }),
  };
}

// ---------------------------------------------------------------------------------------------
// One run

interface RunResult {
  strategy: Strategy;
  filter: 'multi' | 'single';
  displays: number;
  partitions: number;
  /** Fewest / most displays on one partition stream. */
  perStream: [number, number];
  attach: PhaseStats;
  idle: PhaseStats;
  burst: PhaseStats & { delivered: number; expected: number; perSec: number; p50: number; p99: number; max: number };
  trickle: PhaseStats & { delivered: number; expected: number; p50: number; p99: number; max: number };
  deep: PhaseStats & { delivered: number; expected: number; perSec: number; p50: number; p99: number };
  pullRttP50: number;
  pullRttP99: number;
  engine: Record<string, number>;
  /** 1-minute load average at start and end (other work on the machine skews everything). */
  load: [number, number];
}

async function createConsumers(nc: NatsConnection, ds: Display[]): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const t0 = now();
  let i = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (i < ds.length) {
        const d = ds[i++]!;
        await jsm.consumers.add(d.stream, d.config);
      }
    }),
  );
  return ds.length / ((now() - t0) / 1000);
}

async function run(strategy: Strategy, n: number, partitions: number): Promise<RunResult> {
  const load0 = loadavg()[0]!;
  const server = await startNats(NATS_PROFILE_PORT === undefined ? {} : { args: ['--profile', NATS_PROFILE_PORT] });
  const nc = await connect({ servers: server.url, name: `bench-${strategy}` });
  const publisher = await startPublisher(server.url);
  try {
    await createStreams(nc, partitions);
    const ds = displays(n, partitions);
    const counts = new Map<string, number>();
    for (const d of ds) counts.set(d.stream, (counts.get(d.stream) ?? 0) + 1);
    const perStream: [number, number] = [
      counts.size < partitions ? 0 : Math.min(...counts.values()),
      Math.max(...counts.values()),
    ];
    const rate = await createConsumers(nc, ds);
    console.error(
      `[${strategy} n=${n} P=${partitions}] ${n} consumers created at ${rate.toFixed(0)}/s; displays per stream ${perStream[0]}–${perStream[1]}; load ${loadavg()[0]!.toFixed(2)}`,
    );
    const rec = new Recorder();

    const attach = await measure(server, () =>
      strategy === 'consume' ? attachConsume(nc, ds, rec) : attachMailboxes(nc, ds, rec, strategy === 'mailbox-fetch'),
    );
    const attached = attach.result;
    console.error(`[${strategy} n=${n}] attached in ${attach.stats.wallMs.toFixed(0)} ms`);

    const idle = await measure(server, () => sleep(IDLE_MS));
    console.error(`[${strategy} n=${n}] idle cpu ${idle.stats.clientCpuPct.toFixed(1)}% server ${idle.stats.serverCpuPct.toFixed(1)}%`);

    // Burst: one order to each display.
    rec.reset();
    const burst = await measure(server, async () => {
      const t0 = now();
      const pub = await publisher.run({ cmd: 'burst', subjects: ds.map((d) => d.subject) });
      console.error(`publish took ${pub.ms.toFixed(0)} ms`);
      await until(() => rec.acked >= n, PHASE_TIMEOUT_MS);
      return now() - t0;
    });
    const burstLat = rec.latencies;
    const burstDelivered = rec.acked;
    console.error(`[${strategy} n=${n}] burst ${burstDelivered}/${n} in ${burst.result.toFixed(0)} ms`, JSON.stringify(attached.stats()));

    // Trickle: a steady stream to random displays.
    rec.reset();
    console.error(`[${strategy} n=${n}] trickle starts`);
    const trickle = await measure(server, async () => {
      const r = await publisher.run({ cmd: 'trickle', subjects: ds.map((d) => d.subject), rate: TRICKLE_RATE, durationMs: TRICKLE_MS });
      await until(() => rec.acked >= r.sent, PHASE_TIMEOUT_MS);
      return r.sent;
    });
    const trickleLat = rec.latencies;
    const trickleDelivered = rec.acked;
    console.error(`[${strategy} n=${n}] trickle ${trickleDelivered}/${trickle.result}`, JSON.stringify(attached.stats()));

    // Deep: a backlog of DEEP_PER_DISPLAY orders on each of n / DEEP_PER_DISPLAY displays.
    rec.reset();
    const deepDisplays = ds.slice(0, Math.max(1, Math.floor(n / DEEP_PER_DISPLAY)));
    const deepSubjects = deepDisplays.flatMap((d) => Array.from({ length: DEEP_PER_DISPLAY }, () => d.subject));
    const deep = await measure(server, async () => {
      const t0 = now();
      await publisher.run({ cmd: 'burst', subjects: deepSubjects });
      await until(() => rec.acked >= deepSubjects.length, PHASE_TIMEOUT_MS);
      return now() - t0;
    });
    const deepLat = rec.latencies;
    const deepDelivered = rec.acked;
    console.error(`[${strategy} n=${n}] deep ${deepDelivered}/${deepSubjects.length} in ${deep.result.toFixed(0)} ms`);

    const engineStats = attached.stats();
    await attached.close();
    return {
      strategy,
      filter: FILTER,
      displays: n,
      partitions,
      perStream,
      attach: attach.stats,
      idle: idle.stats,
      burst: {
        ...burst.stats,
        delivered: burstDelivered,
        expected: n,
        perSec: burstDelivered / (burst.result / 1000),
        p50: pct(burstLat, 50),
        p99: pct(burstLat, 99),
        max: pct(burstLat, 100),
      },
      trickle: {
        ...trickle.stats,
        delivered: trickleDelivered,
        expected: trickle.result,
        p50: pct(trickleLat, 50),
        p99: pct(trickleLat, 99),
        max: pct(trickleLat, 100),
      },
      deep: {
        ...deep.stats,
        delivered: deepDelivered,
        expected: deepSubjects.length,
        perSec: deepDelivered / (deep.result / 1000),
        p50: pct(deepLat, 50),
        p99: pct(deepLat, 99),
      },
      pullRttP50: pct(attached.pullRtts, 50),
      pullRttP99: pct(attached.pullRtts, 99),
      engine: engineStats,
      load: [load0, loadavg()[0]!],
    };
  } finally {
    await publisher.close();
    await nc.close();
    await server.dispose();
  }
}

const f = (v: number, d = 1): string => (Number.isFinite(v) ? v.toFixed(d) : '–');

function table(results: RunResult[]): string {
  const per = (ms: number, n: number): string => (n > 0 ? f(ms / n, 3) : '–');
  const rows = [
    '| strategy | filter | displays | P (displays per stream) | attach s | burst delivered | burst msg/s | burst p50 / p99 ms | trickle p50 / p99 / max ms | deep msg/s | pull RTT p50 / p99 ms | max loop delay p99 ms | load avg |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const loop = Math.max(r.burst.loopDelayP99Ms, r.trickle.loopDelayP99Ms, r.deep.loopDelayP99Ms);
    rows.push(
      `| ${r.strategy} | ${r.filter} | ${r.displays} | ${r.partitions} (${r.perStream[0]}–${r.perStream[1]}) | ${f(r.attach.wallMs / 1000, 2)} | ${r.burst.delivered}/${r.burst.expected} | ${f(r.burst.perSec, 0)} | ${f(r.burst.p50)} / ${f(r.burst.p99)} | ${f(r.trickle.p50, 2)} / ${f(r.trickle.p99, 2)} / ${f(r.trickle.max)} (${r.trickle.delivered}/${r.trickle.expected}) | ${f(r.deep.perSec, 0)} (${r.deep.delivered}/${r.deep.expected}) | ${f(r.pullRttP50, 2)} / ${f(r.pullRttP99, 2)} | ${f(loop)} | ${f(r.load[0])}→${f(r.load[1])} |`,
    );
  }
  rows.push(
    '',
    '| strategy | filter | displays | P | idle CPU edge / server | burst CPU ms per delivery edge / server | trickle CPU ms per delivery edge / server | deep CPU ms per delivery edge / server | RSS edge / server MB |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of results) {
    rows.push(
      `| ${r.strategy} | ${r.filter} | ${r.displays} | ${r.partitions} | ${f(r.idle.clientCpuPct)} % / ${f(r.idle.serverCpuPct)} % | ${per(r.burst.clientCpuMs, r.burst.delivered)} / ${per(r.burst.serverCpuMs, r.burst.delivered)} | ${per(r.trickle.clientCpuMs, r.trickle.delivered)} / ${per(r.trickle.serverCpuMs, r.trickle.delivered)} | ${per(r.deep.clientCpuMs, r.deep.delivered)} / ${per(r.deep.serverCpuMs, r.deep.delivered)} | ${f(r.deep.clientRssMb, 0)} / ${f(r.deep.serverRssMb, 0)} |`,
    );
  }
  return rows.join('\n');
}

const results: RunResult[] = [];
for (const n of DISPLAYS) {
  for (const p of PARTITIONS) {
    for (const s of STRATEGIES) {
      results.push(await run(s, n, p));
      // Progress survives a later run that hangs or is killed.
      console.error(table(results.slice(-1)));
    }
  }
}
console.log(table(results));
if (args.has('json')) console.log(JSON.stringify(results, null, 2));
process.exit(0);
