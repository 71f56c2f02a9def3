/**
 * Diagnostic preload for every Node process of a bench run: once a second it appends to
 * `$STALL_PROBE_DIR/<INSTANCE_ID or script>-<pid>.jsonl` the event loop's longest delay in that
 * second, and every GC pause of 5 ms or more (wall-clock epoch ms). `stall-seconds.mjs` lines
 * the files up with the bench's per-second latency. Not loaded by anything but a person:
 *
 *   STALL_PROBE_DIR=/tmp/probe NODE_OPTIONS="--import $PWD/load-tests/tools/stall-probe.mjs" \
 *     npm run bench:node24 -- --profile scale --partitions 16 --client protocol --latency-window 1 --out /tmp/probe/run.json
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { basename } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';

const dir = process.env.STALL_PROBE_DIR;
if (dir !== undefined && dir !== '') {
  mkdirSync(dir, { recursive: true });
  const name = `${process.env.INSTANCE_ID ?? basename(process.argv[1] ?? 'node', '.js')}-${process.pid}`;
  const file = `${dir}/${name}.jsonl`;
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let lines = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.duration >= 5) lines.push(JSON.stringify({ t: Math.round(performance.timeOrigin + e.startTime), gc: e.detail?.kind, ms: +e.duration.toFixed(1) }));
    }
  }).observe({ entryTypes: ['gc'] });
  setInterval(() => {
    lines.push(JSON.stringify({ t: Date.now(), loopMaxMs: +(loop.max / 1e6).toFixed(1) }));
    loop.reset();
    appendFileSync(file, `${lines.join('\n')}\n`);
    lines = [];
  }, 1000).unref();
}
