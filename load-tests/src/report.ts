/** The bench result: its JSON shape, the issue's targets checked against it, and the printed table. */
import type { NatsMessagesPerDelivery } from './nats-messages.js';
import type { NatsProfileSummary } from './nats-profile.js';
import type { PrefillResult } from './prefill.js';
import type { BenchOptions } from './args.js';
import { CAPACITY_TARGETS, type CapacityResult } from './capacity.js';
import type { FloorResult } from './floor.js';
import type { MachineUsage, ProcessUsage } from './proc-stats.js';
import type { PublisherResult } from './publisher.js';
import { round, type LatencySummary, type LatencyWindow } from './stats.js';
import type { DisplayClientKind } from './worker-protocol.js';

export interface TargetCheck {
  name: string;
  target: string;
  measured: string;
  ok: boolean;
}

export interface BenchResult {
  version: 1;
  runId: string;
  startedAt: string;
  command: string;
  machine: { cpus: number; cpuModel: string; memoryGB: number; node: string; kernel: string };
  options: BenchOptions;
  /** `runDirSpread`: own stack, see stack.ts `createRunDir` (absent in results before round 10). */
  stack: { target: 'own' | 'local'; edges: string[]; runDirSpread?: boolean; natsEnv?: Readonly<Record<string, string>> };
  /** `connectCpuMsPerDisplay`: CPU ms per display of each process while registering, enrolling and connecting (sampler start → all connected). */
  phases: { registerS: number; connectS: number; connectPerS: number; connectCpuMsPerDisplay?: Record<string, number> };
  connections: {
    target: number;
    heldAtStart: number;
    heldMin: number;
    heldAtEnd: number;
    reconnects: number;
    disconnects: number;
    flapCycles: number;
  };
  orders: Pick<PublisherResult, 'scheduled' | 'accepted' | 'acceptedDuplicate' | 'retried' | 'failed' | 'statuses'> & {
    perSecond: number;
    httpLatencyMs: LatencySummary | undefined;
    maxScheduleLagMs: number;
  };
  deliveries: {
    expected: number;
    displayed: number;
    lost: number;
    /** Up to 20 lost pairs with ingest's view (`GET /v1/orders/:orderId`): pending = still queued for the display. */
    lostSample: Array<{ orderId: string; displayId: string; serverStatus: string }>;
    duplicatesOnWire: number;
    duplicatesShown: number;
    misrouted: number;
    shownUnconfirmed: number;
    foreign: number;
    received: number;
    acked: number;
    rejected: number;
    perSecond: number;
    drainS: number;
  };
  /** accept (ingest's acceptedAt, whole ms) → shown on the display; see docs/benchmarks.md on the clock. */
  latencyMs: LatencySummary | undefined;
  /** The same latency by when its order was due, in windows of `--latency-window` seconds. */
  latencyTimeline?: LatencyWindow[];
  /** Epoch ms when publishing started: the timeline's 0 s, for lining it up with other clocks (tools/stall-seconds.mjs). */
  publishStartedAt?: number;
  floor: (FloorResult & { ratioP50: number | undefined; ratioP99: number | undefined }) | undefined;
  fault: { kind: string; atS: number; forS: number; events: Array<{ atS: number; what: string }> } | undefined;
  /** `idleCpuPercent`: CPU with every display connected and no orders (the 5 s before publishing). */
  processes: Array<ProcessUsage & { idleCpuPercent?: number | undefined }>;
  /** Machine-wide CPU during publishing + drain; `otherPercent` > a few % means the figures were taken under contention. */
  machineLoad: (MachineUsage & { loadAverage1m: number }) | undefined;
  /** `client`: the displays' client (absent in results written before round 11: the SDK). */
  harness: { workers: number; client?: DisplayClientKind; workerLoopDelayP99Ms: number; workerLoopDelayMaxMs: number; benchLoopDelayP99Ms: number };
  /**
   * CPU (utime+stime from /proc over publishing + drain) per order × display pair shown: the stack
   * (nats-server, redis-server, auth, ingest, edges), each process, and the harness.
   */
  cpuPerDeliveryMs: CpuPerDelivery | undefined;
  /**
   * Client messages nats-server handled per delivered order over the same window (`/varz`; absent
   * on a stack the bench did not start, in results before round 13, or across a nats restart).
   */
  natsMessagesPerDelivery?: NatsMessagesPerDelivery;
  /** `--prefill-receipts`: what RECEIPTS held before the displays registered, and how long it then stayed untouched (`--prefill-idle`). */
  prefill?: PrefillResult & { idleS: number };
  /** The `storm` fault: every edge killed and restarted, every display reconnecting at once. */
  storm: StormResult | undefined;
  /** `--nats-profile`: nats-server's CPU profile over the publishing window. */
  natsProfile?: NatsProfileSummary;
  errors: Record<string, number>;
  errorExamples: Record<string, string>;
  targets: TargetCheck[];
  ok: boolean;
}

export interface CpuPerDelivery {
  /** Sum over the stack's processes. */
  stack: number;
  /** The bench process and its display workers. */
  harness: number;
  byProcess: Record<string, number>;
}

export interface StormResult {
  displays: number;
  edges: number;
  /** Kill → every edge answering /readyz again. */
  edgesDownS: number;
  /** Edges ready → every display connected again (the bound to publish). */
  reconnectS: number;
  /** Kill → every display connected again. */
  totalS: number;
  /** Connected when the wait ended (all of them unless the cap was hit). */
  connectedAtEnd: number;
  /** Handshakes refused with `rate_limited` during the storm (client errors). */
  rateLimited: number;
}

/** The harness's own processes; everything else a run samples is the stack. */
export function isHarnessProcess(name: string): boolean {
  return name === 'bench' || name.startsWith('display-worker');
}

/** CPU ms per delivered pair, from the sampled processes' CPU seconds over the same window. */
export function cpuPerDelivery(processes: ReadonlyArray<{ name: string; cpuSeconds: number }>, delivered: number): CpuPerDelivery | undefined {
  if (delivered <= 0) return undefined;
  const byProcess: Record<string, number> = {};
  let stack = 0;
  let harness = 0;
  for (const p of processes) {
    const ms = (p.cpuSeconds * 1000) / delivered;
    byProcess[p.name] = ms;
    if (isHarnessProcess(p.name)) harness += ms;
    else stack += ms;
  }
  return { stack, harness, byProcess };
}

const fmt = (v: number | undefined, unit = ''): string => (v === undefined || Number.isNaN(v) ? '—' : `${round(v)}${unit}`);

/** The issue's targets, checked where the run's profile matches them. */
export function checkTargets(r: Omit<BenchResult, 'targets' | 'ok'>): TargetCheck[] {
  const checks: TargetCheck[] = [
    { name: 'lost', target: '0', measured: String(r.deliveries.lost), ok: r.deliveries.lost === 0 },
    {
      name: 'connections held',
      target: String(r.connections.target),
      measured: String(r.connections.heldAtStart),
      ok: r.connections.heldAtStart === r.connections.target,
    },
    { name: 'duplicates shown to the app', target: '0', measured: String(r.deliveries.duplicatesShown), ok: r.deliveries.duplicatesShown === 0 },
  ];
  const o = r.options;
  checks.push({
    name: 'orders/s achieved',
    target: `≥ 95% of ${o.rate}`,
    measured: fmt(r.orders.perSecond),
    ok: r.orders.perSecond >= 0.95 * o.rate,
  });
  const deliveriesPerS = o.rate * o.fanout;
  const l = r.latencyMs;
  if (o.fault === undefined && o.displays === 1000 && deliveriesPerS === 500 && l !== undefined) {
    checks.push({ name: 'e2e p50 @1k displays, 500/s', target: '≤ 2 ms', measured: fmt(l.p50, ' ms'), ok: l.p50 <= 2 });
    checks.push({ name: 'e2e p99 @1k displays, 500/s', target: '≤ 20 ms', measured: fmt(l.p99, ' ms'), ok: l.p99 <= 20 });
  }
  if (o.fault === undefined && o.displays >= 10_000 && deliveriesPerS >= 1000 && l !== undefined) {
    checks.push({ name: 'e2e p99 @10k displays, 1,000/s', target: '≤ 100 ms', measured: fmt(l.p99, ' ms'), ok: l.p99 <= 100 });
  }
  const cpu = r.cpuPerDeliveryMs;
  if (o.fault === undefined && o.displays === 1000 && deliveriesPerS === 500 && cpu !== undefined) {
    checks.push({ name: 'whole-stack CPU per delivered order @500/s', target: '≤ 1.5 ms', measured: fmt(cpu.stack, ' ms'), ok: cpu.stack <= 1.5 });
  }
  if (o.displays >= 10_000) {
    checks.push({
      name: `${o.displays} displays enrolled and connected`,
      target: o.displays === 10_000 ? '≤ 30 s' : `≤ ${(30 * o.displays) / 10_000} s (30 s per 10,000)`,
      measured: fmt(r.phases.connectS, ' s'),
      ok: r.phases.connectS <= (30 * o.displays) / 10_000,
    });
  }
  if (r.stack.target === 'own' && r.stack.edges.length === 1 && o.displays >= 10_000) {
    const edge = r.processes.find((p) => p.name === 'edge-1');
    if (edge !== undefined) {
      checks.push({ name: 'edge RSS @10k displays', target: '≤ 400 MB', measured: fmt(edge.rssMaxMB, ' MB'), ok: edge.rssMaxMB <= 400 });
    }
  }
  return checks;
}

function table(rows: Array<[string, string]>, title: string): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return [`\n${title}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n');
}

/** The `--nats-profile` section: where nats-server's CPU went over the publishing window. */
export function formatNatsProfile(p: NatsProfileSummary): string {
  const title = `nats-server CPU profile (pprof, ${p.seconds} s of publishing${p.cpuPct === undefined ? '' : `, ${fmt(p.cpuPct, '% of a core')}`}) → ${p.file}`;
  if (p.parts === undefined) return table([['summary', p.message ?? 'none']], title);
  return table(
    [
      ...p.parts.map((x): [string, string] => [x.name, `${fmt(x.pct, '%')} (cumulative)`]),
      ['top functions (own samples)', (p.top ?? []).slice(0, 6).map((t) => `${t.fn.replace(/^github\.com\/nats-io\/nats-server\/(v2\/)?server\./, '')} ${fmt(t.flatPct, '%')}`).join(', ')],
    ],
    title,
  );
}

function latencyRow(s: LatencySummary | undefined): string {
  return s === undefined ? '—' : `p50 ${fmt(s.p50)}  p95 ${fmt(s.p95)}  p99 ${fmt(s.p99)}  max ${fmt(s.max)}  (n=${s.count})`;
}

/**
 * The Go settings the bench's nats-server ran with, and a warning when the run's NATS store could
 * not be kept apart from earlier runs' deleted files.
 */
function stackNotes(stack: { target: 'own' | 'local'; runDirSpread?: boolean; natsEnv?: Readonly<Record<string, string>> }): string {
  const env = stack.natsEnv === undefined ? '' : `\n  nats-server: ${Object.entries(stack.natsEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`;
  if (stack.target !== 'own' || stack.runDirSpread !== false) return env;
  return `${env}\n  note: the run directory could not be marked TOPDIR (chattr +T: not ext4, or no chattr); on a journal-less ext4 consumer creation then also pays for files earlier runs deleted in the last minutes`;
}

export function formatResult(r: BenchResult): string {
  const parts: string[] = [];
  const o = r.options;
  parts.push(
    `Orderwire bench ${r.runId} — ${r.startedAt} — ${r.machine.cpus} × ${r.machine.cpuModel}, node ${r.machine.node}` +
      `\n  ${o.displays} displays, ${o.rate} orders/s × ${o.durationS} s, fanout ${o.fanout}, target ${r.stack.target} (${r.stack.edges.length} edge${r.stack.edges.length === 1 ? '' : 's'})` +
      (r.fault === undefined ? '' : `, fault ${r.fault.kind} at ${r.fault.atS} s for ${r.fault.forS} s`) +
      stackNotes(r.stack) +
      (r.prefill === undefined
        ? ''
        : `\n  RECEIPTS prefilled: ${r.prefill.streamMessages} messages, ${(r.prefill.streamBytes / 2 ** 20).toFixed(0)} MiB` +
          `${r.prefill.maxBytes > 0 ? ` of ${(r.prefill.maxBytes / 2 ** 20).toFixed(0)} MiB max_bytes` : ''}, untouched for ${r.prefill.idleS} s before the displays registered`),
  );
  parts.push(
    table(
      [
        ['registered + connected in', `${fmt(r.phases.connectS, ' s')} (${fmt(r.phases.connectPerS)}/s)`],
        [
          'CPU ms per display to get there',
          Object.entries(r.phases.connectCpuMsPerDisplay ?? {})
            .map(([name, ms]) => `${name} ${fmt(ms)}`)
            .join(', ') || '—',
        ],
        ['held at start / min / end', `${r.connections.heldAtStart} / ${r.connections.heldMin} / ${r.connections.heldAtEnd} of ${r.connections.target}`],
        ['reconnects / disconnects', `${r.connections.reconnects} / ${r.connections.disconnects}${r.connections.flapCycles > 0 ? ` (flap cycles ${r.connections.flapCycles})` : ''}`],
      ],
      'Connections',
    ),
  );
  parts.push(
    table(
      [
        ['scheduled / accepted (202)', `${r.orders.scheduled} / ${r.orders.accepted}`],
        ['retried / duplicate:true / failed', `${r.orders.retried} / ${r.orders.acceptedDuplicate} / ${r.orders.failed}`],
        ['non-202 answers', Object.keys(r.orders.statuses).length === 0 ? 'none' : JSON.stringify(r.orders.statuses)],
        ['throughput', `${fmt(r.orders.perSecond)} orders/s`],
        ['HTTP 202 latency (ms)', latencyRow(r.orders.httpLatencyMs)],
        ['worst schedule lag', fmt(r.orders.maxScheduleLagMs, ' ms')],
      ],
      'Orders',
    ),
  );
  parts.push(
    table(
      [
        ['expected (order × display)', String(r.deliveries.expected)],
        ['displayed (unique)', String(r.deliveries.displayed)],
        ['LOST', String(r.deliveries.lost)],
        ['duplicates on the wire / shown', `${r.deliveries.duplicatesOnWire} / ${r.deliveries.duplicatesShown}`],
        ['misrouted / shown unconfirmed / foreign', `${r.deliveries.misrouted} / ${r.deliveries.shownUnconfirmed} / ${r.deliveries.foreign}`],
        ['SDK received / acked / rejected', `${r.deliveries.received} / ${r.deliveries.acked} / ${r.deliveries.rejected}`],
        ['deliveries per second', fmt(r.deliveries.perSecond)],
        ['drain after last order', fmt(r.deliveries.drainS, ' s')],
        ...r.deliveries.lostSample.slice(0, 5).map((l): [string, string] => [`  lost ${l.orderId}`, `→ ${l.displayId}: ${l.serverStatus}`]),
        ['accept → display (ms)', latencyRow(r.latencyMs)],
      ],
      'Deliveries',
    ),
  );
  const timeline = r.latencyTimeline ?? [];
  if (timeline.length > 1) {
    parts.push(
      table(
        timeline.map((w): [string, string] => [`${w.fromS}–${w.toS} s`, `p50 ${fmt(w.p50)}  p99 ${fmt(w.p99)}  max ${fmt(w.max)}  (n=${w.count})`]),
        'accept → display (ms) by when the order was due',
      ),
    );
  }
  if (r.floor !== undefined) {
    const f = r.floor;
    parts.push(
      table(
        [
          ['JetStream publish→PubAck', latencyRow(f.jsPublish)],
          ['JetStream publish→consume', latencyRow(f.jsPublishToConsume)],
          ['JetStream publish→consume→ackAck', latencyRow(f.jsPublishConsumeAck)],
          ['Socket.IO emitWithAck round trip', latencyRow(f.socketIoRoundTrip)],
          ['publish→consume→emit→shown', latencyRow(f.pipelineToShown)],
          ['Orderwire / floor', `p50 ×${fmt(f.ratioP50)}  p99 ×${fmt(f.ratioP99)}`],
        ],
        'Raw floor (ms, one at a time, same machine)',
      ),
    );
  }
  if (r.fault !== undefined) {
    parts.push(table(r.fault.events.map((e) => [`t=${fmt(e.atS, ' s')}`, e.what]), `Fault ${r.fault.kind}`));
  }
  parts.push(
    table(
      r.processes.map((p) => [
        p.name,
        `cpu avg ${fmt(p.cpuAvgPercent, '%')} peak ${fmt(p.cpuPeakPercent, '%')}${p.idleCpuPercent === undefined ? '' : ` (idle ${fmt(p.idleCpuPercent, '%')})`}  rss max ${fmt(p.rssMaxMB, ' MB')}` +
          `${p.rssMarkedMB === undefined ? '' : ` (connected, idle ${fmt(p.rssMarkedMB, ' MB')})`}${p.pids.length > 1 ? `  restarts ${p.pids.length - 1}` : ''}`,
      ]),
      'Processes (CPU 100% = one core, publishing + drain; idle = all connected, no orders)',
    ),
  );
  if (r.cpuPerDeliveryMs !== undefined) {
    const c = r.cpuPerDeliveryMs;
    parts.push(
      table(
        [
          ['whole stack (nats, redis, auth, ingest, edges)', fmt(c.stack, ' ms')],
          ...Object.entries(c.byProcess).map(([name, ms]): [string, string] => [`  ${name}`, fmt(ms, ' ms')]),
          ['harness (bench + workers, not in the stack figure)', fmt(c.harness, ' ms')],
          ...(r.natsMessagesPerDelivery === undefined
            ? []
            : [['nats-server client messages per delivery (in / out)', `${r.natsMessagesPerDelivery.in.toFixed(2)} / ${r.natsMessagesPerDelivery.out.toFixed(2)}`] as [string, string]]),
        ],
        'CPU per delivered order × display (utime+stime, publishing + drain)',
      ),
    );
  }
  if (r.storm !== undefined) {
    const st = r.storm;
    parts.push(
      table(
        [
          ['displays / edges', `${st.displays} / ${st.edges}`],
          ['kill → edges ready', fmt(st.edgesDownS, ' s')],
          ['edges ready → all reconnected', fmt(st.reconnectS, ' s')],
          ['kill → all reconnected', fmt(st.totalS, ' s')],
          ['connected at the end of the wait', `${st.connectedAtEnd} of ${st.displays}`],
          ['handshakes refused rate_limited', String(st.rateLimited)],
        ],
        'Reconnection storm',
      ),
    );
  }
  if (r.machineLoad !== undefined) {
    const m = r.machineLoad;
    parts.push(
      table(
        [
          ['busy (all cores)', fmt(m.busyPercent, '%')],
          ['measured processes / other load', `${fmt(m.measuredPercent, '%')} / ${fmt(m.otherPercent, '%')} (irq+softirq ${fmt(m.irqPercent, '%')})`],
          ['busiest other processes (% of a core)', m.topOther.length === 0 ? 'none' : m.topOther.map((o) => `${o.command} ${fmt(o.cpuPercent, '%')}`).join(', ')],
          ['load average (1 min, at end)', fmt(m.loadAverage1m)],
        ],
        `Machine (${m.cores} cores)${m.otherPercent > 10 ? ' — WARNING: other workloads used the CPU during this run' : ''}`,
      ),
    );
  }
  if (r.natsProfile !== undefined) parts.push(formatNatsProfile(r.natsProfile));
  parts.push(
    table(
      [
        ['display workers', String(r.harness.workers)],
        ['display client', r.harness.client === 'protocol' ? 'protocol (plain ws, src/protocol/display.ts)' : 'display SDK (socket.io-client)'],
        ['worker event-loop delay p99 / max (publishing + drain)', `${fmt(r.harness.workerLoopDelayP99Ms, ' ms')} / ${fmt(r.harness.workerLoopDelayMaxMs, ' ms')}`],
        ['bench event-loop delay p99', fmt(r.harness.benchLoopDelayP99Ms, ' ms')],
      ],
      'Harness',
    ),
  );
  if (Object.keys(r.errors).length > 0) {
    parts.push(table(Object.entries(r.errors).map(([k, n]) => [k, `${n}× ${r.errorExamples[k] ?? ''}`.slice(0, 200)]), 'Client errors'));
  }
  parts.push(table(r.targets.map((t) => [t.name, `${t.ok ? 'ok  ' : 'MISS'} ${t.measured} (target ${t.target})`]), 'Targets'));
  parts.push(`\n${r.ok ? 'OK: nothing lost' : `FAILED: ${r.deliveries.lost} lost${r.connections.heldAtStart < r.connections.target ? ', not all displays connected' : ''}`}\n`);
  return parts.join('\n');
}

/** `--mode ingest-capacity`: ingest's sustained maximum, three ways in one run. */
export interface CapacityBenchResult {
  version: 1;
  kind: 'ingest-capacity';
  runId: string;
  startedAt: string;
  command: string;
  machine: BenchResult['machine'];
  options: BenchOptions;
  /** `runDirSpread`: own stack, see stack.ts `createRunDir` (absent in results before round 10). */
  stack: { target: 'own' | 'local'; edges: string[]; runDirSpread?: boolean; natsEnv?: Readonly<Record<string, string>> };
  capacity: CapacityResult;
  machineLoad: BenchResult['machineLoad'];
  targets: TargetCheck[];
  ok: boolean;
}

export function checkCapacityTargets(c: CapacityResult): TargetCheck[] {
  return [
    { name: 'ingest single-order requests / raw publish', target: `≥ ${CAPACITY_TARGETS.single}×`, measured: `${round(c.ratios.single)}×`, ok: c.ratios.single >= CAPACITY_TARGETS.single },
    { name: 'ingest batches / raw publish', target: `≥ ${CAPACITY_TARGETS.batch}×`, measured: `${round(c.ratios.batch)}×`, ok: c.ratios.batch >= CAPACITY_TARGETS.batch },
  ];
}

export function formatCapacityResult(r: CapacityBenchResult): string {
  const c = r.capacity;
  const parts: string[] = [
    `Orderwire ingest capacity ${r.runId} — ${r.startedAt} — ${r.machine.cpus} × ${r.machine.cpuModel}, node ${r.machine.node}` +
      `\n  ${r.options.displays} displays registered (not connected), ${r.options.durationS} s per phase, ${c.concurrency} in flight, batches of ${c.batchSize}, target ${r.stack.target}` +
      stackNotes(r.stack),
  ];
  for (const p of c.phases) {
    const cpu = Object.entries(p.cpuMsPerOrder)
      .filter(([name]) => !isHarnessProcess(name))
      .map(([name, ms]) => `${name} ${fmt(ms)}`)
      .join(', ');
    parts.push(
      table(
        [
          ['orders/s', fmt(p.ordersPerS)],
          ['orders / failed', `${p.orders} / ${p.failed}`],
          ['latency per request (ms)', latencyRow(p.latencyMs)],
          ['CPU ms per order', cpu],
        ],
        `Phase ${p.name}`,
      ),
    );
  }
  parts.push(table([['single / raw', `${fmt(c.ratios.single)}×`], ['batch / raw', `${fmt(c.ratios.batch)}×`]], 'Ratios'));
  if (r.machineLoad !== undefined) {
    parts.push(table([['busy / other load', `${fmt(r.machineLoad.busyPercent, '%')} / ${fmt(r.machineLoad.otherPercent, '%')}`]], `Machine (${r.machineLoad.cores} cores)`));
  }
  parts.push(table(r.targets.map((t) => [t.name, `${t.ok ? 'ok  ' : 'MISS'} ${t.measured} (target ${t.target})`]), 'Targets'));
  parts.push(`\n${r.ok ? 'OK' : 'FAILED: a phase accepted nothing'}\n`);
  return parts.join('\n');
}
