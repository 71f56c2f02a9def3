/**
 * One chaos case, end to end, on real processes: a 3-node JetStream cluster (R3 streams and KV,
 * `sync_interval: always` unless the case says otherwise), Redis, auth, ingest, two edges and
 * dlq from the bench's own stack; displays held by the real SDK in a display worker; orders at a
 * steady rate through ingest the whole time; the case's fault on its own clock; then a drain
 * and the accounting of every (order, display) pair.
 */
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { displayConsumerName } from '@orderwire/contracts';
import { resolveBinary, type NatsClusterHandle } from '@orderwire/test-harness';
import { clientToken, registerDisplay } from '../auth-client.js';
import { BenchError } from '../errors.js';
import { startDisplayFleet, type DisplayFleet } from '../fleet.js';
import { createHttpClient } from '../http.js';
import { Ledger } from '../ledger.js';
import { displayPlacement, newRunId, type Fleet } from '../plan.js';
import { runPublisher, type PublisherResult } from '../publisher.js';
import { explainLost } from '../run.js';
import { startOwnStack, type Stack, type StackControl, type StackServiceKind } from '../stack.js';
import { cleanupHost } from './host-ops.js';
import { consumerStates } from './nats-ops.js';
import { ChaosRecorder, type Availability } from './recorder.js';

/** The steady load every case runs under (the report states it). */
export interface ChaosLoad {
  /** Orders per second, the whole case. */
  rate: number;
  displays: number;
  /** Displays per station. */
  fanout: number;
  /** Seconds of orders before the fault starts. */
  warmupS: number;
  /** Seconds of orders after the fault is over. */
  tailS: number;
  /** The drain ends after this many seconds without a new delivery (or when nothing is missing). */
  drainQuietS: number;
}

/**
 * The drain waits 75 s without a new delivery before it calls a missing pair lost: an order
 * delivered into a fault (its ack unconfirmed, or its pull answer lost) comes back after the
 * consumer's ack_wait (20 s) and is pulled by the edge's next safety sweep of an idle mailbox
 * (30 s ± 50 %) — up to 65 s after it was last handed out.
 */
export const DEFAULT_LOAD: Readonly<ChaosLoad> = Object.freeze({ rate: 40, displays: 16, fanout: 2, warmupS: 8, tailS: 10, drainQuietS: 75 });

/** 512 ingest requests in flight: an election may hold each for the ingest retry window */
const CONCURRENCY = 512;
/** Enough orders for the longest case; the case stops the publisher itself. */
const MAX_CASE_S = 900;
/** 90 s for the displays to connect */
const CONNECT_TIMEOUT_MS = 90_000;
/** The drain never exceeds 3 quiet periods */
const DRAIN_CAP_FACTOR = 3;
/** 16 registrations in flight */
const REGISTER_CONCURRENCY = 16;
/** 250 ms between progress checks */
const POLL_MS = 250;

/** What a case can do to the running system, and how it marks the fault on the clock. */
export interface CaseContext {
  readonly stack: Stack;
  readonly control: StackControl;
  readonly cluster: NatsClusterHandle;
  /** Durable names of the run's display consumers (finds the order streams). */
  readonly consumers: readonly string[];
  readonly fleet: DisplayFleet;
  note(what: string): void;
  /** The fault begins now (availability, p99 and gaps are read from here). */
  faultStarted(): void;
  /** The fault is over: the component is back; recovery is measured from here. */
  faultEnded(): void;
  /** Extra figures for the report (e.g. what the default fsync policy did). */
  observe(key: string, value: string | number): void;
}

export interface ChaosCase {
  /** `1`, `3a`, `5b`, …: the case number. */
  readonly id: string;
  readonly slug: string;
  readonly title: string;
  /** In the short subset of `npm test`. */
  readonly quick?: boolean;
  /** `always` (the default) or `default` (nats-server's 2-minute fsync). */
  readonly sync?: 'always' | 'default';
  /** Loss and on-screen duplicates fail the case (false only for what the issue says to report without asserting). */
  readonly assertZeroLoss?: boolean;
  /** Runs on a cluster and needs root (partition, small disk). */
  readonly needsRoot?: boolean;
  /** Extra nats-server configuration for every node. */
  readonly natsConfig?: string;
  readonly jetstreamConfig?: string;
  readonly serviceEnv?: Partial<Record<StackServiceKind, Record<string, string>>>;
  /** Extra node options for every service (the soak's forced-GC preload). */
  readonly nodeArgs?: string[];
  /** Before the displays connect (e.g. moving a node's store onto a small filesystem). */
  prepare?(ctx: Omit<CaseContext, 'fleet' | 'faultStarted' | 'faultEnded'>): Promise<void>;
  fault(ctx: CaseContext): Promise<void>;
  /** Case-specific failures (e.g. no 503 with Retry-After while the disk was full). */
  check?(result: CaseResult): string[];
}

export interface CaseResult {
  id: string;
  slug: string;
  title: string;
  natsVersion: string;
  sync: 'always' | 'default';
  ok: boolean;
  failures: string[];
  /** Orders with a 202. */
  accepted: number;
  /** (order, display) pairs expected and shown. */
  expected: number;
  displayed: number;
  lost: number;
  lostSample: Array<{ orderId: string; displayId: string }>;
  duplicatesShown: number;
  duplicatesOnWire: number;
  /** Ingest's answers while the fault lasted. */
  availability: Availability;
  longestGapMs: number;
  recoveryMs: number | undefined;
  faultLatencyP99Ms: number | undefined;
  faultLatencyMaxMs: number | undefined;
  latencyP99Ms: number | undefined;
  faultS: number;
  durationS: number;
  publisher: Pick<PublisherResult, 'scheduled' | 'accepted' | 'failed' | 'retried' | 'statuses'>;
  reconnects: number;
  clientErrors: Record<string, number>;
  crashes: string[];
  observed: Record<string, string | number>;
  events: Array<{ atS: number; what: string }>;
}

export function natsServerVersion(): string {
  try {
    return execFileSync(resolveBinary('nats-server'), ['--version'], { encoding: 'utf8' }).trim().replace(/^nats-server:\s*/, '');
  } catch {
    return 'unknown';
  }
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export async function runCase(c: ChaosCase, load: ChaosLoad, log: (line: string) => void): Promise<CaseResult> {
  const sync = c.sync ?? 'always';
  const runId = newRunId();
  const plan: Fleet = { runId, displays: load.displays, fanout: load.fanout, stationsPerStore: 4 };
  const crashes: string[] = [];
  const events: CaseResult['events'] = [];
  const t0 = Date.now();
  const note = (what: string): void => {
    const atS = Math.round((Date.now() - t0) / 100) / 10;
    events.push({ atS, what });
    log(`  [${c.id} t=${atS}s] ${what}`);
  };
  const observed: Record<string, string | number> = {};
  const stack = await startOwnStack({
    edges: 2,
    dlq: true,
    logLevel: 'warn',
    cluster: {
      size: 3,
      startTimeoutMs: 45_000,
      ...(sync === 'always' ? { jetstreamConfig: ['sync_interval: always', c.jetstreamConfig ?? ''].join('\n') } : c.jetstreamConfig === undefined ? {} : { jetstreamConfig: c.jetstreamConfig }),
      ...(c.natsConfig === undefined ? {} : { config: c.natsConfig }),
    },
    env: { JETSTREAM_REPLICAS: '3' },
    serviceEnv: c.serviceEnv,
    ...(c.nodeArgs === undefined ? {} : { nodeArgs: c.nodeArgs }),
    onCrash: (name, detail) => {
      crashes.push(`${name} ${detail}`);
      note(`!! ${name} ${detail.split('\n')[0]}`);
    },
  });
  const http = createHttpClient(CONCURRENCY + REGISTER_CONCURRENCY);
  let fleet: DisplayFleet | undefined;
  try {
    const control = stack.control;
    const cluster = control?.cluster;
    if (control === undefined || cluster === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', 'chaos needs its own stack with a cluster');
    const tenant = stack.credentials.tenant;
    const slots = Array.from({ length: load.displays }, (_, i) => i);
    const consumers = slots.map((slot) => displayConsumerName(tenant, displayPlacement(plan, slot).displayId));
    const base = { stack, control, cluster, consumers, note, observe: (k: string, v: string | number) => void (observed[k] = v) };
    await c.prepare?.(base);

    const operator = await clientToken(http, stack.authUrl, stack.credentials.operator, 'displays:manage');
    let upstream = await clientToken(http, stack.authUrl, stack.credentials.upstream, 'orders:write orders:read');
    const ledger = new Ledger(plan);
    const recorder = new ChaosRecorder(plan);
    fleet = startDisplayFleet({
      workers: 1,
      authUrl: stack.authUrl,
      edgeUrls: stack.edgeUrls,
      runId,
      connectRate: 50,
      // Chaos proves the real client's recovery: always the SDK.
      client: 'sdk',
      onShown(slot, n, ms) {
        if (ledger.shown(slot, n)) recorder.shown(slot, n, ms);
      },
    });
    const activeFleet = fleet;
    await mapLimit(slots, REGISTER_CONCURRENCY, async (slot) => {
      const code = await registerDisplay(http, stack.authUrl, operator, displayPlacement(plan, slot));
      activeFleet.enroll([{ slot, code }]);
    });
    const connectBy = Date.now() + CONNECT_TIMEOUT_MS;
    while (activeFleet.progress().connected < load.displays) {
      if (Date.now() > connectBy) {
        throw new BenchError('ORDERWIRE_ERR_BENCH_CONNECT', `${activeFleet.progress().connected} of ${load.displays} displays connected; ${JSON.stringify(activeFleet.errors())}`);
      }
      await Promise.race([sleep(POLL_MS), activeFleet.failed]);
    }
    note(`${load.displays} displays connected; ${load.rate} orders/s`);

    const stopSending = new AbortController();
    const sendingStart = Date.now();
    const publishing = runPublisher({
      http,
      ingestUrl: stack.ingestUrl,
      fleet: plan,
      rate: load.rate,
      durationS: MAX_CASE_S,
      concurrency: CONCURRENCY,
      token: () => upstream,
      refresh: async () => {
        upstream = await clientToken(http, stack.authUrl, stack.credentials.upstream, 'orders:write orders:read');
      },
      onAccepted: (n, at) => {
        ledger.accepted(n);
        recorder.accepted(n, at ?? Date.now());
      },
      onAttempt: (a) => recorder.attempt(a),
      until: stopSending.signal,
    });
    // A publisher failure must not surface as an unhandled rejection while the fault runs.
    publishing.catch(() => {});

    let faultStart: number | undefined;
    let faultEnd: number | undefined;
    const ctx: CaseContext = {
      ...base,
      fleet: activeFleet,
      faultStarted: () => {
        faultStart = Date.now();
        note('fault starts');
      },
      faultEnded: () => {
        faultEnd = Date.now();
        note('fault over');
      },
    };
    let sendingEnd: number;
    try {
      await sleep(load.warmupS * 1000);
      await c.fault(ctx);
      faultStart ??= sendingStart + load.warmupS * 1000;
      faultEnd ??= Date.now();
      await sleep(load.tailS * 1000);
    } finally {
      stopSending.abort();
      sendingEnd = Date.now();
    }
    const published = await publishing;
    note(`sending over: ${published.accepted} accepted of ${published.scheduled}`);

    // Drain: every expected pair shown, or no progress for drainQuietS.
    const drainCap = Date.now() + load.drainQuietS * 1000 * DRAIN_CAP_FACTOR;
    let lastDisplayed = -1;
    let lastProgress = Date.now();
    for (;;) {
      const s = ledger.summary();
      if (s.displayed >= s.expected) break;
      if (s.displayed !== lastDisplayed) {
        lastDisplayed = s.displayed;
        lastProgress = Date.now();
      }
      if (Date.now() - lastProgress > load.drainQuietS * 1000 || Date.now() > drainCap) break;
      await Promise.race([sleep(POLL_MS * 2), activeFleet.failed]);
    }
    // A loss is a bug to fix: say what ingest and every node know about it while the stack still runs.
    const sBefore = ledger.summary();
    if (sBefore.lost > 0) {
      observed.lostDetail = JSON.stringify({
        ingest: await explainLost(http, stack.ingestUrl, upstream, sBefore.lostSample.slice(0, 5)),
        consumers: await consumerStates(
          cluster,
          [...new Set(sBefore.lostSample.slice(0, 5).map((p) => p.displayId))].map((d) => displayConsumerName(tenant, d)),
        ),
      });
      note(`LOST ${sBefore.lost}: ${String(observed.lostDetail).slice(0, 2000)}`);
    }
    const progress = activeFleet.progress();
    const final = await activeFleet.stop();
    fleet = undefined;
    const s = ledger.summary();
    const figures = recorder.figures({ startAt: faultStart, endAt: faultEnd }, { startAt: sendingStart, endAt: sendingEnd });
    const result: CaseResult = {
      id: c.id,
      slug: c.slug,
      title: c.title,
      natsVersion: natsServerVersion(),
      sync,
      ok: true,
      failures: [],
      accepted: s.accepted,
      expected: s.expected,
      displayed: s.displayed,
      lost: s.lost,
      lostSample: s.lostSample,
      duplicatesShown: s.duplicatesShown,
      duplicatesOnWire: final.duplicatesOnWire,
      availability: figures.availability,
      longestGapMs: Math.round(figures.longestGapMs),
      recoveryMs: figures.recoveryMs === undefined ? undefined : Math.round(figures.recoveryMs),
      faultLatencyP99Ms: round1(figures.faultLatencyP99Ms),
      faultLatencyMaxMs: round1(figures.faultLatencyMaxMs),
      latencyP99Ms: round1(figures.latencyP99Ms),
      faultS: Math.round((faultEnd - faultStart) / 100) / 10,
      durationS: Math.round((Date.now() - t0) / 100) / 10,
      publisher: { scheduled: published.scheduled, accepted: published.accepted, failed: published.failed, retried: published.retried, statuses: published.statuses },
      reconnects: progress.reconnects,
      clientErrors: final.errors,
      crashes,
      observed,
      events,
    };
    const failures: string[] = [];
    if (c.assertZeroLoss !== false) {
      if (result.lost > 0) failures.push(`${result.lost} (order, display) pairs lost`);
      if (result.duplicatesShown > 0) failures.push(`${result.duplicatesShown} duplicates on screen`);
      if (s.misrouted > 0) failures.push(`${s.misrouted} misrouted deliveries`);
    }
    if (crashes.length > 0) failures.push(`unexpected exits: ${crashes.map((x) => x.split(' ')[0]).join(', ')}`);
    if (result.accepted === 0) failures.push('no order was accepted');
    if (progress.connected < load.displays) failures.push(`only ${progress.connected} of ${load.displays} displays connected at the end`);
    failures.push(...(c.check?.(result) ?? []));
    result.failures = failures;
    result.ok = failures.length === 0;
    return result;
  } finally {
    if (fleet !== undefined) await fleet.stop().catch(() => undefined);
    http.close();
    // A paused process would sit out its SIGTERM grace: resume everything before stopping.
    for (const name of stack.control?.serviceNames() ?? []) stack.control?.signal(name, 'SIGCONT');
    for (const node of stack.control?.cluster?.servers ?? []) {
      if (node.running) {
        try {
          process.kill(node.pid, 'SIGCONT');
        } catch {
          // Gone.
        }
      }
    }
    if (stack.control?.redis.running === true) {
      try {
        process.kill(stack.control.redis.pid, 'SIGCONT');
      } catch {
        // Gone.
      }
    }
    // Mounts and firewall rules first: a store dir under a mount cannot be removed.
    cleanupHost();
    await stack.dispose();
  }
}

function round1(v: number | undefined): number | undefined {
  return v === undefined ? undefined : Math.round(v * 10) / 10;
}
