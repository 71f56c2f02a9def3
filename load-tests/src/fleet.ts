/**
 * The bench side of the display workers: forks them, hands out enrollment codes (slot i goes to
 * worker i mod W), collects shown orders and progress, and gathers their final statistics.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BenchError } from './errors.js';
import type { ProcessRef } from './proc-stats.js';
import type { DisplayClientKind, ParentMessage, WorkerFinal, WorkerMessage, WorkerProgress } from './worker-protocol.js';

/** 16 enrollments in flight per worker */
export const ENROLL_CONCURRENCY = 16;
/** 30 s for workers to send their final statistics after `stop` */
export const WORKER_STOP_TIMEOUT_MS = 30_000;

export interface FleetOptions {
  workers: number;
  authUrl: string;
  edgeUrls: string[];
  runId: string;
  /** Connections per second, all workers together. */
  connectRate: number;
  client: DisplayClientKind;
  /** Called for every order shown on a display. */
  onShown(slot: number, orderNumber: number, latencyMs: number): void;
}

/** The workers' progress summed, plus deliveries of other runs' orders seen by any of them. */
export interface FleetProgress extends Omit<WorkerProgress, 't'> {
  foreign: number;
}

export interface FleetFinal extends Omit<WorkerFinal, 't'> {
  errors: Record<string, number>;
  errorExamples: Record<string, string>;
}

export interface DisplayFleet {
  enroll(displays: ReadonlyArray<{ slot: number; code: string }>): void;
  progress(): FleetProgress;
  /** Client error counts so far (DisplaySdkError code[:serverCode] → count). */
  errors(): Record<string, number>;
  flap(slots: readonly number[], downMs: number, upMs: number, durationMs: number): void;
  /** Starts the measured window in every worker (resets their event-loop delay histograms). */
  mark(): void;
  stop(): Promise<FleetFinal>;
  processes(): ProcessRef[];
  /** Rejects when a worker dies before `stop()`. */
  readonly failed: Promise<never>;
}

interface Worker {
  index: number;
  child: ChildProcess;
  progress: Omit<WorkerProgress, 't'>;
  final: WorkerFinal | undefined;
  exited: Promise<number | null>;
}

// Via ../dist so the path is the same whether this module runs built (dist/) or from src/ (vitest).
const WORKER_ENTRY = fileURLToPath(new URL('../dist/display-worker.js', import.meta.url));

export function startDisplayFleet(options: FleetOptions): DisplayFleet {
  const errors: Record<string, number> = {};
  const examples: Record<string, string> = {};
  let foreign = 0;
  let stopping = false;
  let rejectFailed: (err: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    rejectFailed = reject;
  });
  // Observed by whoever races it; a rejection nobody awaits must not crash the process.
  failed.catch(() => {});

  const workers: Worker[] = [];
  for (let index = 0; index < options.workers; index++) {
    const child = fork(WORKER_ENTRY, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // INSTANCE_ID as the report names it: scripts/cpu-prof-preload.mjs can then profile one worker.
      env: { ...process.env, NODE_ENV: 'production', INSTANCE_ID: `display-worker-${index + 1}` },
    });
    const w: Worker = {
      index,
      child,
      progress: { enrolled: 0, enrollFailed: 0, connected: 0, reconnects: 0, disconnects: 0, flapCycles: 0 },
      final: undefined,
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    };
    child.on('message', (raw: unknown) => {
      const msg = raw as WorkerMessage;
      switch (msg.t) {
        case 'progress':
          w.progress = msg;
          return;
        case 'shown': {
          const d = msg.data;
          for (let i = 0; i + 2 < d.length; i += 3) options.onShown(d[i]!, d[i + 1]!, d[i + 2]!);
          foreign += msg.foreign;
          return;
        }
        case 'errors':
          for (const [code, n] of Object.entries(msg.counts)) errors[code] = (errors[code] ?? 0) + n;
          for (const [code, text] of Object.entries(msg.examples)) examples[code] ??= text;
          return;
        case 'final':
          w.final = msg;
          return;
      }
    });
    void w.exited.then((code) => {
      if (!stopping) rejectFailed(new BenchError('ORDERWIRE_ERR_BENCH_WORKER', `display worker ${index} exited with code ${code}`));
    });
    const init: ParentMessage = {
      t: 'init',
      workerIndex: index,
      authUrl: options.authUrl,
      edgeUrls: options.edgeUrls,
      runId: options.runId,
      connectRate: options.connectRate / options.workers,
      enrollConcurrency: ENROLL_CONCURRENCY,
      client: options.client,
    };
    child.send(init);
    workers.push(w);
  }

  const send = (w: Worker, msg: ParentMessage): void => {
    if (w.child.connected) w.child.send(msg);
  };

  return {
    failed,
    enroll(displays) {
      const parts = workers.map(() => [] as Array<{ slot: number; code: string }>);
      for (const d of displays) parts[d.slot % workers.length]!.push(d);
      workers.forEach((w, i) => {
        if (parts[i]!.length > 0) send(w, { t: 'enroll', displays: parts[i]! });
      });
    },
    errors() {
      return { ...errors };
    },
    progress() {
      const p: FleetProgress = { enrolled: 0, enrollFailed: 0, connected: 0, reconnects: 0, disconnects: 0, flapCycles: 0, foreign };
      for (const w of workers) {
        p.enrolled += w.progress.enrolled;
        p.enrollFailed += w.progress.enrollFailed;
        p.connected += w.progress.connected;
        p.reconnects += w.progress.reconnects;
        p.disconnects += w.progress.disconnects;
        p.flapCycles += w.progress.flapCycles;
      }
      return p;
    },
    flap(slots, downMs, upMs, durationMs) {
      const parts = workers.map(() => [] as number[]);
      for (const s of slots) parts[s % workers.length]!.push(s);
      workers.forEach((w, i) => send(w, { t: 'flap', slots: parts[i]!, downMs, upMs, durationMs }));
    },
    mark() {
      for (const w of workers) send(w, { t: 'mark' });
    },
    async stop() {
      stopping = true;
      for (const w of workers) send(w, { t: 'stop' });
      const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), WORKER_STOP_TIMEOUT_MS).unref());
      await Promise.all(
        workers.map(async (w) => {
          if ((await Promise.race([w.exited, deadline])) === 'timeout') w.child.kill('SIGKILL');
        }),
      );
      const total: FleetFinal = {
        received: 0,
        shown: 0,
        duplicatesOnWire: 0,
        acked: 0,
        rejected: 0,
        loopDelayP99Ms: 0,
        loopDelayMaxMs: 0,
        errors,
        errorExamples: examples,
      };
      for (const w of workers) {
        if (w.final === undefined) {
          throw new BenchError('ORDERWIRE_ERR_BENCH_WORKER', `display worker ${w.index} sent no final statistics`);
        }
        total.received += w.final.received;
        total.shown += w.final.shown;
        total.duplicatesOnWire += w.final.duplicatesOnWire;
        total.acked += w.final.acked;
        total.rejected += w.final.rejected;
        total.loopDelayP99Ms = Math.max(total.loopDelayP99Ms, w.final.loopDelayP99Ms);
        total.loopDelayMaxMs = Math.max(total.loopDelayMaxMs, w.final.loopDelayMaxMs);
      }
      return total;
    },
    processes() {
      return workers.map((w) => ({ name: `display-worker-${w.index + 1}`, pid: w.child.exitCode === null ? w.child.pid : undefined }));
    },
  };
}
