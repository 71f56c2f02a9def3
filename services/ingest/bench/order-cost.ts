/**
 * CPU per accepted order of the ingest process, measured end to end: nats-server and Redis from
 * @orderwire/test-harness, the built auth and ingest as processes, a client token, then
 * `POST /v1/orders` at a fixed rate over loopback. Prints ingest's CPU ms per accepted order
 * (utime+stime from /proc/<pid>/stat over the measured window) and HTTP p50/p99.
 *
 *   npx turbo run build --filter=@orderwire/ingest... --filter=@orderwire/auth
 *   npx tsx services/ingest/bench/order-cost.ts [--rate 300] [--seconds 20] [--inflight 64]
 *       [--displays 1] [--log-level warn] [--profile <dir>] [--node-options=--max-semi-space-size=32] [--ingest-main <other build's dist/main.js>]
 *
 * `--profile` runs ingest under a CPU profiler (scripts/cpu-prof-preload.mjs; written when it exits) and prints
 * the top functions by self time. Bounded: the run, the warm-up and every request have a limit.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findRepoRoot, runBeforeStart, startNats, startRedis, startServiceProcess, type ServiceProcessHandle } from '@orderwire/test-harness';
import { summarizeProfile } from './profile-top.js';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '4' },
    inflight: { type: 'string', default: '64' },
    displays: { type: 'string', default: '1' },
    'log-level': { type: 'string', default: 'warn' },
    profile: { type: 'string' },
    /** Node flags for the ingest process (e.g. `--max-semi-space-size=32`), besides the profiler's preload. */
    'node-options': { type: 'string', default: '' },
    /** Another build of ingest to compare against, e.g. one of the last commit. */
    'ingest-main': { type: 'string', default: 'services/ingest/dist/main.js' },
  },
});
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const WARMUP_SECONDS = Number(args.warmup);
const MAX_IN_FLIGHT = Number(args.inflight);
const DISPLAYS = Number(args.displays);
for (const [name, v, max] of [
  ['rate', RATE, 5_000],
  ['seconds', SECONDS, 300],
  ['warmup', WARMUP_SECONDS, 60],
  ['inflight', MAX_IN_FLIGHT, 1_000],
  ['displays', DISPLAYS, 100],
] as const) {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`--${name} must be an integer in 0..${max}`);
}
/** Every request gives up after this long. */
const REQUEST_TIMEOUT_MS = 10_000;
const TENANT_STORE = 'store-bench';
const STATION = 'grill';

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const root = findRepoRoot();
if (root === undefined) throw new Error('repository root not found');

function ticksPerSecond(): number {
  return 100; // USER_HZ on Linux
}
/** Busy and total jiffies of the whole machine (first line of /proc/stat). */
function machineJiffies(): { busy: number; total: number } {
  const v = (readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}
/** utime and stime of a process, in seconds. */
function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / ticksPerSecond(), system: Number(f[12]) / ticksPerSecond() };
}
function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

interface Res {
  status: number;
  body: string;
}
const agent = new Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Res> {
  const data = JSON.stringify(body);
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

function runNode(main: string, argv: string[], env: Record<string, string>): Promise<void> {
  return new Promise((res, rej) => {
    execFile(process.execPath, [main, ...argv], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, _out, stderr) =>
      err === null ? res() : rej(new Error(`${main} ${argv.join(' ')}: ${err.message}\n${stderr.slice(-1000)}`)),
    );
  });
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ingest-bench-'));
  const profileDir = args.profile === undefined ? undefined : resolve(args.profile);
  if (profileDir !== undefined) await mkdir(profileDir, { recursive: true });
  const handles: ServiceProcessHandle[] = [];
  const nats = await startNats();
  const redis = await startRedis();
  try {
    const common = {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      AUTH_ISSUER: 'orderwire-auth-bench',
      LOG_LEVEL: args['log-level'],
      SHUTDOWN_GRACE: '5s',
      INGEST_RATE_LIMIT_MAX: '100000000',
      // Above any rate this bench offers: a 429 is not an order's cost.
      INGEST_TENANT_ORDERS_PER_MINUTE: '100000000',
      AUTH_RATE_LIMIT_TOKEN_PER_IP: '100000',
      AUTH_RATE_LIMIT_TOKEN_PER_CLIENT: '100000',
      AUTH_SCRYPT_LOG_N: '12',
    };
    const kek = randomBytes(32).toString('base64');
    // What npm start does first: the topology owner applies every stream and bucket.
    await runBeforeStart({ ...common, AUTH_KEK: kek }, { root: root! });
    const auth = await startServiceProcess({ name: 'auth', main: 'services/auth/dist/main.js', env: { ...common, AUTH_KEK: kek }, startTimeoutMs: 60_000 });
    handles.push(auth);
    const jwksUrl = `${auth.url}/.well-known/jwks.json`;
    const credsFile = join(dir, 'creds.json');
    await runNode(join(root!, 'services/auth/dist/cli.js'), ['seed-dev', '--out', credsFile], { ...common, AUTH_KEK: kek, AUTH_JWKS_URL: jwksUrl, LOG_LEVEL: 'warn' });
    const creds = JSON.parse(await readFile(credsFile, 'utf8')) as {
      upstream: { clientId: string; clientSecret: string };
      operator: { clientId: string; clientSecret: string };
    };
    const token = async (c: { clientId: string; clientSecret: string }, scope: string): Promise<string> => {
      const r = await post(`${auth.url}/v1/oauth/token`, { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret, scope });
      if (r.status !== 200) throw new Error(`token ${scope}: ${r.status} ${r.body}`);
      return (JSON.parse(r.body) as { access_token: string }).access_token;
    };
    // Displays on the station, registered before ingest starts: each order writes one pending receipt per display.
    const operator = await token(creds.operator, 'displays:manage');
    for (let i = 0; i < DISPLAYS; i++) {
      const r = await post(
        `${auth.url}/v1/displays`,
        { displayId: `bench-d${i}`, storeId: TENANT_STORE, stations: [STATION] },
        { authorization: `Bearer ${operator}` },
      );
      if (r.status !== 201) throw new Error(`register display: ${r.status} ${r.body}`);
    }

    const ingest = await startServiceProcess({
      name: 'ingest',
      main: args['ingest-main'],
      env: {
        ...common,
        AUTH_JWKS_URL: jwksUrl,
        // Node 20 refuses --cpu-prof in NODE_OPTIONS; the preload takes the profile instead.
        NODE_OPTIONS: [args['node-options'], profileDir === undefined ? '' : `--import ${join(BENCH_DIR, '../../../scripts/cpu-prof-preload.mjs')}`].filter((o) => o !== '').join(' '),
        CPU_PROF_DIR: profileDir ?? '',
      },
      startTimeoutMs: 60_000,
    });
    handles.push(ingest);
    const upstream = await token(creds.upstream, 'orders:write');
    const headers = { authorization: `Bearer ${upstream}` };

    const latencies: number[] = [];
    const statuses = new Map<number, number>();
    let inFlight = 0;
    let skipped = 0;
    let n = 0;
    const send = async (record: boolean): Promise<void> => {
      const i = n++;
      const order = {
        orderId: `bench-${i}`,
        storeId: TENANT_STORE,
        station: STATION,
        items: [{ name: 'Burger', qty: 2, modifiers: ['no onions'] }, { name: 'Fries', qty: 1 }],
        createdAt: new Date().toISOString(),
      };
      inFlight++;
      const started = performance.now();
      try {
        const r = await post(`${ingest.url}/v1/orders`, order, headers);
        if (record) {
          latencies.push(performance.now() - started);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
      } catch {
        if (record) statuses.set(0, (statuses.get(0) ?? 0) + 1);
      } finally {
        inFlight--;
      }
    };
    /** Open loop at RATE for `seconds`: a send is skipped (and counted) when MAX_IN_FLIGHT are outstanding. */
    const phase = async (seconds: number, record: boolean): Promise<void> => {
      const total = Math.round(seconds * RATE);
      const start = performance.now();
      const pending: Array<Promise<void>> = [];
      for (let k = 0; k < total; k++) {
        const due = start + (k * 1000) / RATE;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        if (inFlight >= MAX_IN_FLIGHT) {
          if (record) skipped++;
          continue;
        }
        pending.push(send(record));
      }
      await Promise.all(pending);
    };

    await phase(WARMUP_SECONDS, false);
    const cpu0 = { ingestTimes: cpuTimes(ingest.pid), ingest: cpuSeconds(ingest.pid), nats: cpuSeconds(nats.pid), self: process.cpuUsage(), machine: machineJiffies() };
    const t0 = performance.now();
    await phase(SECONDS, true);
    const wall = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(cpu0.self);
    const ingestCpu = cpuSeconds(ingest.pid) - cpu0.ingest;
    const ingestTimes = cpuTimes(ingest.pid);
    const natsCpu = cpuSeconds(nats.pid) - cpu0.nats;
    const m1 = machineJiffies();
    const machineBusyPercent = ((m1.busy - cpu0.machine.busy) / (m1.total - cpu0.machine.total)) * 100;
    const accepted = statuses.get(202) ?? 0;
    latencies.sort((a, b) => a - b);
    const result = {
      rate: RATE,
      seconds: SECONDS,
      displays: DISPLAYS,
      logLevel: args['log-level'],
      sent: latencies.length,
      accepted,
      statuses: Object.fromEntries(statuses),
      skippedAtInFlightCap: skipped,
      achievedPerSec: +(accepted / wall).toFixed(1),
      ingestCpuMsPerOrder: +((ingestCpu * 1000) / Math.max(1, accepted)).toFixed(3),
      ingestUserMsPerOrder: +(((ingestTimes.user - cpu0.ingestTimes.user) * 1000) / Math.max(1, accepted)).toFixed(3),
      ingestSystemMsPerOrder: +(((ingestTimes.system - cpu0.ingestTimes.system) * 1000) / Math.max(1, accepted)).toFixed(3),
      ingestCpuPercent: +((ingestCpu / wall) * 100).toFixed(1),
      natsCpuMsPerOrder: +((natsCpu * 1000) / Math.max(1, accepted)).toFixed(3),
      machineBusyPercent: +machineBusyPercent.toFixed(1),
      benchCpuMsPerOrder: +((self.user + self.system) / 1000 / Math.max(1, accepted)).toFixed(3),
      httpMs: { p50: +pct(latencies, 50).toFixed(2), p90: +pct(latencies, 90).toFixed(2), p99: +pct(latencies, 99).toFixed(2), max: +pct(latencies, 100).toFixed(2) },
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    agent.destroy();
    for (const h of handles.reverse()) await h.dispose().catch((err: unknown) => console.error('dispose', err));
    await redis.dispose();
    await nats.dispose();
    await rm(dir, { recursive: true, force: true });
  }
  if (profileDir !== undefined) {
    const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
    const newest = files.sort((a, b) => statSync(join(profileDir, a)).mtimeMs - statSync(join(profileDir, b)).mtimeMs).at(-1);
    if (newest === undefined) console.log('no profile written (did ingest exit cleanly?)');
    else console.log(summarizeProfile(join(profileDir, newest)));
  }
}

await main();
