/**
 * A display worker process: enrolls displays through the display SDK (the real client) or the
 * protocol-level client (src/protocol/display.ts, `--client protocol`), holds their Socket.IO
 * connections, shows every order (the handler records accept → shown latency), and reports to
 * the bench process. Forked by fleet.ts; exits when the parent goes away.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createDisplayClient,
  createTokenManager,
  memoryTokenStore,
  isDisplaySdkError,
  type TokenManager,
} from '@orderwire/display-sdk';
import { createHttpClient, type HttpClient } from './http.js';
import { orderNumber } from './plan.js';
import { ProtocolDisplay, ProtocolDisplayError, enrollDisplay } from './protocol/display.js';
import {
  WORKER_REPORT_INTERVAL_MS,
  type ParentMessage,
  type WorkerFinal,
  type WorkerInit,
  type WorkerMessage,
} from './worker-protocol.js';

/** What the worker needs of a display, whichever client runs it. */
interface DisplayHandle {
  start(): void;
  stop(): void;
  stats(): { received: number; shown: number; duplicatesOnWire: number; acked: number; rejected: number };
}

interface Display {
  slot: number;
  client: DisplayHandle;
  /** The SDK's token manager, closed at the end. */
  tokens?: TokenManager;
  connected: boolean;
  everConnected: boolean;
}

const displays: Display[] = [];
const pending: Array<{ slot: number; code: string }> = [];
let init: WorkerInit | undefined;
let enrolled = 0;
let enrollFailed = 0;
let connectedCount = 0;
let reconnects = 0;
let disconnects = 0;
let flapCycles = 0;
let foreign = 0;
let stopping = false;
let shownBuf = new Float64Array(3 * 4096);
let shownLen = 0;
const errorCounts = new Map<string, number>();
const errorExamples = new Map<string, string>();
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

/** Epoch ms with sub-ms resolution (same clock as ingest's Date.now() on this machine). */
const nowMs = (): number => performance.timeOrigin + performance.now();

function send(msg: WorkerMessage): void {
  if (process.connected) process.send?.(msg);
}

function countError(err: unknown): void {
  const code = isDisplaySdkError(err)
    ? `${err.code}${err.serverCode === undefined ? '' : `:${err.serverCode}`}`
    : err instanceof ProtocolDisplayError
      ? `${err.code}${err.reason === undefined ? '' : `:${err.reason}`}`
      : 'unexpected';
  errorCounts.set(code, (errorCounts.get(code) ?? 0) + 1);
  if (!errorExamples.has(code)) errorExamples.set(code, err instanceof Error ? err.message : String(err));
}

function record(slot: number, n: number, latency: number): void {
  if (shownLen + 3 > shownBuf.length) {
    const next = new Float64Array(shownBuf.length * 2);
    next.set(shownBuf);
    shownBuf = next;
  }
  shownBuf[shownLen++] = slot;
  shownBuf[shownLen++] = n;
  shownBuf[shownLen++] = latency;
}

function flush(): void {
  if (shownLen > 0 || foreign > 0) {
    send({ t: 'shown', data: shownBuf.slice(0, shownLen), foreign });
    shownLen = 0;
    foreign = 0;
  }
  if (errorCounts.size > 0) {
    send({ t: 'errors', counts: Object.fromEntries(errorCounts), examples: Object.fromEntries(errorExamples) });
    errorCounts.clear();
  }
  send({ t: 'progress', enrolled, enrollFailed, connected: connectedCount, reconnects, disconnects, flapCycles });
}

/** Display `slot` starts on edge `slot mod edges`, so connections spread evenly. */
function rotated(urls: readonly string[], slot: number): string[] {
  const k = slot % urls.length;
  return [...urls.slice(k), ...urls.slice(0, k)];
}

/**
 * The harness drives the local stack over plain http (the SDK's development mode); against a
 * deployment its URLs are https/wss and the SDK keeps its strict default.
 */
function plainHttp(url: string): boolean {
  const protocol = new URL(url).protocol;
  return protocol === 'http:' || protocol === 'ws:';
}

function onConnected(d: Display): void {
  if (d.everConnected) reconnects++;
  d.everConnected = true;
  if (!d.connected) connectedCount++;
  d.connected = true;
}

function onDisconnected(d: Display): void {
  disconnects++;
  if (d.connected) connectedCount--;
  d.connected = false;
}

function onShown(cfg: WorkerInit, slot: number, orderId: string, latencyMs: number): void {
  const n = orderNumber(cfg.runId, orderId);
  if (n === undefined) foreign++;
  else record(slot, n, latencyMs);
}

let http: HttpClient | undefined;

async function enrollProtocol(cfg: WorkerInit, slot: number, code: string): Promise<void> {
  http ??= createHttpClient(cfg.enrollConcurrency);
  let tokens;
  try {
    tokens = await enrollDisplay(http, cfg.authUrl, code);
  } catch (err) {
    enrollFailed++;
    countError(err);
    return;
  }
  enrolled++;
  const d = { slot, connected: false, everConnected: false } as Display;
  d.client = new ProtocolDisplay({
    authUrl: cfg.authUrl,
    edgeUrls: rotated(cfg.edgeUrls, slot),
    http,
    tokens,
    now: nowMs,
    onShown: (delivery, latencyMs) => onShown(cfg, slot, delivery.orderId, latencyMs),
    onConnected: () => onConnected(d),
    onDisconnected: () => onDisconnected(d),
    onError: countError,
  });
  displays.push(d);
  if (!stopping) d.client.start();
}

async function enrollOne(cfg: WorkerInit, slot: number, code: string): Promise<void> {
  if (cfg.client === 'protocol') return enrollProtocol(cfg, slot, code);
  const tokens = createTokenManager({ development: plainHttp(cfg.authUrl), authUrl: cfg.authUrl, store: memoryTokenStore() });
  tokens.on('error', countError);
  try {
    await tokens.enroll(code);
  } catch (err) {
    enrollFailed++;
    countError(err);
    tokens.close();
    return;
  }
  enrolled++;
  const client = createDisplayClient({ development: cfg.edgeUrls.some(plainHttp), edgeUrls: rotated(cfg.edgeUrls, slot), tokens });
  const d: Display = { slot, tokens, client, connected: false, everConnected: false };
  client.on('order', (delivery) => onShown(cfg, slot, delivery.orderId, nowMs() - delivery.acceptedAt));
  client.on('connected', () => onConnected(d));
  client.on('disconnected', () => onDisconnected(d));
  client.on('error', countError);
  client.on('reenroll_required', (info) => countError(new Error(`reenroll_required: ${info.reason}`)));
  displays.push(d);
  if (!stopping) client.start();
}

/** Enrolls the queue at `connectRate` per second with at most `enrollConcurrency` in flight. */
async function drainQueue(cfg: WorkerInit): Promise<void> {
  const interval = 1000 / cfg.connectRate;
  let next = performance.now();
  const inFlight = new Set<Promise<void>>();
  while (pending.length > 0 && !stopping) {
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    next += interval;
    while (inFlight.size >= cfg.enrollConcurrency) await Promise.race(inFlight);
    const item = pending.shift()!;
    const p = enrollOne(cfg, item.slot, item.code).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
}

let draining: Promise<void> | undefined;

function startDraining(cfg: WorkerInit): void {
  if (draining !== undefined) return;
  draining = drainQueue(cfg)
    .catch((err: unknown) => countError(err))
    .finally(() => {
      draining = undefined;
      if (pending.length > 0 && !stopping) startDraining(cfg);
    });
}

async function flap(slots: readonly number[], downMs: number, upMs: number, durationMs: number): Promise<void> {
  const bySlot = new Map(displays.map((d) => [d.slot, d]));
  const until = performance.now() + durationMs;
  await Promise.all(
    slots.map(async (slot) => {
      const d = bySlot.get(slot);
      if (d === undefined) return;
      // Jitter the phase so flapping displays do not move in lockstep.
      await sleep(Math.random() * (downMs + upMs));
      while (!stopping && performance.now() < until) {
        d.client.stop();
        await sleep(downMs * (0.5 + Math.random()));
        if (stopping) return;
        d.client.start();
        flapCycles++;
        await sleep(upMs * (0.5 + Math.random()));
      }
    }),
  );
}

async function stop(): Promise<void> {
  stopping = true;
  for (const d of displays) {
    d.client.stop();
    d.tokens?.close();
  }
  http?.close();
  flush();
  let received = 0;
  let shown = 0;
  let duplicatesOnWire = 0;
  let acked = 0;
  let rejected = 0;
  for (const d of displays) {
    const s = d.client.stats();
    received += s.received;
    shown += s.shown;
    duplicatesOnWire += s.duplicatesOnWire;
    acked += s.acked;
    rejected += s.rejected;
  }
  loopDelay.disable();
  const final: WorkerFinal = {
    t: 'final',
    received,
    shown,
    duplicatesOnWire,
    acked,
    rejected,
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    loopDelayMaxMs: loopDelay.max / 1e6,
  };
  await new Promise<void>((resolve) => {
    if (!process.connected) return resolve();
    process.send?.(final, undefined, undefined, () => resolve());
  });
  process.disconnect();
}

const reporter = setInterval(flush, WORKER_REPORT_INTERVAL_MS);

process.on('message', (raw: unknown) => {
  const msg = raw as ParentMessage;
  switch (msg.t) {
    case 'init':
      init = msg;
      return;
    case 'enroll':
      if (init === undefined) return;
      pending.push(...msg.displays);
      startDraining(init);
      return;
    case 'mark':
      loopDelay.reset();
      return;
    case 'flap':
      flap(msg.slots, msg.downMs, msg.upMs, msg.durationMs).catch(countError);
      return;
    case 'stop':
      clearInterval(reporter);
      stop().catch((err: unknown) => {
        process.stderr.write(`display worker: stop failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      });
      return;
  }
});

// The bench process is gone (crashed or killed): never outlive it.
process.on('disconnect', () => {
  if (!stopping) process.exit(1);
  setTimeout(() => process.exit(0), 100).unref();
});
