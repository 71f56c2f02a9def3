/** Messages between the bench process and its display worker processes (IPC, advanced serialization). */

export interface WorkerInit {
  t: 'init';
  workerIndex: number;
  authUrl: string;
  edgeUrls: string[];
  runId: string;
  /** Connections this worker opens per second. */
  connectRate: number;
  /** Enrollments in flight at most. */
  enrollConcurrency: number;
  /** `sdk`: the display SDK (socket.io-client); `protocol`: the same conversation on plain ws (src/protocol/display.ts). */
  client: DisplayClientKind;
}

export type DisplayClientKind = 'sdk' | 'protocol';
export const DISPLAY_CLIENT_KINDS: readonly DisplayClientKind[] = ['sdk', 'protocol'];

export interface WorkerEnroll {
  t: 'enroll';
  displays: Array<{ slot: number; code: string }>;
}

export interface WorkerFlap {
  t: 'flap';
  slots: number[];
  /** Each flapping display cycles: down for downMs, up for upMs, until durationMs has passed. */
  downMs: number;
  upMs: number;
  durationMs: number;
}

/** The measured window starts: reset the event-loop delay histogram (enrollment is not part of it). */
export interface WorkerMark {
  t: 'mark';
}

export interface WorkerStop {
  t: 'stop';
}

export type ParentMessage = WorkerInit | WorkerEnroll | WorkerFlap | WorkerMark | WorkerStop;

export interface WorkerProgress {
  t: 'progress';
  enrolled: number;
  enrollFailed: number;
  connected: number;
  /** Connects after the first one (reconnects after a drop, a drain or a flap). */
  reconnects: number;
  disconnects: number;
  flapCycles: number;
}

/** Shown orders since the last report: triplets [slot, order number, accept→shown ms]. */
export interface WorkerShown {
  t: 'shown';
  data: Float64Array;
  /** Deliveries of orders that are not this run's (another load on a shared stack). */
  foreign: number;
}

export interface WorkerErrorReport {
  t: 'errors';
  /** DisplaySdkError code (with serverCode when present) → count since the last report. */
  counts: Record<string, number>;
  /** First message per code, for the report. */
  examples: Record<string, string>;
}

export interface WorkerFinal {
  t: 'final';
  received: number;
  shown: number;
  duplicatesOnWire: number;
  acked: number;
  rejected: number;
  /** Event-loop delay of the worker since `mark` (ms): shows whether the harness itself was a bottleneck. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export type WorkerMessage = WorkerProgress | WorkerShown | WorkerErrorReport | WorkerFinal;

/** 200 ms between reports from a worker */
export const WORKER_REPORT_INTERVAL_MS = 200;
