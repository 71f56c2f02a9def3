import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findRepoRoot } from './binaries.js';
import { HarnessError, HarnessErrorCode } from './errors.js';
import { httpGet } from './http.js';
import { LogBuffer } from './log-buffer.js';
import { freePort } from './ports.js';
import { DEFAULT_STOP_TIMEOUT_MS, ManagedProcess, registerDisposable, type ExitInfo } from './processes.js';

/** 30000 ms for a service to answer its readiness probe */
export const DEFAULT_SERVICE_START_TIMEOUT_MS = 30_000;
/** 100 ms between readiness probes */
const READY_POLL_MS = 100;
/** 1000 ms per readiness probe */
const READY_PROBE_TIMEOUT_MS = 1_000;

export interface ServiceProcessOptions {
  /** Label in logs and errors, e.g. `edge-1`. */
  name: string;
  /** Entry script: absolute, or relative to the repo root (e.g. `services/edge/dist/main.js`). */
  main: string;
  /** Extra arguments for the script. */
  args?: string[];
  /** Environment on top of the test process's. `PORT` and `HOST` are set by the harness. */
  env?: Record<string, string | undefined>;
  /** @default a random free port, kept across restarts */
  port?: number;
  /** Path polled until it answers 200. @default '/readyz' */
  readyPath?: string;
  /** @default {@link DEFAULT_SERVICE_START_TIMEOUT_MS} */
  startTimeoutMs?: number;
  /** SIGTERM grace before SIGKILL in `stop()`. @default 10000 */
  stopTimeoutMs?: number;
  /** Lines kept by `logs()`. @default 2000 */
  logLines?: number;
}

export interface ServiceProcessHandle extends AsyncDisposable {
  readonly name: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Pid of the current (or last) process. Changes on restart. */
  readonly pid: number;
  readonly running: boolean;
  /** Exit status of the last process once it has exited. */
  readonly exitInfo: ExitInfo | undefined;
  logs(): string;
  /** Sends a signal without waiting (e.g. SIGTERM to observe a drain). */
  signal(sig: NodeJS.Signals): void;
  /** Resolves with the exit status of the current process. */
  exited(): Promise<ExitInfo | undefined>;
  /** SIGTERM, wait for exit, SIGKILL after `stopTimeoutMs`. */
  stop(): Promise<ExitInfo | undefined>;
  /** SIGKILL, wait for exit. */
  kill(): Promise<ExitInfo | undefined>;
  /** Starts a stopped/killed service again on the same port; no-op when running. */
  start(): Promise<void>;
  restart(options?: { hard?: boolean }): Promise<void>;
  dispose(): Promise<void>;
}

class ServiceProcess implements ServiceProcessHandle {
  private proc: ManagedProcess | undefined;
  private lastPid = 0;
  private disposed: Promise<void> | undefined;
  private readonly unregister: () => void;
  private readonly logBuffer: LogBuffer;

  constructor(
    private readonly options: ServiceProcessOptions,
    readonly port: number,
    private readonly main: string,
  ) {
    this.logBuffer = new LogBuffer(options.logLines);
    this.unregister = registerDisposable(this);
  }

  get name(): string {
    return this.options.name;
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get pid(): number {
    return this.proc?.pid ?? this.lastPid;
  }
  get running(): boolean {
    return this.proc?.running ?? false;
  }
  get exitInfo(): ExitInfo | undefined {
    return this.proc?.exitInfo;
  }

  logs(): string {
    return this.logBuffer.text();
  }

  signal(sig: NodeJS.Signals): void {
    this.proc?.signal(sig);
  }

  async exited(): Promise<ExitInfo | undefined> {
    return this.proc?.exited;
  }

  async stop(): Promise<ExitInfo | undefined> {
    return this.proc?.stop(this.options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
  }

  async kill(): Promise<ExitInfo | undefined> {
    return this.proc?.kill();
  }

  async start(): Promise<void> {
    if (this.disposed !== undefined) {
      throw new HarnessError(HarnessErrorCode.Disposed, `service ${this.name} was disposed`);
    }
    if (this.running) return;
    const proc = await ManagedProcess.spawn({
      command: process.execPath,
      args: [this.main, ...(this.options.args ?? [])],
      env: { ...process.env, ...this.options.env, HOST: '127.0.0.1', PORT: String(this.port) },
      label: `service ${this.name}`,
      logs: this.logBuffer,
    });
    this.proc = proc;
    this.lastPid = proc.pid;
    await this.awaitReady(proc);
  }

  async restart(options: { hard?: boolean } = {}): Promise<void> {
    if (options.hard === true) await this.kill();
    else await this.stop();
    await this.start();
  }

  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      this.unregister();
      await this.stop();
    })();
    return this.disposed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private async awaitReady(proc: ManagedProcess): Promise<void> {
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_SERVICE_START_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const url = `${this.url}${this.options.readyPath ?? '/readyz'}`;
    let last = '';
    for (;;) {
      const info = proc.exitInfo;
      if (info !== undefined) {
        throw new HarnessError(
          HarnessErrorCode.ExitedEarly,
          `service ${this.name} exited during start (code ${info.code}, signal ${info.signal})\n${this.logBuffer.tail(30)}`,
        );
      }
      try {
        const res = await httpGet(url, READY_PROBE_TIMEOUT_MS);
        if (res.status === 200) return;
        last = `HTTP ${res.status} ${res.body.slice(0, 300)}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) {
        await proc.kill();
        throw new HarnessError(
          HarnessErrorCode.StartTimeout,
          `service ${this.name} not ready at ${url} within ${timeoutMs} ms (last: ${last})\n${this.logBuffer.tail(30)}`,
        );
      }
      await sleep(READY_POLL_MS);
    }
  }
}

/**
 * Spawns a built service (`node <main>`) on a free port with `HOST=127.0.0.1`, and resolves
 * once its readiness probe answers 200. The process is registered like every harness server:
 * it cannot outlive the test process.
 */
export async function startServiceProcess(options: ServiceProcessOptions): Promise<ServiceProcessHandle> {
  const root = findRepoRoot();
  if (!isAbsolute(options.main) && root === undefined) {
    throw new HarnessError(HarnessErrorCode.InvalidArgument, `relative main ${options.main} but no repo root (turbo.json) found`);
  }
  const main = isAbsolute(options.main) ? options.main : join(root ?? "", options.main);
  const service = new ServiceProcess(options, options.port ?? (await freePort()), main);
  try {
    await service.start();
  } catch (err) {
    await service.dispose();
    throw err;
  }
  return service;
}
