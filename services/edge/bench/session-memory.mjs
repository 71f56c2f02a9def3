/**
 * Memory per connected display on one edge: runs the load bench (`--edges 1 --displays N --rate 1`)
 * with bench/edge-mem-probe.mjs in GC mode, signals the edge for full GCs once before the displays
 * connect and once after all of them did, and prints (after − before) / N for the heap a full GC
 * leaves, RSS and external memory, per display. `--snapshot` also writes a heap snapshot at both
 * points (read them with bench/heap-retainers.mjs). `--edge-main <path>` runs another build of the
 * edge (e.g. a copy of the previous dist/) in the same stack layout, so builds can be interleaved.
 *
 *   nice -n 19 node services/edge/bench/session-memory.mjs --displays 2000 [--duration 60] [--snapshot] [--edge-main /tmp/old/dist/main.js]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? dflt : argv[i + 1];
};
const displays = Number(opt('displays', '2000'));
const duration = opt('duration', '60');
const snapshot = argv.includes('--snapshot');
const edgeMain = opt('edge-main', undefined);
const dir = mkdtempSync(join(tmpdir(), 'session-memory-'));
const out = join(dir, 'mem');

const imports = [`--import ${join(here, 'edge-mem-probe.mjs')}`];
if (edgeMain !== undefined) imports.push(`--import ${join(here, 'edge-main-override.mjs')}`);
const child = spawn(process.execPath, [join(root, 'load-tests/dist/bench.js'), '--edges', '1', '--displays', String(displays), '--rate', '1', '--duration', duration, '--json'], {
  cwd: root,
  env: {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${imports.join(' ')}`.trim(),
    EDGE_MEM_PROBE_OUT: out,
    EDGE_MEM_PROBE_GC: '1',
    ...(snapshot ? { EDGE_MEM_PROBE_SNAPSHOT: '1' } : {}),
    ...(edgeMain === undefined ? {} : { EDGE_MAIN_OVERRIDE: resolve(edgeMain) }),
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});

const probeFile = () => readdirSync(dir).find((f) => /^mem\.\d+$/.test(f));
const gcLines = () => {
  const f = probeFile();
  if (f === undefined) return [];
  return readFileSync(join(dir, f), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"event":"gc"'))
    .map((l) => JSON.parse(l));
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function fullGc() {
  // The probe writes its first line a second after the edge starts; the bench may be faster.
  for (let i = 0; i < 100 && probeFile() === undefined; i++) await sleep(100);
  const before = gcLines().length;
  const f = probeFile();
  if (f === undefined) throw new Error('no edge probe file: is the edge running?');
  process.kill(Number(f.split('.')[1]), 'SIGUSR2');
  for (let i = 0; i < 600 && gcLines().length === before; i++) await sleep(100);
  return gcLines().at(-1);
}

let stderr = '';
let phase = 'start';
const points = {};
child.stdout.resume();
child.stderr.on('data', (chunk) => {
  stderr += chunk;
  process.stderr.write(chunk);
  if (phase === 'start' && stderr.includes('registering and connecting')) {
    phase = 'before';
    void fullGc().then((p) => (points.before = p));
  } else if (phase === 'before' && /all \d+ displays connected/.test(stderr)) {
    phase = 'after';
    // Let the last handshakes' garbage and the settle window's presence refresh pass first.
    void sleep(3_000)
      .then(fullGc)
      .then((p) => (points.after = p));
  }
});
const code = await new Promise((r) => child.on('exit', r));
await sleep(500);
if (points.before === undefined || points.after === undefined) {
  process.stderr.write(`session-memory: missing a measurement point (bench exit ${code}); probe dir ${dir}\n`);
  process.exit(1);
}
const per = (k) => (points.after[k] - points.before[k]) / displays;
const result = {
  displays,
  edge: edgeMain ?? 'services/edge/dist/main.js',
  heapAfterGcBytesPerDisplay: Math.round(per('heapUsedBytes')),
  rssBytesPerDisplay: Math.round(per('rssBytes')),
  externalBytesPerDisplay: Math.round(per('externalBytes')),
  heapAfterGcMB: +(points.after.heapUsedBytes / 2 ** 20).toFixed(1),
  rssMB: +(points.after.rssBytes / 2 ** 20).toFixed(1),
  before: points.before,
  after: points.after,
  benchExit: code,
  probeDir: dir,
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
