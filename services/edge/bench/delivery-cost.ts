/**
 * CPU per delivered order of one edge process, measured end to end through the load-tests harness
 * (nats-server + Redis, the built auth, ingest and one edge as processes, displays enrolled and
 * connected with the display SDK, orders through ingest at a fixed rate, one display per station).
 * Prints the edge's CPU ms per delivery (utime+stime from /proc/<pid>/stat over publishing + drain,
 * as the harness samples it), accept → display p50/p99, and the machine load next to each figure.
 *
 *   npx turbo run build --filter=@orderwire/edge... --filter=@orderwire/load-tests...
 *   npx tsx services/edge/bench/delivery-cost.ts [--displays 500] [--rate 250] [--seconds 20]
 *       [--runs 1] [--profile <dir>] [--top 30] [--edge-main <other build's dist/main.js>]
 *
 * `--profile` runs the edge under a CPU profiler (scripts/cpu-prof-preload.mjs, written when it exits) and
 * prints the top functions by self time (services/ingest/bench/profile-top.ts). `--edge-main` runs
 * another build of the edge (e.g. a copy of the last commit's dist/ under services/edge/) in the same
 * stack, so before/after runs can be interleaved on a busy machine. Bounded: every run has a time limit.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findRepoRoot } from '@orderwire/test-harness';

const { values: args } = parseArgs({
  options: {
    displays: { type: 'string', default: '500' },
    rate: { type: 'string', default: '250' },
    seconds: { type: 'string', default: '20' },
    runs: { type: 'string', default: '1' },
    profile: { type: 'string' },
    top: { type: 'string', default: '30' },
    'edge-main': { type: 'string' },
  },
});
const DISPLAYS = Number(args.displays);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const RUNS = Number(args.runs);
for (const [name, v, max] of [
  ['displays', DISPLAYS, 20_000],
  ['rate', RATE, 5_000],
  ['seconds', SECONDS, 300],
  ['runs', RUNS, 10],
] as const) {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`--${name} must be an integer in 1..${max}`);
}
/** drain of 3 s: deliveries at this rate finish within milliseconds of the last order */
const DRAIN_SECONDS = 3;
/** One run may take registration + connection + publishing + drain + shutdown; beyond this it is killed. */
const RUN_TIMEOUT_MS = (120 + SECONDS + DISPLAYS / 100) * 1000;

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const root = findRepoRoot();
if (root === undefined) throw new Error('repository root not found');

interface BenchResult {
  ok: boolean;
  deliveries: { received: number; acked: number; lost: number; perSecond: number };
  latencyMs: { p50: number; p99: number };
  processes: Array<{ name: string; cpuSeconds: number; cpuAvgPercent: number }>;
  machineLoad: { busyPercent: number; otherPercent: number };
}

async function runOnce(run: number): Promise<void> {
  const out = join(tmpdir(), `edge-delivery-cost-${process.pid}-${run}.json`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  const preloads: string[] = [];
  if (args.profile !== undefined) {
    await mkdir(args.profile, { recursive: true });
    preloads.push(join(BENCH_DIR, '../../../scripts/cpu-prof-preload.mjs'));
    env.CPU_PROF_DIR = args.profile;
    env.CPU_PROF_INSTANCE = 'edge';
  }
  if (args['edge-main'] !== undefined) {
    preloads.push(join(BENCH_DIR, 'edge-main-override.mjs'));
    env.EDGE_MAIN_OVERRIDE = resolve(args['edge-main']);
  }
  if (preloads.length > 0) env.NODE_OPTIONS = [env.NODE_OPTIONS ?? '', ...preloads.map((p) => `--import ${p}`)].join(' ').trim();
  const before = loadavg()[0]!;
  const benchArgs = ['load-tests/dist/bench.js', '--displays', String(DISPLAYS), '--rate', String(RATE), '--duration', String(SECONDS), '--edges', '1', '--drain', String(DRAIN_SECONDS), '--out', out];
  const code = await new Promise<number | null>((done, reject) => {
    const child = spawn(process.execPath, benchArgs, { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGTERM'), RUN_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (c) => {
      clearTimeout(timer);
      done(c);
    });
  });
  const r = JSON.parse(await readFile(out, 'utf8')) as BenchResult;
  await rm(out, { force: true });
  const edge = r.processes.find((p) => p.name === 'edge-1');
  if (edge === undefined) throw new Error('no edge-1 in the bench result');
  const perDelivery = (edge.cpuSeconds * 1000) / r.deliveries.received;
  console.log(
    `run ${run}${args['edge-main'] === undefined ? '' : ` (${args['edge-main']})`}: exit ${code} ok=${r.ok} delivered ${r.deliveries.received} (lost ${r.deliveries.lost}, ${r.deliveries.perSecond.toFixed(0)}/s)  ` +
      `edge cpu ${edge.cpuSeconds.toFixed(2)} s = ${perDelivery.toFixed(3)} ms/delivery (${edge.cpuAvgPercent.toFixed(1)} % of a core)  ` +
      `e2e p50 ${r.latencyMs.p50.toFixed(2)} ms p99 ${r.latencyMs.p99.toFixed(1)} ms  ` +
      `machine busy ${r.machineLoad.busyPercent.toFixed(0)} % (other ${r.machineLoad.otherPercent.toFixed(1)} %)  load1 ${before.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`,
  );
}

for (let run = 1; run <= RUNS; run++) await runOnce(run);

const profileDir = args.profile;
if (profileDir !== undefined) {
  const files = (await readdir(profileDir)).filter((f) => f.startsWith('edge-') && f.endsWith('.cpuprofile'));
  const topScript = join(root, 'services/ingest/bench/profile-top.ts');
  for (const f of files) {
    const text = await new Promise<string>((done, reject) =>
      execFile('npx', ['tsx', topScript, join(profileDir, f), args.top], { cwd: root, timeout: 60_000, maxBuffer: 1 << 24 }, (err, stdout) =>
        err === null ? done(stdout) : reject(new Error(`profile-top.ts failed: ${err.message}`, { cause: err })),
      ),
    );
    console.log(text);
  }
}
