/** Command line of `npm run bench`: parsed once, validated, frozen. */
import { ORDER_BATCH_MAX } from '@orderwire/contracts';
import { BenchError } from './errors.js';
import { PREFILL_IDLE_MAX_S, PREFILL_IDLE_S, parsePrefillTarget, type PrefillTarget } from './prefill.js';
import { DISPLAY_CLIENT_KINDS, type DisplayClientKind } from './worker-protocol.js';

export const FAULTS = ['kill-edge', 'restart-nats', 'kill-redis', 'flap', 'storm'] as const;
export type Fault = (typeof FAULTS)[number];
export const TARGETS = ['own', 'local'] as const;
export type Target = (typeof TARGETS)[number];
export const MODES = ['delivery', 'ingest-capacity'] as const;
export type Mode = (typeof MODES)[number];

/**
 * Named runs of issue 14's table: each sets the defaults of the options it names (an option given
 * on the command line still wins). `standard` is the plain default run. The 10,000-display runs
 * carry production's 16 order partitions (k8s/overlays/production; ADR 0003's ~625 displays per
 * stream), the 20,000-display run 32; `--partitions 64` is round 14's run for the tail.
 */
export const PROFILES = Object.freeze({
  standard: {},
  /**
   * 10,000 displays, one per station, 1,000 deliveries/s offered, one edge; RECEIPTS full, as any
   * busy deployment holds it (round 13, docs/adr/0006; `--prefill-receipts none` for round 12's runs).
   */
  scale: { displays: 10_000, rate: 1000, edges: 1, partitions: 16, 'connect-timeout': '900', 'prefill-receipts': 'full' },
  /** 10,000 displays, 10 per station, 100 orders/s = 1,000 deliveries/s, one edge; RECEIPTS full. */
  'scale-fanout': { displays: 10_000, rate: 100, fanout: 10, edges: 1, partitions: 16, 'connect-timeout': '900', 'prefill-receipts': 'full' },
  /** 20,000 displays over two edges, 10 per station, 1,000 deliveries/s. */
  'fleet-20k': { displays: 20_000, rate: 100, fanout: 10, edges: 2, partitions: 32, 'connect-timeout': '1200' },
  /** 10,000 displays on one edge; the edge is killed and restarted, every display reconnects at once. */
  storm: { displays: 10_000, rate: 50, edges: 1, partitions: 16, fault: 'storm', duration: '60', 'fault-at': '15', 'fault-for': '1', 'connect-timeout': '900' },
  /** Ingest's sustained maximum: single orders, batches, raw JetStream publish (same run). */
  'ingest-capacity': { mode: 'ingest-capacity', duration: '15' },
} as const satisfies Record<string, Record<string, string | number>>);
export type ProfileName = keyof typeof PROFILES;

export interface BenchOptions {
  /** Displays enrolled and connected. @default 1000 */
  displays: number;
  /** Orders per second through ingest. @default 500 */
  rate: number;
  /** Seconds of publishing. @default 60 */
  durationS: number;
  /** Edge processes (own stack) the displays are spread over. @default 2 */
  edges: number;
  /** Order partition streams of the own stack (JETSTREAM_ORDER_PARTITIONS); undefined = the topology default (a profile may set it: PROFILES). */
  partitions: number | undefined;
  fault: Fault | undefined;
  /** Seconds into the publishing window when the fault starts. @default a third of the duration */
  faultAtS: number;
  /** Seconds the faulty component stays down (kill-edge, kill-redis, restart-nats) or displays flap. @default a third of the duration (restart-nats: 2) */
  faultForS: number;
  /** JSON result file; `results/<name>.json` is relative to load-tests/. */
  out: string | undefined;
  target: Target;
  /** Also measure the raw floor (JetStream and Socket.IO on their own) and print ratios. */
  floor: boolean;
  /** Displays per station: an order is delivered to this many displays. @default 1 */
  fanout: number;
  /** @default 4 */
  stationsPerStore: number;
  /** Display connections opened per second. @default 500 */
  connectRate: number;
  /** HTTP requests in flight to ingest at most. @default 64 */
  concurrency: number;
  /** Display worker processes; 0 = one per 2,500 displays. @default 0 */
  workers: number;
  /** The displays' client: the display SDK, or the same conversation on plain ws. @default sdk */
  client: DisplayClientKind;
  /** The drain after the last order ends when nothing new was shown for this many seconds (at most 10× in total). @default 30 */
  drainS: number;
  /** Credentials file of the `local` target. @default <repo>/.data/dev-credentials.json */
  credentials: string | undefined;
  /** Seconds to wait for all displays to connect. @default 60 + displays / connectRate */
  connectTimeoutS: number;
  /** Edge URLs of the `local` target. @default http://127.0.0.1:3003,http://127.0.0.1:3013 */
  edgeUrls: string[] | undefined;
  /** Fraction of displays that flap (fault `flap`). @default 0.1 */
  flapFraction: number;
  /** Log level of the services of the own stack. @default warn */
  serviceLogLevel: string;
  /** The preset the defaults came from. @default standard */
  profile: ProfileName;
  /** What is measured: delivery to displays, or ingest's capacity. @default delivery */
  mode: Mode;
  /** Seconds per window of the report's latency timeline (by when each order was due). @default 5 */
  latencyWindowS: number;
  /** Orders per request in the ingest-capacity batch phase. @default 50 */
  batchSize: number;
  /**
   * Take nats-server's CPU profile (Go pprof) over the publishing window of a delivery run, write it
   * beside the result and summarise it (own stack, single node).
   */
  natsProfile: boolean;
  /**
   * Write this many acceptance records and receipts of made-up orders into RECEIPTS before the
   * displays register, or `full`: until the stream reaches its `max_bytes` (a busy deployment's
   * steady state; src/prefill.ts). Own stack only.
   */
  prefillReceipts: PrefillTarget | undefined;
  /**
   * Seconds RECEIPTS stays untouched after the prefill, before the displays register: nats-server
   * drops a block's per-subject state 2 min after its last use, so a stream filled over hours holds
   * it only for its newest blocks (src/prefill.ts). @default PREFILL_IDLE_S (0: round 13's runs)
   */
  prefillIdleS: number;
  /** Print the result as JSON on stdout instead of the table. */
  json: boolean;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

  --displays N          displays enrolled and connected (default 1000)
  --rate M              orders per second (default 500)
  --profile P           a named run of issue 14 (sets the defaults below; flags still win):
                        standard | scale | scale-fanout | fleet-20k | storm | ingest-capacity
  --mode M              delivery (default) | ingest-capacity (single vs batch vs raw publish;
                        --duration is then per phase)
  --batch-size B        orders per batch request in ingest-capacity mode (default 50)
  --duration D          seconds of publishing (default 60; also 90s, 2m)
  --edges E             edge processes of the own stack (default 2)
  --partitions P        order partition streams of the own stack (JETSTREAM_ORDER_PARTITIONS: a power
                        of two up to 256; default the topology's, 2, and the 10,000-display profiles'
                        16, production's; fleet-20k 32)
  --fault F             kill-edge | restart-nats | kill-redis | flap | storm (every edge
                        SIGKILLed, restarted after --fault-for; every display reconnects at once)
  --fault-at S          seconds into the run when the fault starts (default duration/3)
  --fault-for S         seconds the component stays down / displays flap (default duration/3; restart-nats 2)
  --flap-fraction X     share of displays that flap (default 0.1)
  --fanout K            displays per station, i.e. deliveries per order (default 1)
  --stations-per-store  (default 4)
  --connect-rate R      connections opened per second (default 500)
  --concurrency C       ingest requests in flight (default 64)
  --workers W           display worker processes (default: one per 2,500 displays)
  --client sdk|protocol the displays' client: the display SDK (socket.io-client; default) or the
                        same conversation on plain ws (src/protocol/display.ts, as the k6 scripts)
  --latency-window S    seconds per window of the latency timeline (default 5; 1 to line it up with
                        per-second probes, docs/benchmarks.md round 12)
  --drain S             after publishing, wait until nothing new is shown for S seconds (default 30, at most 10×S)
  --connect-timeout S   seconds for all displays to connect (default 60 + displays/connect-rate)
  --target own|local    own: start NATS, Redis and the services on free ports (default);
                        local: use a running \`npm start\` stack and .data/dev-credentials.json
  --credentials FILE    credentials of the local target
  --edge-urls U1,U2     edge URLs of the local target
  --floor               measure plain JetStream and Socket.IO round trips and print ratios
  --prefill-receipts N|full
                        before the displays register, N acceptance records and receipts of made-up
                        orders in RECEIPTS, or \`full\`: up to its max_bytes, as a busy deployment holds
                        it (nats-server keeps every subject in memory; docs/benchmarks.md round 13)
  --prefill-idle S      seconds RECEIPTS stays untouched after the prefill, before the displays register
                        (default 140: nats-server drops a block's per-subject state 2 min after its last
                        use, as in a stream filled over hours; 0 for round 13's runs)
  --nats-profile        nats-server's CPU profile over the publishing window (pprof .pb.gz beside --out, or
                        under load-tests/results/), summarised when Go's pprof is there
                        (npm run tools -- --with-pprof)
  --out FILE            write the result as JSON (results/<name>.json → load-tests/results/)
  --json                print the result as JSON on stdout instead of the table
  --log-level L         log level of the own stack's services (default warn)

Exit code: 0 when nothing was lost, 1 when anything was lost or the run failed, 2 on usage errors.`;

/** 5 s windows of the publishing schedule in the report's latency timeline, unless --latency-window says otherwise */
export const LATENCY_WINDOW_S = 5;

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m)?$/;

/** Seconds from `60`, `60s`, `1.5m` or `500ms`. */
export function parseSeconds(name: string, value: string): number {
  const m = DURATION_RE.exec(value.trim());
  if (m === null) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--${name} ${value} is not a duration (e.g. 60, 90s, 2m)`);
  const n = Number(m[1]);
  return m[2] === 'm' ? n * 60 : m[2] === 'ms' ? n / 1000 : n;
}

function positiveInt(name: string, value: string, { allowZero = false } = {}): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) {
    throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--${name} ${value} must be a ${allowZero ? 'non-negative' : 'positive'} integer`);
  }
  return n;
}

function positiveNumber(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--${name} ${value} must be a positive number`);
  return n;
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--${name} ${value} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

const FLAGS = new Set(['floor', 'help', 'json', 'nats-profile']);
const VALUED = new Set([
  'profile', 'mode', 'batch-size',
  'displays', 'rate', 'duration', 'edges', 'partitions', 'fault', 'fault-at', 'fault-for', 'flap-fraction', 'fanout', 'stations-per-store',
  'connect-rate', 'concurrency', 'workers', 'client', 'drain', 'latency-window', 'connect-timeout', 'target', 'credentials', 'edge-urls', 'out', 'log-level',
  'prefill-receipts', 'prefill-idle',
]);

/** @throws BenchError ORDERWIRE_ERR_BENCH_USAGE */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') {
      flags.add('help');
      continue;
    }
    if (!arg.startsWith('--')) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (FLAGS.has(name)) {
      if (eq !== -1) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--${name} takes no value`);
      flags.add(name);
      continue;
    }
    if (!VALUED.has(name)) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `unknown option --${name}`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--${name} needs a value`);
    if (values.has(name)) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--${name} given twice`);
    values.set(name, value);
  }
  const profile = oneOf<ProfileName>('profile', values.get('profile') ?? 'standard', Object.keys(PROFILES) as ProfileName[]);
  const preset: Readonly<Record<string, string | number>> = PROFILES[profile];
  const get = <T>(name: string, parse: (v: string) => T, fallback: T): T => {
    const v = values.get(name) ?? (preset[name] === undefined ? undefined : String(preset[name]));
    return v === undefined ? fallback : parse(v);
  };

  const durationS = get('duration', (v) => parseSeconds('duration', v), 60);
  if (durationS <= 0) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', '--duration must be positive');
  const fault = get<Fault | undefined>('fault', (v) => oneOf('fault', v, FAULTS), undefined);
  const displays = get('displays', (v) => positiveInt('displays', v), 1000);
  const connectRate = get('connect-rate', (v) => positiveNumber('connect-rate', v), 500);
  const faultAtS = get('fault-at', (v) => parseSeconds('fault-at', v), durationS / 3);
  const faultForS = get('fault-for', (v) => parseSeconds('fault-for', v), fault === 'restart-nats' ? 2 : durationS / 3);
  if (fault !== undefined && faultAtS >= durationS) {
    throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--fault-at ${faultAtS}s must fall inside the ${durationS}s run`);
  }
  const flapFraction = get('flap-fraction', (v) => positiveNumber('flap-fraction', v), 0.1);
  if (flapFraction > 1) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', '--flap-fraction must be at most 1');
  const target = get<Target>('target', (v) => oneOf('target', v, TARGETS), 'own');
  const edges = get('edges', (v) => positiveInt('edges', v), 2);
  // A profile's partition count applies to the stack the bench starts; a local stack has its own topology.
  const partitionsText = values.get('partitions') ?? (target === 'local' || preset.partitions === undefined ? undefined : String(preset.partitions));
  const partitions = partitionsText === undefined ? undefined : positiveInt('partitions', partitionsText);
  if (partitions !== undefined && (partitions > 256 || (partitions & (partitions - 1)) !== 0)) {
    throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', '--partitions must be a power of two from 1 to 256');
  }
  if (partitions !== undefined && target === 'local') {
    throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', '--partitions needs --target own (the local stack has its own topology)');
  }
  if (fault !== undefined && fault !== 'flap' && target === 'local') {
    throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--fault ${fault} needs --target own (the harness owns those processes)`);
  }
  const mode = get<Mode>('mode', (v) => oneOf('mode', v, MODES), 'delivery');
  if (mode === 'ingest-capacity' && fault !== undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', '--fault applies to delivery runs only');
  const batchSize = get('batch-size', (v) => positiveInt('batch-size', v), 50);
  if (batchSize > ORDER_BATCH_MAX) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--batch-size must be at most ${ORDER_BATCH_MAX} (ingest's limit)`);
  const fanout = get('fanout', (v) => positiveInt('fanout', v), 1);
  if (fanout > displays) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', '--fanout cannot exceed --displays');
  const natsProfile = flags.has('nats-profile');
  if (natsProfile && (target === 'local' || mode !== 'delivery')) {
    throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', '--nats-profile needs a delivery run on --target own (it starts the nats-server it profiles)');
  }
  // A profile's prefill applies to the stack the bench starts; a local stack keeps its own RECEIPTS.
  const prefillReceipts =
    target === 'local' && !values.has('prefill-receipts') ? undefined : get<PrefillTarget | undefined>('prefill-receipts', parsePrefillTarget, undefined);
  if (prefillReceipts !== undefined && (target === 'local' || mode !== 'delivery')) {
    throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', '--prefill-receipts needs a delivery run on --target own (it fills the stream of a stack it started)');
  }
  const prefillIdleS = get('prefill-idle', (v) => parseSeconds('prefill-idle', v), PREFILL_IDLE_S);
  if (values.has('prefill-idle') && prefillReceipts === undefined) {
    throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', '--prefill-idle needs --prefill-receipts');
  }
  if (prefillIdleS > PREFILL_IDLE_MAX_S) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--prefill-idle must be at most ${PREFILL_IDLE_MAX_S} s`);
  const logLevel = get('log-level', (v) => oneOf('log-level', v, ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const), 'warn');

  return Object.freeze({
    displays,
    rate: get('rate', (v) => positiveNumber('rate', v), 500),
    durationS,
    edges,
    partitions,
    fault,
    faultAtS,
    faultForS,
    out: values.get('out'),
    target,
    floor: flags.has('floor'),
    fanout,
    stationsPerStore: get('stations-per-store', (v) => positiveInt('stations-per-store', v), 4),
    connectRate,
    concurrency: get('concurrency', (v) => positiveInt('concurrency', v), 64),
    workers: get('workers', (v) => positiveInt('workers', v, { allowZero: true }), 0),
    client: get('client', (v) => oneOf('client', v, DISPLAY_CLIENT_KINDS), 'sdk'),
    drainS: get('drain', (v) => parseSeconds('drain', v), 30),
    latencyWindowS: get('latency-window', (v) => positiveNumber('latency-window', v), LATENCY_WINDOW_S),
    credentials: values.get('credentials'),
    connectTimeoutS: get('connect-timeout', (v) => parseSeconds('connect-timeout', v), 60 + displays / connectRate),
    edgeUrls: get<string[] | undefined>(
      'edge-urls',
      (v) => {
        const urls = v.split(',').map((u) => u.trim()).filter((u) => u !== '');
        for (const u of urls) if (!/^https?:\/\/[^/]+/.test(u)) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', `--edge-urls: ${u} is not an http(s) URL`);
        if (urls.length === 0) throw new BenchError('ORDERWIRE_ERR_BENCH_USAGE', '--edge-urls is empty');
        return urls;
      },
      undefined,
    ),
    flapFraction,
    serviceLogLevel: logLevel,
    profile,
    mode,
    batchSize,
    natsProfile,
    prefillReceipts,
    prefillIdleS: prefillReceipts === undefined ? 0 : prefillIdleS,
    json: flags.has('json'),
    help: flags.has('help'),
  });
}

/** Display worker processes: one per 2,500 displays unless given. */
export function workerCount(options: Pick<BenchOptions, 'workers' | 'displays'>): number {
  if (options.workers > 0) return Math.min(options.workers, options.displays);
  return Math.max(1, Math.ceil(options.displays / DISPLAYS_PER_WORKER));
}

/** 2500 SDK clients per worker process (measured: see docs/benchmarks.md) */
export const DISPLAYS_PER_WORKER = 2500;
