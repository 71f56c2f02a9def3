/**
 * The system under test. `own`: NATS and Redis from @orderwire/test-harness on free ports with
 * temp data, plus each service's built `dist/main.js` spawned on free loopback ports, so a bench
 * never collides with a developer's `npm start`. `local`: a running `npm start` stack.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  findRepoRoot,
  runBeforeStart,
  freePort,
  startNats,
  startNatsCluster,
  startRedis,
  waitFor,
  type NatsClusterHandle,
  type NatsClusterOptions,
  type NatsServerHandle,
  type RedisServerHandle,
} from '@orderwire/test-harness';
import { readCredentials, type DevCredentials } from './auth-client.js';
import { BenchError } from './errors.js';
import type { ProcessRef } from './proc-stats.js';

/** 60 s for a service to answer /readyz 200 */

/**
 * The Node flags production gives the edge (k8s/base/edge/config.yaml NODE_OPTIONS, checked equal
 * by test/stack-env.test.ts), after whatever NODE_OPTIONS the bench itself was given (a profiler
 * preload, say): the edge's memory is measured as it runs in production.
 */
export const EDGE_NODE_OPTIONS = '--max-semi-space-size=8';
/** The edge ConfigMap's MALLOC_ARENA_MAX (glibc), likewise checked equal. */
export const EDGE_MALLOC_ARENA_MAX = '2';

function edgeProcessEnv(): { NODE_OPTIONS: string; MALLOC_ARENA_MAX: string } {
  const own = process.env.NODE_OPTIONS?.trim() ?? '';
  return { NODE_OPTIONS: own === '' ? EDGE_NODE_OPTIONS : `${own} ${EDGE_NODE_OPTIONS}`, MALLOC_ARENA_MAX: EDGE_MALLOC_ARENA_MAX };
}

/**
 * Go's GC target for nats-server, as production's StatefulSet sets it (k8s/base/nats/statefulset.yaml,
 * checked equal by test/stack-env.test.ts). At 10,000 consumers nats-server holds ~450 MB live and
 * marks it for ~1.2 s per cycle on two cores; with Go's default (100) that was every ~9 s, and the
 * seconds of each cycle were most of the 10,000-display run's slow seconds (docs/benchmarks.md,
 * round 12). 200 halves the cycles for ~0.5 GB more at the peak, under the pod's GOMEMLIMIT.
 */
export const NATS_GOGC = '200';
/**
 * Go's soft memory limit for nats-server, as production's StatefulSet sets it (likewise checked
 * equal): sized for a full RECEIPTS (docs/adr/0006, `--prefill-receipts full`).
 */
export const NATS_GOMEMLIMIT = '5000MiB';
/** What the bench's nats-server gets on top of the bench's own environment (a GOGC or GOMEMLIMIT given to the bench wins). */
export function natsServerEnv(): Record<string, string> {
  return { GOGC: process.env.GOGC ?? NATS_GOGC, GOMEMLIMIT: process.env.GOMEMLIMIT ?? NATS_GOMEMLIMIT };
}

export const SERVICE_READY_TIMEOUT_MS = 60_000;
/** 15 s SIGTERM grace when the stack stops */
export const SERVICE_STOP_GRACE_MS = 15_000;
/** 60 lines of output kept per service, shown when it fails */
const TAIL_LINES = 60;
/** 5 s SHUTDOWN_GRACE of the own stack's services: a bench stops them right after the run */
const OWN_SHUTDOWN_GRACE = '5s';

/**
 * Limits of the own stack raised so the harness measures delivery, not its own throttling:
 * ingest's per-tenant limit (default 100/s) and auth's per-IP enrollment limit (30/min) would
 * otherwise cap a 500 orders/s run and a 1,000-display enrollment from one loopback address.
 */
export const OWN_STACK_LIMITS: Readonly<Record<string, string>> = Object.freeze({
  INGEST_RATE_LIMIT_MAX: '100000000',
  AUTH_RATE_LIMIT_ENROLL_PER_IP: '100000000',
  AUTH_RATE_LIMIT_TOKEN_PER_IP: '100000',
  AUTH_RATE_LIMIT_TOKEN_PER_CLIENT: '100000',
  AUTH_RATE_LIMIT_REFRESH_PER_IP: '100000000',
  // Every simulated display shares 127.0.0.1 and the harness measures throughput, not limits.
  EDGE_HANDSHAKE_RATE: '0',
  EDGE_MAX_CONNECTIONS_PER_ADDRESS: '0',
  EDGE_SOCKET_EVENT_RATE: '0',
  AUTH_RATE_LIMIT_DISPLAYS_PER_IP: '100000000',
  AUTH_TENANT_MAX_DISPLAYS: '100000000',
  INGEST_TENANT_ORDERS_PER_MINUTE: '100000000',
});

export interface Stack {
  readonly target: 'own' | 'local';
  /**
   * Own stack: whether its run directory (the NATS store) was placed away from earlier runs' files
   * (see {@link createRunDir}); undefined for `local`.
   */
  readonly runDirSpread: boolean | undefined;
  /** Go runtime settings the bench gave its own nats-server (undefined: a stack it did not start). */
  readonly natsEnv: Readonly<Record<string, string>> | undefined;
  readonly authUrl: string;
  readonly ingestUrl: string;
  readonly edgeUrls: string[];
  /** Client URL(s) of the stack's NATS (comma-separated for a cluster; the raw-publish floor of the capacity mode). */
  readonly natsUrl: string;
  /** Monitoring URL of each node (`/varz`); empty for a stack the bench did not start. */
  readonly natsMonitorUrls: readonly string[];
  readonly credentials: DevCredentials;
  processes(): ProcessRef[];
  /** Own stack only: fault injection. */
  readonly faults: StackFaults | undefined;
  /** Own stack only: every process by name, for the chaos suite's faults. */
  readonly control: StackControl | undefined;
  /** Last output lines of every service (for a failure report). */
  tails(): Record<string, string[]>;
  dispose(): Promise<void>;
}

export interface StackFaults {
  killEdge(index: number): Promise<void>;
  startEdge(index: number): Promise<void>;
  /** Edge processes of the stack. */
  readonly edgeCount: number;
  killNats(): Promise<void>;
  startNats(): Promise<void>;
  killRedis(): Promise<void>;
  startRedis(): Promise<void>;
}

/** Service processes a stack can run; `edge` covers `edge-1`, `edge-2`, … */
export type StackServiceKind = 'auth' | 'ingest' | 'edge' | 'dlq';

/** The own stack's processes, addressed by name (`auth`, `ingest`, `edge-1`, …, `dlq`). */
export interface StackControl {
  /** The single NATS node, when the stack runs one. */
  readonly nats: NatsServerHandle | undefined;
  /** The JetStream cluster, when the stack runs one. */
  readonly cluster: NatsClusterHandle | undefined;
  readonly redis: RedisServerHandle;
  serviceNames(): string[];
  /** Pid of a running service. */
  pid(name: string): number | undefined;
  /** Base URL of a service (`/readyz`, `/metrics`). */
  url(name: string): string;
  /** Sends a signal without changing what the stack expects (SIGSTOP / SIGCONT). */
  signal(name: string, signal: NodeJS.Signals): void;
  /** Stops a service as a deploy does (SIGTERM and its grace, then SIGKILL); no crash is reported. */
  stop(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped service with its environment and waits for /readyz. */
  start(name: string): Promise<void>;
}

/** The repository's root folder (where turbo.json is). */
export function repoRoot(): string {
  const root = findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
  if (root === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_NOT_BUILT', 'repository root (turbo.json) not found');
  return root;
}

// Via ../dist so the path is the same whether this module runs built (dist/) or from src/ (vitest).
const ORPHAN_GUARD = fileURLToPath(new URL('../dist/orphan-guard.js', import.meta.url));

interface Service {
  name: string;
  main: string;
  env: Record<string, string>;
  url: string;
  child: ChildProcess | undefined;
  tail: string[];
  exited: Promise<void> | undefined;
}

function keepTail(svc: Service, chunk: Buffer): void {
  for (const line of chunk.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    svc.tail.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
    if (svc.tail.length > TAIL_LINES) svc.tail.shift();
  }
}

function launch(
  svc: Service,
  nodeArgs: readonly string[],
  onUnexpectedExit: (svc: Service, code: number | null, signal: NodeJS.Signals | null) => void,
): void {
  // The guard makes the service exit when the bench dies (its stdin pipe closes), so a killed
  // bench never leaves services behind.
  const child = spawn(process.execPath, [...nodeArgs, '--import', ORPHAN_GUARD, svc.main], {
    env: { ...process.env, ...svc.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  svc.child = child;
  child.stdout.on('data', (c: Buffer) => keepTail(svc, c));
  child.stderr.on('data', (c: Buffer) => keepTail(svc, c));
  svc.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      if (svc.child === child) {
        svc.child = undefined;
        onUnexpectedExit(svc, code, signal);
      }
      resolve();
    });
  });
}

async function stopService(svc: Service, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  const child = svc.child;
  if (child === undefined) return;
  svc.child = undefined;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.kill(signal);
  const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
  if (timedOut) {
    child.kill('SIGKILL');
    await exited;
  }
}

async function ready(url: string, timeoutMs: number, what: string): Promise<void> {
  await waitFor(
    async () => {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return res.status === 200;
    },
    { timeoutMs, intervalMs: 100, message: `${what} ready at ${url}/readyz` },
  );
}

async function runOnce(main: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new BenchError('ORDERWIRE_ERR_BENCH_STACK_START', `${main} ${args.join(' ')} exited ${code}: ${err.slice(-1000)}`));
    });
  });
}

export interface OwnStackOptions {
  edges: number;
  logLevel: string;
  /** Extra environment for every service (e.g. EDGE_* tuning). */
  env?: Record<string, string>;
  /** Called when a service exits without being asked to (a crash under load). */
  onCrash?: (name: string, detail: string) => void;
  /** Extra node options for every service, e.g. `['--cpu-prof', '--cpu-prof-dir=/tmp/prof']`. */
  nodeArgs?: string[];
  /** A JetStream cluster instead of one node; every service is given all of its URLs. */
  cluster?: NatsClusterOptions;
  /** Lines inside the single node's `jetstream {}` block (a cluster takes `cluster.jetstreamConfig`). */
  jetstreamConfig?: string;
  /** Serve the single node's Go profiles (`prof_port`) on this port: `http://127.0.0.1:<port>/debug/pprof/`. */
  natsProfilePort?: number;
  /** Start the DLQ service too. @default false */
  dlq?: boolean;
  /** Environment of one kind of service, on top of `env`. */
  serviceEnv?: Partial<Record<StackServiceKind, Record<string, string>>>;
}

/** Every own-stack run's directory is made in this one. */
export const RUN_DIR_PARENT = join(tmpdir(), 'orderwire-bench');
const CHATTR_TIMEOUT_MS = 5_000;
const execFileAsync = promisify(execFile);

/**
 * A run's directory, holding its NATS store: a 10,000-display run creates 10,000 consumer
 * directories and ~30,000 files there, and deletes them all at its end. ext4 without a journal
 * (this machine's root file system: /proc/fs/jbd2 is empty) does not reuse an inode deleted in
 * the last 60 s (360 s while its inode-table block is dirty), and its inode allocator re-tests
 * every such inode of the block group on each create (`recently_deleted`, 45 % of the kernel's
 * samples in a create loop under `perf`): the next run's consumer creation then cost
 * nats-server 1.41 → 2.58 ms of CPU per display over four back-to-back runs, and a create loop of
 * the same shape 10 s of kernel CPU instead of 0.36 s (docs/benchmarks.md round 10). The parent
 * is marked TOPDIR (`chattr +T`), so ext4's Orlov allocator places each run's directory in a block
 * group of its own choosing, away from the inodes earlier runs just deleted: the runs no longer
 * measure each other's clean-up. Best effort: elsewhere (another file system, no chattr) it is
 * an ordinary temp directory and `spread` says so.
 */
export async function createRunDir(parent: string = RUN_DIR_PARENT): Promise<{ dir: string; spread: boolean }> {
  await mkdir(parent, { recursive: true });
  let spread = true;
  try {
    await execFileAsync('chattr', ['+T', parent], { timeout: CHATTR_TIMEOUT_MS });
  } catch {
    spread = false;
  }
  return { dir: await mkdtemp(join(parent, 'run-')), spread };
}

export async function startOwnStack(options: OwnStackOptions): Promise<Stack> {
  const root = repoRoot();
  const mains = {
    auth: join(root, 'services/auth/dist/main.js'),
    cli: join(root, 'services/auth/dist/cli.js'),
    ingest: join(root, 'services/ingest/dist/main.js'),
    edge: join(root, 'services/edge/dist/main.js'),
    ...(options.dlq === true ? { dlq: join(root, 'services/dlq/dist/main.js') } : {}),
  };
  for (const [name, path] of Object.entries(mains)) {
    if (!existsSync(path)) throw new BenchError('ORDERWIRE_ERR_BENCH_NOT_BUILT', `${name}: ${path} missing — run \`npm run build\``);
  }
  if (!existsSync(ORPHAN_GUARD)) throw new BenchError('ORDERWIRE_ERR_BENCH_NOT_BUILT', `${ORPHAN_GUARD} missing — build @orderwire/load-tests`);

  const { dir, spread: runDirSpread } = await createRunDir();
  const nodeArgs = options.nodeArgs ?? [];
  /** Ready, or a fast failure with the service's output when it exits while starting. */
  const readyOrExited = async (svc: Service): Promise<void> => {
    const exited = svc.exited;
    const died =
      exited === undefined
        ? new Promise<never>(() => {})
        : exited.then(() => {
            throw new BenchError('ORDERWIRE_ERR_BENCH_STACK_START', `${svc.name} exited while starting:\n${svc.tail.slice(-20).join('\n')}`);
          });
    // Handled here too: the service exiting later (dispose, a fault) must not be an unhandled rejection.
    died.catch(() => {});
    await Promise.race([ready(svc.url, SERVICE_READY_TIMEOUT_MS, svc.name), died]);
  };
  let nats: NatsServerHandle | undefined;
  let cluster: NatsClusterHandle | undefined;
  let redis: RedisServerHandle | undefined;
  const services: Service[] = [];
  const expectedDown = new Set<string>();
  const onExit = (svc: Service, code: number | null, signal: NodeJS.Signals | null): void => {
    if (expectedDown.has(svc.name)) return;
    options.onCrash?.(svc.name, `exited (code ${code}, signal ${signal}); last output:\n${svc.tail.slice(-15).join('\n')}`);
  };

  const dispose = async (): Promise<void> => {
    for (const s of services) expectedDown.add(s.name);
    // Reverse start order: edges, ingest, auth; then Redis and NATS.
    await Promise.all([...services].reverse().map((s) => stopService(s, 'SIGTERM', SERVICE_STOP_GRACE_MS)));
    await redis?.dispose();
    await nats?.dispose();
    await cluster?.dispose();
    await rm(dir, { recursive: true, force: true });
  };

  const natsEnv = natsServerEnv();
  try {
    if (options.cluster !== undefined) cluster = await startNatsCluster({ env: natsEnv, ...options.cluster });
    else {
      nats = await startNats({
        storeDir: join(dir, 'nats-store'),
        env: natsEnv,
        ...(options.jetstreamConfig === undefined ? {} : { jetstreamConfig: options.jetstreamConfig }),
        ...(options.natsProfilePort === undefined ? {} : { config: `prof_port: ${options.natsProfilePort}` }),
      });
    }
    redis = await startRedis();
    const natsUrl = cluster !== undefined ? cluster.urls.join(',') : (nats?.url ?? '');
    const authPort = await freePort();
    const authUrl = `http://127.0.0.1:${authPort}`;
    const common: Record<string, string> = {
      HOST: '127.0.0.1',
      NATS_URL: natsUrl,
      REDIS_URL: redis.url,
      AUTH_KEK: randomBytes(32).toString('base64'),
      AUTH_ISSUER: 'orderwire-auth',
      AUTH_JWKS_URL: `${authUrl}/.well-known/jwks.json`,
      LOG_LEVEL: options.logLevel,
      SHUTDOWN_GRACE: OWN_SHUTDOWN_GRACE,
      ...OWN_STACK_LIMITS,
      ...options.env,
    };
    const service = (name: string, main: string, port: number, kind: StackServiceKind): Service => {
      const svc: Service = {
        name,
        main,
        env: { ...common, ...(kind === 'edge' ? edgeProcessEnv() : {}), ...options.serviceEnv?.[kind], PORT: String(port), INSTANCE_ID: name },
        url: `http://127.0.0.1:${port}`,
        child: undefined,
        tail: [],
        exited: undefined,
      };
      services.push(svc);
      return svc;
    };

    // What npm start does first: the topology owner applies every stream and bucket.
    await runBeforeStart({ ...common, LOG_LEVEL: 'warn' }, { root });
    const auth = service('auth', mains.auth, authPort, 'auth');
    launch(auth, nodeArgs, onExit);
    await readyOrExited(auth);
    const credsFile = join(dir, 'dev-credentials.json');
    await runOnce(mains.cli, ['seed-dev', '--out', credsFile], { ...common, ...options.serviceEnv?.auth, LOG_LEVEL: 'warn' }, SERVICE_READY_TIMEOUT_MS);
    const credentials = await readCredentials(credsFile);

    const ingest = service('ingest', mains.ingest, await freePort(), 'ingest');
    const edges: Service[] = [];
    for (let i = 0; i < options.edges; i++) edges.push(service(`edge-${i + 1}`, mains.edge, await freePort(), 'edge'));
    for (const s of [ingest, ...edges]) launch(s, nodeArgs, onExit);
    await Promise.all([ingest, ...edges].map(readyOrExited));
    if (mains.dlq !== undefined) {
      const dlq = service('dlq', mains.dlq, await freePort(), 'dlq');
      launch(dlq, nodeArgs, onExit);
      await readyOrExited(dlq);
    }

    const natsHandle = nats;
    const clusterHandle = cluster;
    const redisHandle = redis;
    const byName = (name: string): Service => {
      const svc = services.find((s) => s.name === name);
      if (svc === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', `no service ${name} (the stack has ${services.map((s) => s.name).join(', ')})`);
      return svc;
    };
    const singleNats = (): NatsServerHandle => {
      if (natsHandle === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', 'this fault needs a single NATS node (the stack runs a cluster)');
      return natsHandle;
    };
    const natsProcesses = (): ProcessRef[] =>
      clusterHandle !== undefined
        ? clusterHandle.servers.map((n, i) => ({ name: `nats-${i}`, pid: n.running ? n.pid : undefined }))
        : [{ name: 'nats-server', pid: natsHandle?.running === true ? natsHandle.pid : undefined }];
    const edgeAt = (index: number): Service => {
      const e = edges[index];
      if (e === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', `no edge ${index + 1} (the stack has ${edges.length})`);
      return e;
    };
    return {
      target: 'own',
      runDirSpread,
      natsEnv,
      authUrl,
      ingestUrl: ingest.url,
      edgeUrls: edges.map((e) => e.url),
      natsUrl,
      natsMonitorUrls: clusterHandle !== undefined ? clusterHandle.servers.map((n) => n.monitorUrl) : natsHandle === undefined ? [] : [natsHandle.monitorUrl],
      credentials,
      processes: () => [
        ...natsProcesses(),
        { name: 'redis-server', pid: redisHandle.running ? redisHandle.pid : undefined },
        ...services.map((s) => ({ name: s.name, pid: s.child?.pid })),
      ],
      faults: {
        edgeCount: edges.length,
        async killEdge(index) {
          const e = edgeAt(index);
          expectedDown.add(e.name);
          await stopService(e, 'SIGKILL', SERVICE_STOP_GRACE_MS);
        },
        async startEdge(index) {
          const e = edgeAt(index);
          expectedDown.delete(e.name);
          launch(e, nodeArgs, onExit);
          await readyOrExited(e);
        },
        killNats: () => singleNats().kill(),
        startNats: () => singleNats().start(),
        killRedis: () => redisHandle.kill(),
        startRedis: () => redisHandle.start(),
      },
      control: {
        nats: natsHandle,
        cluster: clusterHandle,
        redis: redisHandle,
        serviceNames: () => services.map((s) => s.name),
        pid: (name) => byName(name).child?.pid,
        url: (name) => byName(name).url,
        signal(name, signal) {
          byName(name).child?.kill(signal);
        },
        async stop(name, signal = 'SIGTERM') {
          const svc = byName(name);
          expectedDown.add(svc.name);
          await stopService(svc, signal, SERVICE_STOP_GRACE_MS);
        },
        async start(name) {
          const svc = byName(name);
          expectedDown.delete(svc.name);
          launch(svc, nodeArgs, onExit);
          await readyOrExited(svc);
        },
      },
      tails: () => Object.fromEntries(services.map((s) => [s.name, [...s.tail]])),
      dispose,
    };
  } catch (err) {
    const tails = services.map((s) => `--- ${s.name}\n${s.tail.slice(-20).join('\n')}`).join('\n');
    await dispose().catch(() => {});
    if (err instanceof BenchError) throw err;
    throw new BenchError('ORDERWIRE_ERR_BENCH_STACK_START', `${err instanceof Error ? err.message : String(err)}\n${tails}`, { cause: err });
  }
}

/** Pids of a running `npm start` stack, found by command line (for CPU/RSS). */
export function findLocalProcesses(): ProcessRef[] {
  const found: ProcessRef[] = [];
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return found;
  }
  for (const pid of pids) {
    let cmd: string[];
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
    } catch {
      continue;
    }
    const exe = cmd[0] ?? '';
    const svc = cmd.map((a) => /services\/([a-z-]+)\/dist\/main\.js$/.exec(a)).find((m) => m !== null);
    if (svc !== undefined && svc !== null) {
      const port = /"?PORT"?[=:]"?(\d+)/.exec(readEnviron(pid))?.[1];
      found.push({ name: `${svc[1]}${port === undefined ? '' : `:${port}`}`, pid: Number(pid) });
    } else if (exe.endsWith('nats-server')) {
      found.push({ name: 'nats-server', pid: Number(pid) });
    } else if (exe.endsWith('redis-server')) {
      found.push({ name: 'redis-server', pid: Number(pid) });
    }
  }
  return found;
}

function readEnviron(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((kv) => kv.startsWith('PORT=')) ?? '';
  } catch {
    return '';
  }
}

export interface LocalStackOptions {
  credentialsFile: string | undefined;
  edgeUrls: string[] | undefined;
}

export async function connectLocalStack(options: LocalStackOptions): Promise<Stack> {
  const file = options.credentialsFile ?? join(repoRoot(), '.data', 'dev-credentials.json');
  const credentials = await readCredentials(file);
  const urls = credentials.urls ?? {};
  const authUrl = urls.auth ?? 'http://127.0.0.1:3001';
  const ingestUrl = urls.ingest ?? 'http://127.0.0.1:3002';
  const edgeUrls = options.edgeUrls ?? urls.edge ?? ['http://127.0.0.1:3003', 'http://127.0.0.1:3013'];
  for (const [name, url] of [['auth', authUrl], ['ingest', ingestUrl], ...edgeUrls.map((u, i) => [`edge-${i + 1}`, u])] as const) {
    await ready(url, 5_000, name).catch((err: unknown) => {
      throw new BenchError('ORDERWIRE_ERR_BENCH_STACK_START', `${name} at ${url} is not ready — is \`npm start\` running?`, { cause: err });
    });
  }
  const procs = findLocalProcesses();
  return {
    target: 'local',
    runDirSpread: undefined,
    natsEnv: undefined,
    authUrl,
    ingestUrl,
    edgeUrls,
    natsUrl: urls.nats ?? 'nats://127.0.0.1:4222',
    natsMonitorUrls: [],
    credentials,
    processes: () => procs,
    faults: undefined,
    control: undefined,
    tails: () => ({}),
    dispose: async () => {},
  };
}
