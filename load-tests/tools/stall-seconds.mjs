/**
 * Lines up a bench run's per-second latency with what each process did in that second: the
 * event loop's longest delay and GC pauses of the Node processes (stall-probe.mjs), and
 * nats-server's GC cycles (nats-gctrace.sh). Prints one row per second whose p99 is over
 * `--over` ms (default 60), and a count of those seconds that overlap a nats-server GC cycle or
 * an edge's major GC.
 *
 *   node load-tests/tools/stall-seconds.mjs --result /tmp/probe/run.json --probe-dir /tmp/probe [--nats-gc /tmp/probe/nats-gc.log] [--over 60]
 *
 * The run must have been made with `--latency-window 1` (one timeline window per second).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { result: { type: 'string' }, 'probe-dir': { type: 'string' }, 'nats-gc': { type: 'string' }, over: { type: 'string', default: '60' } },
});
if (values.result === undefined) {
  console.error('usage: node tools/stall-seconds.mjs --result RUN.json [--probe-dir DIR] [--nats-gc FILE] [--over MS]');
  process.exit(2);
}
const run = JSON.parse(readFileSync(values.result, 'utf8'));
const t0 = run.publishStartedAt;
const timeline = run.latencyTimeline ?? [];
if (typeof t0 !== 'number' || timeline.length === 0 || timeline.some((w) => w.toS - w.fromS !== 1)) {
  console.error('the result needs publishStartedAt and a 1 s latency timeline (bench --latency-window 1)');
  process.exit(2);
}
const over = Number(values.over);
const second = (epochMs) => Math.floor((epochMs - t0) / 1000);

/** Per process: the loop's longest delay per second, and GC pauses per second. */
const procs = new Map();
if (values['probe-dir'] !== undefined) {
  for (const f of readdirSync(values['probe-dir']).filter((n) => n.endsWith('.jsonl')).sort()) {
    const name = f.replace(/-\d+\.jsonl$/, '');
    const loop = new Map();
    const gcs = new Map();
    for (const line of readFileSync(join(values['probe-dir'], f), 'utf8').split('\n')) {
      if (line === '') continue;
      const x = JSON.parse(line);
      // A loop sample at t covers the second before it.
      if (x.loopMaxMs !== undefined) loop.set(second(x.t - 1), Math.max(loop.get(second(x.t - 1)) ?? 0, x.loopMaxMs));
      else {
        const s = second(x.t);
        gcs.set(s, [...(gcs.get(s) ?? []), x]);
      }
    }
    procs.set(name, { loop, gcs });
  }
}
/** nats-server GC cycles as [start, end] seconds: the trace line is written at the end; its clock field says how long the cycle ran. */
const natsCycles = [];
if (values['nats-gc'] !== undefined) {
  for (const line of readFileSync(values['nats-gc'], 'utf8').split('\n')) {
    const m = /^(\d+\.\d+) gc \d+ @[\d.]+s \d+%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock/.exec(line);
    if (m === null) continue;
    const end = Number(m[1]) * 1000;
    const ms = Number(m[2]) + Number(m[3]) + Number(m[4]);
    const cycle = [(end - ms - t0) / 1000, (end - t0) / 1000];
    // Only the cycles of the publishing window (the start-up's are many and small).
    if (cycle[1] >= 0 && cycle[0] <= timeline.length) natsCycles.push(cycle);
  }
}
const MAJOR = constants.NODE_PERFORMANCE_GC_MAJOR;
let slow = 0;
let withNats = 0;
let withEdgeMajor = 0;
const names = [...procs.keys()];
console.log(`second  p99 ms  nats GC  ${names.map((n) => n.padEnd(18)).join(' ')}`);
for (const w of timeline) {
  const s = w.fromS;
  if (!(w.p99 > over)) continue;
  slow++;
  const nats = natsCycles.some(([a, b]) => a < s + 1 && b > s - 1);
  if (nats) withNats++;
  let edgeMajor = false;
  const cells = names.map((n) => {
    const { loop, gcs } = procs.get(n);
    const major = (gcs.get(s) ?? []).filter((g) => g.gc === MAJOR);
    if (n.startsWith('edge') && (major.length > 0 || (gcs.get(s - 1) ?? []).some((g) => g.gc === MAJOR))) edgeMajor = true;
    return `${String(Math.round(loop.get(s) ?? 0)).padStart(4)}${major.length > 0 ? ` major ${major.map((g) => Math.round(g.ms)).join('+')}` : ''}`.padEnd(18);
  });
  if (edgeMajor) withEdgeMajor++;
  console.log(`${String(s).padStart(6)}  ${w.p99.toFixed(0).padStart(6)}  ${(nats ? 'cycle' : '').padEnd(7)}  ${cells.join(' ')}`);
}
// What "within a second of a cycle" would catch by chance: that share of all the run's seconds.
const nearNats = timeline.filter((w) => natsCycles.some(([a, b]) => a < w.fromS + 1 && b > w.fromS - 1)).length;
console.log(
  `\n${slow} of ${timeline.length} seconds with p99 over ${over} ms` +
    (values['nats-gc'] === undefined ? '' : `; ${withNats} of them within a second of a nats-server GC cycle (${nearNats} of all ${timeline.length} seconds are)`) +
    `${procs.size > 0 ? `; ${withEdgeMajor} at an edge's major GC (this second or the one before)` : ''}.` +
    (natsCycles.length > 0 ? ` nats-server GC cycles: ${natsCycles.length}, ${natsCycles.map(([a, b]) => `${a.toFixed(1)}–${b.toFixed(1)} s`).join(', ')}.` : ''),
);
