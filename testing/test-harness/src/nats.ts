import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HarnessError, HarnessErrorCode } from './errors.js';
import { httpGet, httpGetJson } from './http.js';
import { LogBuffer } from './log-buffer.js';
import { PORT_REBIND_WINDOW_MS, freePort } from './ports.js';
import { DEFAULT_STOP_TIMEOUT_MS, registerDisposable, type ManagedProcess } from './processes.js';
import { ServerProcess, createServerDir, startOrDispose, type ServerHandle } from './server-process.js';

/** 20000 ms for a node to listen and report healthy */
export const DEFAULT_NATS_START_TIMEOUT_MS = 20_000;
/** 1000 ms per monitoring request */
const MONITOR_REQUEST_TIMEOUT_MS = 1_000;
/** 25 ms between readiness polls */
const READY_POLL_MS = 25;
/**
 * The longest gap between /healthz polls. Each failed check logs a WRN line in the server, so
 * the interval backs off instead of flooding `logs()`.
 */
const HEALTH_POLL_MAX_MS = 250;
/** 30 log lines quoted in a start error */
const LOG_TAIL_LINES = 30;
/**
 * 3 attempts to start a cluster: when a pre-picked route port was taken, or when the JetStream
 * meta group formed short (nats-server 2.10 can settle on a 2-peer meta group when a route is
 * replaced while the nodes start together; it never grows to 3 by itself), a node never found
 * the meta leader, or one never caught up with it.
 */
const CLUSTER_START_ATTEMPTS = 3;
/** How a start failure of a short meta group reads (see `waitForMetaLeader`). */
const META_NOT_FORMED = 'JetStream meta group not formed';
/**
 * How a node's /healthz reads when it never found the meta leader: the same start race seen from
 * the node left out (seen on a loaded machine); a fresh start with new route ports forms the group.
 */
const NO_META_LEADER = 'has not established contact with a meta leader';
/**
 * How a node's /healthz reads when it knows the leader but never caught up with it: seen once
 * after a full restart with stores intact on a loaded machine (45 s, a clean-clone run of
 * round 8); stopping every node and starting them again clears it like the races above.
 */
const NOT_CURRENT = 'JetStream is not current with the meta leader';

/**
 * What "ready" means when (re)starting a node.
 * - `healthy`: `GET /healthz` is ok — JetStream enabled, meta leader known (clustered),
 *   and every stream/consumer on the node recovered and current. The default.
 * - `listening`: the client port accepts connections and JetStream is enabled
 *   (`/healthz?js-enabled-only=true`). Use it when quorum is knowingly absent, e.g.
 *   restarting the first of several stopped cluster nodes.
 */
export type NatsReadiness = 'healthy' | 'listening';

export interface NatsServerOptions {
  /** @default true */
  jetstream?: boolean;
  /** Client port. @default a random free port, pinned for restarts */
  port?: number;
  /** Monitoring (HTTP) port. @default a random free port, pinned for restarts */
  monitorPort?: number;
  /** JetStream store dir. @default `<temp dir>/store`, removed on dispose (a given dir is kept) */
  storeDir?: string;
  /** Extra command line arguments for nats-server (e.g. `['-DV']`). */
  args?: string[];
  /** Environment for nats-server on top of the harness process's own (e.g. Go's `GOGC`). */
  env?: Readonly<Record<string, string>>;
  /**
   * Extra lines inside the generated `jetstream {}` block (e.g. `sync_interval: always`), which
   * `config` cannot add without repeating the block and losing the per-node `store_dir`.
   */
  jetstreamConfig?: string;
  /**
   * Extra configuration text appended to the generated file. A top-level block repeated
   * here (e.g. `jetstream {}`) replaces the generated one, so include `store_dir` then.
   */
  config?: string;
  /** `server_name`. @default `nats-<random>` */
  name?: string;
  /** @default {@link DEFAULT_NATS_START_TIMEOUT_MS} */
  startTimeoutMs?: number;
  /** SIGTERM grace before SIGKILL in `stop()`. @default 10000 */
  stopTimeoutMs?: number;
  /** Lines kept by `logs()`. @default 2000 */
  logLines?: number;
}

export interface NatsRestartOptions {
  /** @default 'healthy' */
  ready?: NatsReadiness;
  /** Stop with SIGKILL instead of SIGTERM when the node is running. @default false */
  hard?: boolean;
}

export interface NatsServerHandle extends ServerHandle {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:<monitorPort>` — `/healthz`, `/jsz`, `/varz`, ... */
  readonly monitorUrl: string;
  readonly monitorPort: number;
  /** Route port when part of a cluster. */
  readonly clusterPort: number | undefined;
  readonly storeDir: string;
  /** Temp dir holding the config, ports file and (by default) the store. */
  readonly dir: string;
  /** Starts a stopped/killed node on the same ports and store; no-op when running. */
  start(options?: Pick<NatsRestartOptions, 'ready'>): Promise<void>;
  /** Stops (if running) and starts again on the same ports and store dir. */
  restart(options?: NatsRestartOptions): Promise<void>;
}

interface ClusterSpec {
  readonly name: string;
  readonly port: number;
  readonly routes: readonly number[];
}

interface NodeSpec {
  readonly name: string;
  readonly jetstream: boolean;
  port: number;
  monitorPort: number;
  readonly storeDir: string;
  readonly dir: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>> | undefined;
  readonly config: string | undefined;
  readonly jetstreamConfig: string | undefined;
  readonly cluster: ClusterSpec | undefined;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly logs: LogBuffer;
}

interface PortsFile {
  nats?: string[];
  monitoring?: string[];
  cluster?: string[];
}

const RANDOM_PORT = -1;

class NatsNode extends ServerProcess<NodeSpec> implements NatsServerHandle {
  /** Set by a cluster: after a healthy (re)start, also wait until the node has rejoined. */
  rejoined: ((timeoutMs: number) => Promise<unknown>) | undefined;

  constructor(spec: NodeSpec) {
    super(spec, 'nats-server', LOG_TAIL_LINES);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.spec.port}`;
  }
  get port(): number {
    return this.spec.port;
  }
  get monitorUrl(): string {
    return `http://127.0.0.1:${this.spec.monitorPort}`;
  }
  get monitorPort(): number {
    return this.spec.monitorPort;
  }
  get clusterPort(): number | undefined {
    return this.spec.cluster?.port;
  }
  get storeDir(): string {
    return this.spec.storeDir;
  }

  start(options: Pick<NatsRestartOptions, 'ready'> = {}): Promise<void> {
    return this.startWith(() => this.launchAndRejoin(options.ready ?? 'healthy'));
  }

  restart(options: NatsRestartOptions = {}): Promise<void> {
    return this.restartWith(options.hard === true, () => this.launchAndRejoin(options.ready ?? 'healthy'));
  }

  private async launchAndRejoin(ready: NatsReadiness): Promise<void> {
    await this.launchNode(ready, PORT_REBIND_WINDOW_MS);
    if (ready === 'healthy' && this.rejoined !== undefined) await this.rejoined(this.spec.startTimeoutMs);
  }

  /** Spawns without waiting for health; cluster start waits for all nodes together. */
  spawnListening(rebindWindowMs: number): Promise<void> {
    return this.serial(() => this.launchNode('none', rebindWindowMs));
  }

  waitReady(ready: NatsReadiness, deadline: number): Promise<void> {
    const proc = this.process;
    if (proc === undefined) return Promise.reject(new Error('not started'));
    return this.awaitHealth(proc, ready, deadline);
  }

  /** Writes the config (ports pinned by an earlier run included) before every spawn. */
  private launchNode(ready: NatsReadiness | 'none', rebindWindowMs: number): Promise<void> {
    const { spec } = this;
    const configFile = join(spec.dir, 'nats.conf');
    return this.launch({
      args: ['-c', configFile, '-ports_file_dir', join(spec.dir, 'ports'), ...spec.args],
      ...(spec.env === undefined ? {} : { env: spec.env }),
      rebindWindowMs,
      prepare: () => writeFile(configFile, renderConfig(spec)),
      ready: async (proc, deadline) => {
        await this.awaitPorts(proc, deadline);
        if (ready !== 'none') await this.awaitHealth(proc, ready, deadline);
      },
      busyPort: 'port',
      portInUse: () =>
        `port still in use after ${rebindWindowMs} ms (client ${spec.port}, monitor ${spec.monitorPort}, cluster ${spec.cluster?.port ?? '-'})`,
    });
  }

  private async awaitPorts(proc: ManagedProcess, deadline: number): Promise<void> {
    const file = join(this.spec.dir, 'ports', `nats-server_${proc.pid}.ports`);
    for (;;) {
      this.assertAlive(proc);
      let ports: PortsFile | undefined;
      try {
        ports = JSON.parse(await readFile(file, 'utf8')) as PortsFile;
      } catch {
        // Not written yet, or caught mid-write.
      }
      const client = portOf(ports?.nats?.[0]);
      const monitor = portOf(ports?.monitoring?.[0]);
      if (client !== undefined && monitor !== undefined) {
        // Pin what the kernel chose so restarts come back on the same address.
        this.spec.port = client;
        this.spec.monitorPort = monitor;
        return;
      }
      this.assertBefore(deadline, 'did not write its ports file');
      await sleep(READY_POLL_MS);
    }
  }

  private async awaitHealth(proc: ManagedProcess, ready: NatsReadiness, deadline: number): Promise<void> {
    const query = ready === 'listening' && this.spec.jetstream ? '?js-enabled-only=true' : '';
    const url = `${this.monitorUrl}/healthz${query}`;
    let last = '';
    let interval = READY_POLL_MS / 2;
    for (;;) {
      this.assertAlive(proc);
      try {
        const res = await httpGet(url, MONITOR_REQUEST_TIMEOUT_MS);
        if (res.status === 200) return;
        last = `${res.status} ${res.body.trim()}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      this.assertBefore(deadline, `was not ${ready} (last /healthz: ${last})`);
      await sleep(interval);
      interval = Math.min(interval * 1.5, HEALTH_POLL_MAX_MS);
    }
  }
}

function portOf(url: string | undefined): number | undefined {
  if (url === undefined) return undefined;
  const port = Number(new URL(url).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

function renderConfig(spec: NodeSpec): string {
  const q = (s: string): string => JSON.stringify(s);
  const lines = [
    `server_name: ${q(spec.name)}`,
    `listen: ${q(`127.0.0.1:${spec.port}`)}`,
    `http: ${q(`127.0.0.1:${spec.monitorPort}`)}`,
  ];
  if (spec.jetstream) {
    lines.push(`jetstream {`, `  store_dir: ${q(spec.storeDir)}`);
    if (spec.jetstreamConfig !== undefined) lines.push(spec.jetstreamConfig);
    lines.push(`}`);
  }
  if (spec.cluster !== undefined) {
    const routes = spec.cluster.routes.map((p) => q(`nats-route://127.0.0.1:${p}`)).join(', ');
    lines.push(
      `cluster {`,
      `  name: ${q(spec.cluster.name)}`,
      `  listen: ${q(`127.0.0.1:${spec.cluster.port}`)}`,
      `  routes: [${routes}]`,
      `}`,
    );
  }
  if (spec.config !== undefined) lines.push('', spec.config);
  return `${lines.join('\n')}\n`;
}

async function createNode(
  options: NatsServerOptions,
  cluster: ClusterSpec | undefined,
  namePrefix: string,
): Promise<NatsNode> {
  const dir = await createServerDir(namePrefix);
  const storeDir = options.storeDir ?? join(dir, 'store');
  await mkdir(join(dir, 'ports'), { recursive: true });
  await mkdir(storeDir, { recursive: true });
  return new NatsNode({
    name: options.name ?? `${namePrefix}-${dir.slice(-6)}`,
    jetstream: options.jetstream ?? true,
    port: options.port ?? RANDOM_PORT,
    monitorPort: options.monitorPort ?? RANDOM_PORT,
    storeDir,
    dir,
    args: options.args ?? [],
    env: options.env,
    config: options.config,
    jetstreamConfig: options.jetstreamConfig,
    cluster,
    startTimeoutMs: options.startTimeoutMs ?? DEFAULT_NATS_START_TIMEOUT_MS,
    stopTimeoutMs: options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
    logs: new LogBuffer(options.logLines),
  });
}

/**
 * Starts a nats-server on 127.0.0.1 (random ports unless given, JetStream on by default,
 * temp store dir) and resolves once `/healthz` is ok.
 */
export async function startNats(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  // Random ports come from the server itself (port -1), so there is no bind race.
  return startOrDispose(await createNode(options, undefined, 'nats'), (node) => node.start());
}

// ---------------------------------------------------------------------------------------
// Cluster

export interface NatsClusterOptions {
  /** @default 3 */
  size?: number;
  /** @default true */
  jetstream?: boolean;
  /** Cluster name. @default `orderwire-<random>` */
  name?: string;
  /** Extra nats-server args for every node. */
  args?: string[];
  /** Environment for every node on top of the harness process's own (see {@link NatsServerOptions.env}). */
  env?: Readonly<Record<string, string>>;
  /** Extra config text for every node. */
  config?: string;
  /** Extra lines inside every node's `jetstream {}` block (see {@link NatsServerOptions.jetstreamConfig}). */
  jetstreamConfig?: string;
  /** @default {@link DEFAULT_NATS_START_TIMEOUT_MS} per node */
  startTimeoutMs?: number;
  /** @default 10000 */
  stopTimeoutMs?: number;
  logLines?: number;
}

export interface NatsClusterHandle extends AsyncDisposable {
  readonly name: string;
  readonly servers: readonly NatsServerHandle[];
  /** Client URLs of all nodes, for `connect({ servers: urls })`. */
  readonly urls: readonly string[];
  node(index: number): NatsServerHandle;
  /** Name of the current JetStream meta leader as seen by a running node, or undefined. */
  metaLeader(): Promise<string | undefined>;
  /**
   * Resolves with the meta leader's name once the meta group is formed: every running
   * node names the same leader and the full cluster size, and the leader sees every
   * other running node as a current replica.
   */
  waitForMetaLeader(timeoutMs?: number): Promise<string>;
  /** All nodes' logs, each prefixed with its name. */
  logs(): string;
  stop(): Promise<void>;
  /**
   * Stops every node and starts them again on the same ports; `emptyStores` removes every node's
   * JetStream store first (the cluster comes back empty). Retried like a start when the meta
   * group does not form.
   */
  restart(options?: { emptyStores?: boolean }): Promise<void>;
  dispose(): Promise<void>;
}

interface JszMeta {
  meta_cluster?: {
    leader?: string;
    cluster_size?: number;
    replicas?: { name: string; current?: boolean; offline?: boolean }[];
  };
}

class NatsCluster implements NatsClusterHandle {
  private disposed: Promise<void> | undefined;
  private readonly unregister: () => void;

  constructor(
    readonly name: string,
    private readonly nodes: NatsNode[],
    private readonly jetstream: boolean,
    private readonly startTimeoutMs: number,
  ) {
    this.unregister = registerDisposable(this);
    if (jetstream) for (const n of nodes) n.rejoined = (timeoutMs) => this.waitForMetaLeader(timeoutMs);
  }

  get servers(): readonly NatsServerHandle[] {
    return this.nodes;
  }

  get urls(): readonly string[] {
    return this.nodes.map((n) => n.url);
  }

  node(index: number): NatsServerHandle {
    const n = this.nodes[index];
    if (n === undefined) {
      throw new HarnessError(HarnessErrorCode.InvalidArgument, `cluster ${this.name} has no node ${index} (size ${this.nodes.length})`);
    }
    return n;
  }

  async metaLeader(): Promise<string | undefined> {
    for (const n of this.nodes) {
      if (!n.running) continue;
      try {
        const { json } = await httpGetJson<JszMeta>(`${n.monitorUrl}/jsz`, MONITOR_REQUEST_TIMEOUT_MS);
        const leader = json.meta_cluster?.leader;
        if (leader !== undefined && leader !== '') return leader;
      } catch {
        // Try the next node.
      }
    }
    return undefined;
  }

  async waitForMetaLeader(timeoutMs: number = this.startTimeoutMs): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.metaState();
      if (state.leader !== undefined) return state.leader;
      if (Date.now() > deadline) {
        throw new HarnessError(
          HarnessErrorCode.StartTimeout,
          `cluster ${this.name}: ${META_NOT_FORMED} within ${timeoutMs} ms (${state.detail})\n${this.logsTail(15)}`,
        );
      }
      await sleep(READY_POLL_MS * 2);
    }
  }

  /**
   * A leader alone is not enough: under load two nodes can elect one before the third
   * has joined, and R3 placement then fails with "no suitable peers". The group counts as
   * formed when every running node names the same leader and the full cluster size, the
   * leader lists every other running node as a replica that is not offline, and every
   * running node's /healthz is ok (which includes "current with the meta leader").
   * The leader's own per-replica `current` flag is not used: after a full restart it can
   * stay false for many seconds on an idle, loaded box although the group works.
   */
  private async metaState(): Promise<{ leader: string | undefined; detail: string }> {
    const running = this.nodes.filter((n) => n.running);
    const reports = await Promise.all(
      running.map(async (n) => {
        const [jsz, health] = await Promise.all([
          httpGetJson<JszMeta>(`${n.monitorUrl}/jsz`, MONITOR_REQUEST_TIMEOUT_MS).then(
            (r) => r.json.meta_cluster,
            () => undefined,
          ),
          httpGet(`${n.monitorUrl}/healthz`, MONITOR_REQUEST_TIMEOUT_MS).then(
            (r) => (r.status === 200 ? 'ok' : r.body.trim()),
            (err: unknown) => (err instanceof Error ? err.message : String(err)),
          ),
        ]);
        return { meta: jsz, health };
      }),
    );
    const detail = running
      .map((n, i) => {
        const r = reports[i];
        return `${n.name}: leader=${r?.meta?.leader ?? '-'} size=${r?.meta?.cluster_size ?? '-'} health=${r?.health ?? '-'}`;
      })
      .join('; ');
    const leader = reports[0]?.meta?.leader;
    if (leader === undefined || leader === '') return { leader: undefined, detail };
    const agreed = reports.every((r) => r.health === 'ok' && r.meta?.leader === leader && r.meta.cluster_size === this.nodes.length);
    const leaderReport = reports[running.findIndex((n) => n.name === leader)];
    if (!agreed || leaderReport === undefined) return { leader: undefined, detail };
    const replicas = leaderReport.meta?.replicas ?? [];
    const missing = running
      .filter((n) => n.name !== leader)
      .filter((n) => !replicas.some((r) => r.name === n.name && r.offline !== true))
      .map((n) => n.name);
    if (missing.length > 0) return { leader: undefined, detail: `${detail}; leader does not list ${missing.join(', ')}` };
    return { leader, detail };
  }

  logs(): string {
    return this.nodes.map((n) => `===== ${n.name} =====\n${n.logs()}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }

  /**
   * Stops every node and brings the cluster up again on the same ports (and stores, unless
   * `emptyStores`). A cluster that forms its meta group anew meets the nats-server 2.10 start race
   * `startNatsCluster` retries (every node healthy, one leader, the group one node short): the
   * restart is retried the same way.
   */
  async restart(options: { emptyStores?: boolean } = {}): Promise<void> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= CLUSTER_START_ATTEMPTS; attempt++) {
      await this.stop();
      // Each attempt from empty stores: a group that formed short has written its state.
      if (options.emptyStores === true) await Promise.all(this.nodes.map((n) => rm(n.storeDir, { recursive: true, force: true })));
      try {
        await this.bringUp(PORT_REBIND_WINDOW_MS);
        return;
      } catch (err) {
        lastError = err;
        if (!isRetriableClusterStart(err)) throw err;
      }
    }
    throw lastError;
  }

  /** Spawns every stopped node, then waits for all to be healthy and agree on a leader. */
  async bringUp(rebindWindowMs: number): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs + rebindWindowMs;
    // All nodes at once: a lone JetStream node cannot elect a meta leader.
    await Promise.all(this.nodes.filter((n) => !n.running).map((n) => n.spawnListening(rebindWindowMs)));
    await Promise.all(this.nodes.map((n) => n.waitReady('healthy', deadline)));
    if (this.jetstream) await this.waitForMetaLeader(Math.max(deadline - Date.now(), 1_000));
  }

  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      this.unregister();
      const results = await Promise.allSettled(this.nodes.map((n) => n.dispose()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    })();
    return this.disposed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private logsTail(lines: number): string {
    return this.nodes.map((n) => `----- ${n.name}\n${n.logs().split('\n').slice(-lines).join('\n')}`).join('\n');
  }
}

/** A cluster start that failed the way a second try fixes: a port taken meanwhile, or the meta group not formed or not caught up. */
function isRetriableClusterStart(err: unknown): boolean {
  return (
    err instanceof HarnessError &&
    (err.code === HarnessErrorCode.PortInUse ||
      (err.code === HarnessErrorCode.StartTimeout && [META_NOT_FORMED, NO_META_LEADER, NOT_CURRENT].some((m) => err.message.includes(m))))
  );
}

/**
 * Starts a `size`-node cluster (full mesh of routes on 127.0.0.1, one temp store per node,
 * `server_name` `<cluster>-n<i>`) and resolves once every node is healthy and all agree
 * on a JetStream meta leader.
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsClusterHandle> {
  const size = options.size ?? 3;
  if (!Number.isInteger(size) || size < 1) {
    throw new HarnessError(HarnessErrorCode.InvalidArgument, `cluster size must be a positive integer, got ${size}`);
  }
  const jetstream = options.jetstream ?? true;
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_NATS_START_TIMEOUT_MS;
  let lastError: unknown;
  for (let attempt = 1; attempt <= CLUSTER_START_ATTEMPTS; attempt++) {
    // Route ports must be known before any node starts (each lists the others), so they
    // are picked here; if another process grabs one first, start over with new ones.
    const clusterPorts: number[] = [];
    for (let i = 0; i < size; i++) clusterPorts.push(await freePort());
    const name = options.name ?? `orderwire-${Math.random().toString(36).slice(2, 8)}`;
    const nodes: NatsNode[] = [];
    for (let i = 0; i < size; i++) {
      const port = clusterPorts[i] ?? 0;
      nodes.push(
        await createNode(
          {
            jetstream,
            name: `${name}-n${i}`,
            args: options.args,
            ...(options.env === undefined ? {} : { env: options.env }),
            config: options.config,
            jetstreamConfig: options.jetstreamConfig,
            startTimeoutMs,
            stopTimeoutMs: options.stopTimeoutMs,
            logLines: options.logLines,
          },
          { name, port, routes: clusterPorts.filter((p) => p !== port) },
          'nats-cluster',
        ),
      );
    }
    const cluster = new NatsCluster(name, nodes, jetstream, startTimeoutMs);
    try {
      await cluster.bringUp(0);
      return cluster;
    } catch (err) {
      lastError = err;
      await cluster.dispose();
      if (!isRetriableClusterStart(err)) throw err;
    }
  }
  throw lastError;
}
