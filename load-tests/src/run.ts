/**
 * One bench run: (floor) → stack → register + enroll + connect N displays → publish M orders/s
 * for D s (with an optional fault) → drain → account for every (order, display) pair.
 */
import { cpus, loadavg, release, totalmem } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@orderwire/test-harness';
import { workerCount, type BenchOptions } from './args.js';
import { clientToken, deleteDisplay, registerDisplay } from './auth-client.js';
import { BenchError } from './errors.js';
import { startDisplayFleet, type DisplayFleet, type FleetFinal } from './fleet.js';
import { measureFloor, type FloorResult } from './floor.js';
import { createHttpClient } from './http.js';
import { Ledger } from './ledger.js';
import { startProcessSampler } from './proc-stats.js';
import { runPublisher, type PublisherResult } from './publisher.js';
import { runCapacity } from './capacity.js';
import { natsMessagesPerDelivery, readNatsMessageCounts } from './nats-messages.js';
import { prefillReceipts, type PrefillResult } from './prefill.js';
import { captureNatsProfile, findPprof, type NatsProfileSummary } from './nats-profile.js';
import { checkCapacityTargets, checkTargets, cpuPerDelivery, type BenchResult, type CapacityBenchResult, type StormResult } from './report.js';
import { resolveOut } from './out-path.js';
import { connectLocalStack, repoRoot, startOwnStack, type Stack } from './stack.js';
import { displayPlacement, newRunId, type Fleet } from './plan.js';
import { LatencyTimeline, Samples } from './stats.js';

/** orders:read too: lost pairs are looked up with `GET /v1/orders/:orderId`. */
const UPSTREAM_SCOPE = 'orders:write orders:read';
/** The drain never lasts longer than this many `--drain` periods */
export const DRAIN_CAP_FACTOR = 10;
/** 16 display registrations in flight */
export const REGISTER_CONCURRENCY = 16;
/** 50 enrollment codes per message to the workers */
const ENROLL_CHUNK = 50;
/** 5 s of quiet between the last connection and the first order; the CPU of this window is the idle cost of N connected displays */
export const SETTLE_MS = 5_000;
/** 250 ms between progress checks */
const POLL_MS = 250;
/** down 1 s / up 2 s per flap cycle (jittered ×0.5–1.5 in the worker) */
export const FLAP_DOWN_MS = 1_000;
export const FLAP_UP_MS = 2_000;
/** 10 min at most waiting for every display to come back after a storm */
export const STORM_RECONNECT_CAP_MS = 600_000;

export type Log = (line: string) => void;

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function machine(): BenchResult['machine'] {
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    memoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: release(),
  };
}

export interface RunContext {
  log: Log;
  /** Command line for the record. */
  command: string;
}

export async function runBench(options: BenchOptions, ctx: RunContext): Promise<BenchResult> {
  const { log } = ctx;
  const runId = newRunId();
  const startedAt = new Date().toISOString();
  const benchLoop = monitorEventLoopDelay({ resolution: 10 });
  const fleetPlan: Fleet = { runId, displays: options.displays, fanout: options.fanout, stationsPerStore: options.stationsPerStore };

  let floor: FloorResult | undefined;
  if (options.floor) {
    log('measuring the raw floor (JetStream, Socket.IO) on an idle machine…');
    floor = await measureFloor();
  }

  const crashes: string[] = [];
  const natsProfilePort = options.natsProfile ? await freePort() : undefined;
  const stack = await openStack(options, log, crashes, natsProfilePort);
  const http = createHttpClient(options.concurrency + REGISTER_CONCURRENCY);
  let fleet: DisplayFleet | undefined;
  const registered: string[] = [];
  let operatorToken = '';
  try {
    operatorToken = await clientToken(http, stack.authUrl, stack.credentials.operator, 'displays:manage');
    let upstreamToken = await clientToken(http, stack.authUrl, stack.credentials.upstream, UPSTREAM_SCOPE);
    let prefill: (PrefillResult & { idleS: number }) | undefined;
    if (options.prefillReceipts !== undefined) {
      log(`prefilling RECEIPTS (${options.prefillReceipts === 'full' ? 'up to its max_bytes' : `${options.prefillReceipts} messages`})…`);
      const filled = await prefillReceipts({ natsUrl: stack.natsUrl, tenant: stack.credentials.tenant, runId, target: options.prefillReceipts, log });
      log(`RECEIPTS holds ${filled.streamMessages} messages, ${(filled.streamBytes / 2 ** 20).toFixed(0)} MiB (${filled.messages} written in ${filled.seconds.toFixed(1)} s)`);
      if (options.prefillIdleS > 0) {
        // Until nats-server has dropped the prefilled blocks' subject state, as a stream filled over hours has (src/prefill.ts).
        log(`leaving RECEIPTS untouched for ${options.prefillIdleS} s (nats-server drops a block's subject state 2 min after its last use)…`);
        await sleep(options.prefillIdleS * 1000);
      }
      prefill = { ...filled, idleS: options.prefillIdleS };
    }

    const ledger = new Ledger(fleetPlan);
    const latency = new Samples(Math.round(options.rate * options.durationS * options.fanout));
    const timeline = new LatencyTimeline(options.rate, options.latencyWindowS);
    const workers = workerCount(options);
    fleet = startDisplayFleet({
      workers,
      authUrl: stack.authUrl,
      edgeUrls: stack.edgeUrls,
      runId,
      connectRate: options.connectRate,
      client: options.client,
      onShown(slot, n, ms) {
        if (ledger.shown(slot, n)) {
          latency.add(ms);
          timeline.add(n, ms);
        }
      },
    });
    const activeFleet = fleet;
    const sampler = startProcessSampler(() => [{ name: 'bench', pid: process.pid }, ...stack.processes(), ...activeFleet.processes()]);
    benchLoop.enable();

    // Register (creates each display's consumer) and hand codes to the workers as they come.
    log(`registering and connecting ${options.displays} displays (${options.connectRate}/s, ${workers} worker${workers === 1 ? '' : 's'})…`);
    const t0 = performance.now();
    const slots = Array.from({ length: options.displays }, (_, i) => i);
    let chunk: Array<{ slot: number; code: string }> = [];
    const registering = mapLimit(slots, REGISTER_CONCURRENCY, async (slot) => {
      const p = displayPlacement(fleetPlan, slot);
      const code = await registerDisplay(http, stack.authUrl, operatorToken, p);
      registered.push(p.displayId);
      chunk.push({ slot, code });
      if (chunk.length >= ENROLL_CHUNK) {
        activeFleet.enroll(chunk);
        chunk = [];
      }
    }).then(() => {
      if (chunk.length > 0) activeFleet.enroll(chunk);
      chunk = [];
    });
    // Rejects when registration fails, never settles otherwise: racing a settled promise in the
    // wait loop below would spin on microtasks and starve timers and worker messages.
    const registrationFailed = registering.then(() => new Promise<never>(() => {}));
    registrationFailed.catch(() => {});
    let registerS: number | undefined;
    void registering.then(
      () => {
        registerS = (performance.now() - t0) / 1000;
      },
      () => {},
    );
    const connectDeadline = performance.now() + options.connectTimeoutS * 1000;
    let lastLog = performance.now();
    for (;;) {
      const p = fleet.progress();
      if (p.connected >= options.displays) break;
      if (p.enrollFailed > 0) throw new BenchError('ORDERWIRE_ERR_BENCH_CONNECT', `${p.enrollFailed} enrollments failed: ${JSON.stringify(p)}`);
      if (performance.now() > connectDeadline) {
        throw new BenchError(
          'ORDERWIRE_ERR_BENCH_CONNECT',
          `only ${p.connected} of ${options.displays} displays connected after ${options.connectTimeoutS} s; client errors ${JSON.stringify(fleet.errors())}`,
        );
      }
      if (performance.now() - lastLog > 10_000) {
        lastLog = performance.now();
        const errs = fleet.errors();
        log(`  registered ${registered.length}, enrolled ${p.enrolled}, connected ${p.connected}${Object.keys(errs).length > 0 ? `; client errors ${JSON.stringify(errs)}` : ''}`);
      }
      // A registration failure (or a dead worker) ends the wait at once.
      await Promise.race([sleep(POLL_MS), registrationFailed, fleet.failed]);
    }
    await registering;
    const connectS = (performance.now() - t0) / 1000;
    // CPU each process spent per display while registering, enrolling and connecting them all.
    const connectCpuMsPerDisplay = Object.fromEntries(
      Object.entries(sampler.cpuSinceMark()).map(([name, pct]) => [name, ((pct / 100) * connectS * 1000) / options.displays]),
    );
    log(`all ${options.displays} displays connected in ${connectS.toFixed(1)} s (registration ${(registerS ?? connectS).toFixed(1)} s)`);
    sampler.mark();
    await sleep(SETTLE_MS);
    const idleCpu = sampler.cpuSinceMark();
    sampler.mark();
    fleet.mark();
    const natsMessagesBefore = await readNatsMessageCounts(stack.natsMonitorUrls);
    benchLoop.reset();
    const heldAtStart = fleet.progress().connected;
    let heldMin = heldAtStart;

    // Publish, with the fault on its own clock.
    log(`publishing ${options.rate} orders/s for ${options.durationS} s…`);
    const events: Array<{ atS: number; what: string }> = [];
    const publishStartedAt = Date.now();
    const pubStart = performance.now();
    const at = (): number => Math.round((performance.now() - pubStart) / 100) / 10;
    const note = (what: string): void => {
      events.push({ atS: at(), what });
      log(`  [t=${at()} s] ${what}`);
    };
    let storm: StormResult | undefined;
    const fault = runFault(options, stack, fleet, fleetPlan, note, (st) => (storm = st)).catch((err: unknown) => {
      crashes.push(`fault injection failed: ${err instanceof Error ? err.message : String(err)}`);
      note(`fault injection failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    const watch = setInterval(() => {
      heldMin = Math.min(heldMin, activeFleet.progress().connected);
    }, POLL_MS);
    // Settled below with the publisher: captureNatsProfile never rejects.
    const natsProfile: Promise<NatsProfileSummary> | undefined =
      natsProfilePort === undefined
        ? undefined
        : captureNatsProfile({ port: natsProfilePort, seconds: options.durationS, file: natsProfileFile(options.out, runId), pprof: findPprof(repoRoot()) });
    let published: PublisherResult;
    try {
      published = await Promise.race([
        runPublisher({
          http,
          ingestUrl: stack.ingestUrl,
          fleet: fleetPlan,
          rate: options.rate,
          durationS: options.durationS,
          concurrency: options.concurrency,
          token: () => upstreamToken,
          refresh: async () => {
            upstreamToken = await clientToken(http, stack.authUrl, stack.credentials.upstream, UPSTREAM_SCOPE);
          },
          onAccepted: (n) => ledger.accepted(n),
        }),
        fleet.failed,
      ]);
      await fault;
    } finally {
      clearInterval(watch);
    }
    note(`publishing done: ${published.accepted} accepted of ${published.scheduled}`);
    const profile = natsProfile === undefined ? undefined : await natsProfile;
    if (profile !== undefined) log(`nats-server CPU profile: ${profile.file}${profile.message === undefined ? '' : ` (${profile.message})`}`);

    // Drain: wait for every expected pair; give up after --drain s without progress (capped).
    const drainStart = performance.now();
    const drainCap = drainStart + options.drainS * 1000 * DRAIN_CAP_FACTOR;
    let lastDisplayed = -1;
    let lastProgress = drainStart;
    for (;;) {
      const s = ledger.summary();
      if (s.displayed >= s.expected) break;
      const now = performance.now();
      if (s.displayed !== lastDisplayed) {
        lastDisplayed = s.displayed;
        lastProgress = now;
      }
      if (now - lastProgress > options.drainS * 1000 || now > drainCap) break;
      await Promise.race([sleep(POLL_MS * 4), fleet.failed]);
    }
    const drainS = (performance.now() - drainStart) / 1000;
    const progressEnd = fleet.progress();
    const usage = sampler.stop();
    const natsMessagesAfter = await readNatsMessageCounts(stack.natsMonitorUrls);
    const machineUsage = sampler.machine();
    benchLoop.disable();
    const final: FleetFinal = await fleet.stop();
    fleet = undefined;
    const s = ledger.summary();
    const latencyMs = latency.summary();
    const natsMessages = natsMessagesPerDelivery(natsMessagesBefore, natsMessagesAfter, s.displayed);
    const lostSample = await explainLost(http, stack.ingestUrl, upstreamToken, s.lostSample);
    const floorRatios =
      floor === undefined
        ? undefined
        : {
            ...floor,
            ratioP50: latencyMs === undefined ? undefined : latencyMs.p50 / floor.pipelineToShown.p50,
            ratioP99: latencyMs === undefined ? undefined : latencyMs.p99 / floor.pipelineToShown.p99,
          };

    const partial: Omit<BenchResult, 'targets' | 'ok'> = {
      version: 1,
      runId,
      startedAt,
      command: ctx.command,
      machine: machine(),
      options,
      stack: { target: stack.target, edges: stack.edgeUrls, ...(stack.runDirSpread === undefined ? {} : { runDirSpread: stack.runDirSpread }), ...(stack.natsEnv === undefined ? {} : { natsEnv: stack.natsEnv }), ...(options.partitions === undefined ? {} : { partitions: options.partitions }) },
      phases: { registerS: registerS ?? connectS, connectS, connectPerS: options.displays / connectS, connectCpuMsPerDisplay },
      connections: {
        target: options.displays,
        heldAtStart,
        heldMin,
        heldAtEnd: progressEnd.connected,
        reconnects: progressEnd.reconnects,
        disconnects: progressEnd.disconnects,
        flapCycles: progressEnd.flapCycles,
      },
      orders: {
        scheduled: published.scheduled,
        accepted: published.accepted,
        acceptedDuplicate: published.acceptedDuplicate,
        retried: published.retried,
        failed: published.failed,
        statuses: published.statuses,
        perSecond: published.accepted / published.elapsedS,
        httpLatencyMs: published.httpLatency.summary(),
        maxScheduleLagMs: published.maxScheduleLagMs,
      },
      deliveries: {
        expected: s.expected,
        displayed: s.displayed,
        lost: s.lost,
        lostSample,
        duplicatesOnWire: final.duplicatesOnWire,
        duplicatesShown: s.duplicatesShown,
        misrouted: s.misrouted,
        shownUnconfirmed: s.shownUnconfirmed,
        foreign: progressEnd.foreign,
        received: final.received,
        acked: final.acked,
        rejected: final.rejected,
        perSecond: s.displayed / (published.elapsedS + drainS),
        drainS,
      },
      latencyMs,
      latencyTimeline: timeline.summary(),
      publishStartedAt,
      floor: floorRatios,
      fault: options.fault === undefined ? undefined : { kind: options.fault, atS: options.faultAtS, forS: options.faultForS, events },
      processes: usage.map((p) => ({ ...p, idleCpuPercent: idleCpu[p.name] })),
      machineLoad: machineUsage === undefined ? undefined : { ...machineUsage, loadAverage1m: loadavg()[0] ?? 0 },
      harness: {
        workers,
        client: options.client,
        workerLoopDelayP99Ms: final.loopDelayP99Ms,
        workerLoopDelayMaxMs: final.loopDelayMaxMs,
        benchLoopDelayP99Ms: benchLoop.percentile(99) / 1e6,
      },
      cpuPerDeliveryMs: cpuPerDelivery(usage, s.displayed),
      ...(prefill === undefined ? {} : { prefill }),
      ...(natsMessages === undefined ? {} : { natsMessagesPerDelivery: natsMessages }),
      storm,
      ...(profile === undefined ? {} : { natsProfile: profile }),
      errors: { ...final.errors, ...Object.fromEntries(crashes.map((c, i) => [`service_crash_${i + 1}`, 1])) },
      errorExamples: { ...final.errorExamples, ...Object.fromEntries(crashes.map((c, i) => [`service_crash_${i + 1}`, c])) },
    };
    const targets = checkTargets(partial);
    return { ...partial, targets, ok: s.lost === 0 && heldAtStart === options.displays && crashes.length === 0 };
  } finally {
    benchLoop.disable();
    if (fleet !== undefined) await fleet.stop().catch(() => undefined);
    if (stack.target === 'local' && registered.length > 0 && operatorToken !== '') {
      // A shared stack keeps what we create: decommission the run's displays (and their consumers).
      log(`decommissioning ${registered.length} displays…`);
      await mapLimit(registered, REGISTER_CONCURRENCY, async (id) => {
        await deleteDisplay(http, stack.authUrl, operatorToken, id).catch(() => false);
      });
    }
    http.close();
    await stack.dispose();
  }
}

/** `<out>.nats-cpu.pb.gz` beside the JSON result, else `load-tests/results/nats-cpu-<run>.pb.gz`. */
export function natsProfileFile(out: string | undefined, runId: string): string {
  if (out === undefined) return resolveOut(`results/nats-cpu-${runId}.pb.gz`);
  return resolveOut(out).replace(/(\.json)?$/, '.nats-cpu.pb.gz');
}

/** The own stack (or the running local one), with crashes logged and collected. */
async function openStack(options: BenchOptions, log: Log, crashes: string[], natsProfilePort?: number): Promise<Stack> {
  log(
    options.target === 'own'
      ? `starting own stack (NATS, Redis, auth, ingest, ${options.edges} edge${options.edges === 1 ? '' : 's'}${options.partitions === undefined ? '' : `, ${options.partitions} order partitions`})…`
      : 'connecting to the local stack…',
  );
  return options.target === 'own'
    ? startOwnStack({
        edges: options.edges,
        ...(options.partitions === undefined ? {} : { env: { JETSTREAM_ORDER_PARTITIONS: String(options.partitions) } }),
        logLevel: options.serviceLogLevel,
        ...(natsProfilePort === undefined ? {} : { natsProfilePort }),
        onCrash: (name, detail) => {
          crashes.push(`${name} ${detail}`);
          log(`!! ${name} ${detail}`);
        },
      })
    : connectLocalStack({ credentialsFile: options.credentials, edgeUrls: options.edgeUrls });
}

/**
 * `--mode ingest-capacity`: registers the displays (their consumers and receipts are part of an
 * order's cost) without connecting them, then runs the three capacity phases on one stack.
 */
export async function runCapacityBench(options: BenchOptions, ctx: RunContext): Promise<CapacityBenchResult> {
  const { log } = ctx;
  const runId = newRunId();
  const startedAt = new Date().toISOString();
  const fleetPlan: Fleet = { runId, displays: options.displays, fanout: options.fanout, stationsPerStore: options.stationsPerStore };
  const crashes: string[] = [];
  const stack = await openStack(options, log, crashes);
  const http = createHttpClient(options.concurrency + REGISTER_CONCURRENCY);
  const registered: string[] = [];
  let operatorToken = '';
  try {
    operatorToken = await clientToken(http, stack.authUrl, stack.credentials.operator, 'displays:manage');
    const upstreamToken = await clientToken(http, stack.authUrl, stack.credentials.upstream, UPSTREAM_SCOPE);
    log(`registering ${options.displays} displays (not connected)…`);
    await mapLimit(
      Array.from({ length: options.displays }, (_, i) => i),
      REGISTER_CONCURRENCY,
      async (slot) => {
        const p = displayPlacement(fleetPlan, slot);
        await registerDisplay(http, stack.authUrl, operatorToken, p);
        registered.push(p.displayId);
      },
    );
    const sampler = startProcessSampler(() => [{ name: 'bench', pid: process.pid }, ...stack.processes()]);
    const capacity = await runCapacity({
      http,
      ingestUrl: stack.ingestUrl,
      natsUrl: stack.natsUrl,
      fleet: fleetPlan,
      tenant: stack.credentials.tenant,
      token: () => upstreamToken,
      seconds: options.durationS,
      concurrency: options.concurrency,
      batchSize: options.batchSize,
      sampler,
      log,
    });
    sampler.stop();
    const machineUsage = sampler.machine();
    const targets = checkCapacityTargets(capacity);
    return {
      version: 1,
      kind: 'ingest-capacity',
      runId,
      startedAt,
      command: ctx.command,
      machine: machine(),
      options,
      stack: { target: stack.target, edges: stack.edgeUrls, ...(stack.runDirSpread === undefined ? {} : { runDirSpread: stack.runDirSpread }), ...(stack.natsEnv === undefined ? {} : { natsEnv: stack.natsEnv }) },
      capacity,
      machineLoad: machineUsage === undefined ? undefined : { ...machineUsage, loadAverage1m: loadavg()[0] ?? 0 },
      targets,
      ok: crashes.length === 0 && capacity.phases.every((p) => p.orders > 0),
    };
  } finally {
    if (stack.target === 'local' && registered.length > 0 && operatorToken !== '') {
      log(`decommissioning ${registered.length} displays…`);
      await mapLimit(registered, REGISTER_CONCURRENCY, async (id) => {
        await deleteDisplay(http, stack.authUrl, operatorToken, id).catch(() => false);
      });
    }
    http.close();
    await stack.dispose();
  }
}

/** Client errors whose server reason was `rate_limited` (the edge's handshake limits). */
function rateLimitedHandshakes(errors: Record<string, number>): number {
  let n = 0;
  for (const [key, count] of Object.entries(errors)) if (key.includes('rate_limited')) n += count;
  return n;
}

/** Runs the chosen fault on the publishing clock; resolves when it is over (component back). */
async function runFault(
  options: BenchOptions,
  stack: Stack,
  fleet: DisplayFleet,
  plan: Fleet,
  note: (what: string) => void,
  recordStorm: (s: StormResult) => void,
): Promise<void> {
  if (options.fault === undefined) return;
  await sleep(options.faultAtS * 1000);
  const forMs = options.faultForS * 1000;
  const faults = stack.faults;
  switch (options.fault) {
    case 'flap': {
      const count = Math.max(1, Math.round(plan.displays * options.flapFraction));
      // Every k-th display flaps, so flapping displays are spread over workers and edges.
      const step = plan.displays / count;
      const slots = Array.from({ length: count }, (_, i) => Math.floor(i * step));
      note(`flap: ${count} displays disconnect/reconnect (down ~${FLAP_DOWN_MS} ms, up ~${FLAP_UP_MS} ms) for ${options.faultForS} s`);
      fleet.flap(slots, FLAP_DOWN_MS, FLAP_UP_MS, forMs);
      await sleep(forMs);
      note('flap: over');
      return;
    }
    case 'kill-edge':
      if (faults === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', 'kill-edge needs the own stack');
      note('SIGKILL edge-1');
      await faults.killEdge(0);
      await sleep(forMs);
      await faults.startEdge(0);
      note('edge-1 restarted and ready');
      return;
    case 'restart-nats':
      if (faults === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', 'restart-nats needs the own stack');
      note('SIGKILL nats-server');
      await faults.killNats();
      await sleep(forMs);
      await faults.startNats();
      note('nats-server restarted (same port and store) and healthy');
      return;
    case 'storm': {
      if (faults === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', 'storm needs the own stack');
      const edges = Array.from({ length: faults.edgeCount }, (_, i) => i);
      const rateLimitedBefore = rateLimitedHandshakes(fleet.errors());
      note(`storm: SIGKILL every edge (${edges.length}) with ${plan.displays} displays connected`);
      const killedAt = performance.now();
      await Promise.all(edges.map((i) => faults.killEdge(i)));
      await sleep(forMs);
      await Promise.all(edges.map((i) => faults.startEdge(i)));
      const readyAt = performance.now();
      note('storm: edges restarted and ready; waiting for every display');
      const cap = readyAt + STORM_RECONNECT_CAP_MS;
      while (fleet.progress().connected < plan.displays && performance.now() < cap) await sleep(POLL_MS / 5);
      const backAt = performance.now();
      const connectedAtEnd = fleet.progress().connected;
      recordStorm({
        displays: plan.displays,
        edges: edges.length,
        edgesDownS: (readyAt - killedAt) / 1000,
        reconnectS: (backAt - readyAt) / 1000,
        totalS: (backAt - killedAt) / 1000,
        connectedAtEnd,
        rateLimited: rateLimitedHandshakes(fleet.errors()) - rateLimitedBefore,
      });
      note(`storm: ${connectedAtEnd} of ${plan.displays} displays back ${((backAt - readyAt) / 1000).toFixed(1)} s after the edges were ready`);
      return;
    }
    case 'kill-redis':
      if (faults === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', 'kill-redis needs the own stack');
      note('SIGKILL redis-server');
      await faults.killRedis();
      await sleep(forMs);
      await faults.startRedis();
      note('redis-server restarted');
      return;
  }
}

/** Asks ingest what it knows about each lost pair (`GET /v1/orders/:orderId`): pending = still in the mailbox. */
export async function explainLost(
  http: ReturnType<typeof createHttpClient>,
  ingestUrl: string,
  token: string,
  sample: ReadonlyArray<{ orderId: string; displayId: string }>,
): Promise<Array<{ orderId: string; displayId: string; serverStatus: string }>> {
  return Promise.all(
    sample.map(async (pair) => {
      try {
        const res = await http.request('GET', `${ingestUrl}/v1/orders/${encodeURIComponent(pair.orderId)}`, { headers: { authorization: `Bearer ${token}` } });
        if (res.status !== 200) return { ...pair, serverStatus: `HTTP ${res.status}` };
        const displays = (res.body as { displays?: Array<{ displayId: string; status: string; deliveryCount?: number }> }).displays ?? [];
        const entry = displays.find((d) => d.displayId === pair.displayId);
        return { ...pair, serverStatus: entry === undefined ? 'not a target' : `${entry.status}${entry.deliveryCount === undefined ? '' : ` (deliveries ${entry.deliveryCount})`}` };
      } catch (err) {
        return { ...pair, serverStatus: `lookup failed: ${err instanceof Error ? err.message : String(err)}` };
      }
    }),
  );
}
