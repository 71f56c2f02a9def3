#!/usr/bin/env node
/**
 * `npm run soak -- --minutes N`: one chaos stack (3-node cluster, R3, sync always, Redis, auth,
 * ingest, two edges, dlq, displays on the real SDK) at a moderate steady rate for N minutes, with
 * a fault every few minutes drawn from the chaos cases that keep every service's process (so
 * each service's memory is one series). Samples RSS, heap, open file descriptors and event-loop
 * delay per process; fails on any loss, any on-screen duplicate, or growth past the bound.
 */
import { readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { resolveOut } from './out-path.js';
import { soakFaults } from './chaos/cases.js';
import { growthPerHour, median, scrapeValues, spanAfter, type Point } from './chaos/growth.js';
import { cleanupHost } from './chaos/host-ops.js';
import { DEFAULT_LOAD, runCase, type CaseContext, type ChaosCase } from './chaos/run-case.js';
import { sampleProcess } from './proc-stats.js';

/** Growth bound of a service's RSS and heap after warm-up: 5 % of its mean per hour. */
export const GROWTH_BOUND_PERCENT_PER_HOUR = 5;
/** Growth is judged only on at least 15 minutes after warm-up; shorter soaks report it. */
export const MIN_JUDGED_SPAN_MS = 15 * 60_000;
/** Warm-up: the first 5 minutes, or a fifth of a shorter soak. */
export const WARMUP_MAX_MS = 5 * 60_000;
/** 10 s between samples */
const SAMPLE_MS = 10_000;
/** A full GC in every service every 5 minutes, before that sample (gc-signal.ts says why). */
const FORCED_GC_EVERY_MS = 5 * 60_000;
/** Time for the forced GC to run and its observer to record the live heap before the sample. */
const FORCED_GC_SETTLE_MS = 1_500;
const GC_SIGNAL_PRELOAD = fileURLToPath(new URL('./gc-signal.js', import.meta.url));
/** A fault every 4 minutes by default */
const DEFAULT_FAULT_EVERY_MIN = 4;
/** 20 orders/s: a moderate steady rate this 2-core machine holds beside the cluster */
const DEFAULT_RATE = 20;
/** Open descriptors may end at most this many above their post-warm-up median (sockets come and go with faults). */
const FD_SLACK = 32;

const NODE_METRICS = [
  'orderwire_node_nodejs_heap_size_used_bytes',
  'orderwire_node_heap_live_bytes',
  'orderwire_node_nodejs_eventloop_lag_p99_seconds',
  'orderwire_node_process_open_fds',
  'orderwire_node_process_resident_memory_bytes',
] as const;

export const SOAK_USAGE = `usage: npm run soak -- --minutes N [--rate M] [--fault-every MIN] [--json FILE]

  --minutes N        length of the soak (default 60)
  --rate M           orders per second (default ${DEFAULT_RATE})
  --fault-every MIN  minutes between faults (default ${DEFAULT_FAULT_EVERY_MIN})
  --json FILE        write the samples and the verdict (results/x.json lands in load-tests/results/)`;

interface Series {
  rssMB: Point[];
  /** Heap used when sampled: a GC sawtooth, reported. */
  heapMB: Point[];
  /** Heap used right after the latest major GC (the live set): what the heap bound judges. */
  heapLiveMB: Point[];
  fds: Point[];
  loopP99Ms: Point[];
}

function openFds(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

function parseArgs(argv: readonly string[]): { minutes: number; rate: number; faultEveryMin: number; json: string | undefined } {
  const o = { minutes: 60, rate: DEFAULT_RATE, faultEveryMin: DEFAULT_FAULT_EVERY_MIN, json: undefined as string | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${a} needs a positive number`);
      i++;
      return n;
    };
    if (a === '--minutes') o.minutes = num();
    else if (a === '--rate') o.rate = num();
    else if (a === '--fault-every') o.faultEveryMin = num();
    else if (a === '--json' && v !== undefined) {
      o.json = v;
      i++;
    } else throw new Error(`unknown option ${a ?? ''}`);
  }
  return o;
}

async function main(argv: readonly string[]): Promise<number> {
  let o: ReturnType<typeof parseArgs>;
  try {
    o = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${SOAK_USAGE}\n`);
    return 2;
  }
  const log = (line: string): void => {
    process.stderr.write(`[soak] ${line}\n`);
  };
  const totalMs = o.minutes * 60_000;
  const warmupMs = Math.min(WARMUP_MAX_MS, totalMs / 5);
  const series = new Map<string, Series>();
  const faultsRun: Array<{ atMin: number; fault: string }> = [];
  const point = (name: string, key: keyof Series, t: number, v: number | undefined): void => {
    if (v === undefined) return;
    let s = series.get(name);
    if (s === undefined) {
      s = { rssMB: [], heapMB: [], heapLiveMB: [], fds: [], loopP99Ms: [] };
      series.set(name, s);
    }
    s[key].push({ t, v });
  };

  // The soak is one long case: its "fault" is the schedule of faults over the whole run.
  const faults = soakFaults();
  const soakCase: ChaosCase = {
    id: 'soak',
    slug: 'soak',
    title: `soak ${o.minutes} min, a fault every ${o.faultEveryMin} min`,
    nodeArgs: ['--expose-gc', '--import', GC_SIGNAL_PRELOAD],
    async fault(ctx: CaseContext) {
      const t0 = Date.now();
      let nextGc = t0;
      const forceGc = async (): Promise<void> => {
        for (const p of ctx.stack.processes()) {
          if (p.pid === undefined || p.name.startsWith('nats-') || p.name === 'redis-server' || p.name.startsWith('display-worker') || p.name === 'bench') continue;
          try {
            process.kill(p.pid, 'SIGUSR2');
          } catch {
            // Gone (a fault restarted it): its next sample is a new start anyway.
          }
        }
        await sleep(FORCED_GC_SETTLE_MS);
      };
      const sampleAll = async (): Promise<void> => {
        if (Date.now() >= nextGc) {
          await forceGc();
          nextGc = Date.now() + FORCED_GC_EVERY_MS;
        }
        const t = Date.now() - t0;
        const procs = [...ctx.stack.processes()];
        for (const p of procs) {
          if (p.pid === undefined) continue;
          // A restarted nats node is a new series: name it by pid.
          const name = p.name.startsWith('nats-') ? `${p.name}#${p.pid}` : p.name;
          const s = sampleProcess(p.pid);
          point(name, 'rssMB', t, s === undefined ? undefined : s.rssBytes / 2 ** 20);
          point(name, 'fds', t, openFds(p.pid));
        }
        for (const name of ctx.control.serviceNames()) {
          const text = await fetch(`${ctx.control.url(name)}/metrics`, { signal: AbortSignal.timeout(2_000) }).then(
            (r) => r.text(),
            () => '',
          );
          const v = scrapeValues(text, NODE_METRICS);
          const heap = v.orderwire_node_nodejs_heap_size_used_bytes;
          const live = v.orderwire_node_heap_live_bytes;
          point(name, 'heapLiveMB', t, live === undefined ? undefined : live / 2 ** 20);
          const lag = v.orderwire_node_nodejs_eventloop_lag_p99_seconds;
          point(name, 'heapMB', t, heap === undefined ? undefined : heap / 2 ** 20);
          point(name, 'loopP99Ms', t, lag === undefined ? undefined : lag * 1000);
        }
      };
      ctx.faultStarted();
      let nextFault = t0 + o.faultEveryMin * 60_000;
      let k = 0;
      while (Date.now() - t0 < totalMs) {
        await sampleAll();
        if (Date.now() >= nextFault) {
          const f = faults[k++ % faults.length]!;
          faultsRun.push({ atMin: Math.round((Date.now() - t0) / 6000) / 10, fault: f.slug });
          ctx.note(`fault ${f.id} ${f.slug}`);
          // Each fault marks its own window; the soak's window is the whole run.
          await f.fault({ ...ctx, faultStarted: () => undefined, faultEnded: () => undefined });
          nextFault = Date.now() + o.faultEveryMin * 60_000;
        }
        await sleep(Math.min(SAMPLE_MS, Math.max(0, totalMs - (Date.now() - t0))));
      }
      nextGc = 0; // the last sample follows a forced GC too
      await sampleAll();
      ctx.faultEnded();
    },
  };
  let result;
  try {
    result = await runCase(soakCase, { ...DEFAULT_LOAD, rate: o.rate, warmupS: 5, tailS: 5 }, log);
  } finally {
    cleanupHost();
  }

  const judged = totalMs - warmupMs >= MIN_JUDGED_SPAN_MS;
  const processes = [...series.entries()].map(([name, s]) => {
    const isService = !name.startsWith('nats-') && name !== 'redis-server' && !name.startsWith('display-worker') && name !== 'bench';
    const rssGrowth = growthPerHour(s.rssMB, warmupMs);
    const sampledHeapGrowth = growthPerHour(s.heapMB, warmupMs);
    // The live set when the process reports it: the sampled heap's slope over minutes is mostly
    // where in the GC sawtooth the samples fell (session 4's 21-min run: +21 %/h on heaps that
    // ended lower than they started).
    const liveGrowth = growthPerHour(s.heapLiveMB, warmupMs);
    const heapGrowth = liveGrowth ?? sampledHeapGrowth;
    const fdMedian = median(s.fds.filter((p) => p.t >= warmupMs).map((p) => p.v));
    const fdLast = s.fds[s.fds.length - 1]?.v;
    const problems: string[] = [];
    if (isService && judged) {
      if (rssGrowth !== undefined && rssGrowth > GROWTH_BOUND_PERCENT_PER_HOUR) problems.push(`RSS grows ${rssGrowth.toFixed(1)} %/h`);
      if (heapGrowth !== undefined && heapGrowth > GROWTH_BOUND_PERCENT_PER_HOUR) problems.push(`${liveGrowth === undefined ? 'heap' : 'live heap'} grows ${heapGrowth.toFixed(1)} %/h`);
    }
    if (isService && fdMedian !== undefined && fdLast !== undefined && fdLast > fdMedian + FD_SLACK) problems.push(`open fds ${fdLast} vs median ${fdMedian}`);
    return {
      name,
      judged: isService && judged,
      spanAfterWarmupMin: Math.round(spanAfter(s.rssMB, warmupMs) / 6000) / 10,
      rssMB: { first: s.rssMB[0]?.v, last: s.rssMB[s.rssMB.length - 1]?.v, growthPerHourPercent: rssGrowth },
      heapMB: { first: s.heapMB[0]?.v, last: s.heapMB[s.heapMB.length - 1]?.v, growthPerHourPercent: sampledHeapGrowth },
      heapLiveMB: { first: s.heapLiveMB[0]?.v, last: s.heapLiveMB[s.heapLiveMB.length - 1]?.v, growthPerHourPercent: liveGrowth },
      fds: { median: fdMedian, last: fdLast },
      loopP99MsMax: s.loopP99Ms.reduce((m, p) => Math.max(m, p.v), 0),
      problems,
    };
  });
  const growthProblems = processes.flatMap((p) => p.problems.map((x) => `${p.name}: ${x}`));
  const ok = result.ok && growthProblems.length === 0;
  const fmt = (x: number | undefined, d = 1): string => (x === undefined ? '—' : x.toFixed(d));
  const lines = [
    `soak ${o.minutes} min at ${o.rate} orders/s, ${faultsRun.length} faults (${faultsRun.map((f) => `${f.atMin}m ${f.fault}`).join(', ')}); nats-server ${result.natsVersion}`,
    `accepted ${result.accepted}, shown ${result.displayed}/${result.expected}, lost ${result.lost}, duplicates on screen ${result.duplicatesShown}, on the wire ${result.duplicatesOnWire}`,
    `growth after ${Math.round(warmupMs / 60000)} min warm-up (bound ${GROWTH_BOUND_PERCENT_PER_HOUR} %/h for services${judged ? '' : `; judged only with ≥ ${MIN_JUDGED_SPAN_MS / 60000} min after warm-up — this run reports it`}):`,
    `${'process'.padEnd(22)} ${'RSS MB first→last'.padEnd(20)} ${'RSS %/h'.padEnd(9)} ${'live heap MB f→l'.padEnd(20)} ${'live %/h'.padEnd(9)} ${'heap sampled %/h'.padEnd(17)} ${'fds med/last'.padEnd(13)} loop p99 max ms`,
    ...processes.map(
      (p) =>
        `${p.name.padEnd(22)} ${`${fmt(p.rssMB.first)}→${fmt(p.rssMB.last)}`.padEnd(20)} ${fmt(p.rssMB.growthPerHourPercent).padEnd(9)} ${`${fmt(p.heapLiveMB.first)}→${fmt(p.heapLiveMB.last)}`.padEnd(20)} ${fmt(p.heapLiveMB.growthPerHourPercent).padEnd(9)} ${fmt(p.heapMB.growthPerHourPercent).padEnd(17)} ${`${fmt(p.fds.median, 0)}/${fmt(p.fds.last, 0)}`.padEnd(13)} ${fmt(p.loopP99MsMax)}`,
    ),
    ...result.failures.map((f) => `FAIL: ${f}`),
    ...growthProblems.map((f) => `FAIL: ${f}`),
    ok ? 'soak: ok' : 'soak: FAILED',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (o.json !== undefined) {
    const file = resolveOut(o.json);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(
      file,
      `${JSON.stringify({ version: 1, minutes: o.minutes, rate: o.rate, warmupMs, judged, faults: faultsRun, result, processes, series: Object.fromEntries(series), ok }, null, 2)}\n`,
    );
    log(`written to ${file}`);
  }
  return ok ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      cleanupHost();
      process.stderr.write(`[soak] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
