import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveBinary, type ServerBinary } from './binaries.js';
import { HarnessError, HarnessErrorCode } from './errors.js';
import type { LogBuffer } from './log-buffer.js';
import { ManagedProcess, registerDisposable, registerTempDir, removeTempDir } from './processes.js';

/** 64000 characters of a run's output scanned for "address already in use" */
const OUTPUT_SCAN_CHARS = 64_000;
/** 100 ms × attempt between spawns while a pinned port is still held… */
const PORT_RETRY_STEP_MS = 100;
/** …capped at 500 ms */
const PORT_RETRY_MAX_MS = 500;

/** What every server handle offers, whichever server it runs. */
export interface ServerHandle extends AsyncDisposable {
  readonly name: string;
  /** Temp dir of the server, removed on dispose. */
  readonly dir: string;
  /** Pid of the current (or last) process. Changes on restart. */
  readonly pid: number;
  readonly running: boolean;
  /** stdout/stderr of all runs (ring buffer) with harness notes; attach it to failures. */
  logs(): string;
  /** SIGTERM, wait for exit, SIGKILL after `stopTimeoutMs`. No-op when not running. */
  stop(): Promise<void>;
  /** SIGKILL, wait for exit. No-op when not running. */
  kill(): Promise<void>;
  /** Stops and removes the temp dir. Idempotent. */
  dispose(): Promise<void>;
}

/** What every server handle keeps about itself. */
export interface ServerSpec {
  readonly name: string;
  /** Temp dir of the server, removed on dispose. */
  readonly dir: string;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  /** Output of every run, with harness notes. */
  readonly logs: LogBuffer;
}

export interface LaunchOptions {
  readonly args: readonly string[];
  /** Environment on top of the harness process's own. */
  readonly env?: Readonly<Record<string, string>>;
  /** How long a pinned port may stay busy (a killed predecessor) before PortInUse. */
  readonly rebindWindowMs: number;
  /** Runs before every spawn attempt (e.g. writing the config file). */
  readonly prepare?: () => Promise<void>;
  /** Resolves once the process is ready; throws when it is not by `deadline`. */
  readonly ready: (proc: ManagedProcess, deadline: number) => Promise<void>;
  /** The busy port as a harness note names it, e.g. `port 6379`. */
  readonly busyPort: string;
  /** PortInUse message once the window has passed (read at that time). */
  readonly portInUse: () => string;
}

/**
 * The lifecycle nats-server and redis-server handles share: one child at a time, start /
 * stop / restart serialised so concurrent calls cannot spawn twice, registration with
 * `disposeAll()`, dispose removing the temp dir, and a spawn loop that retries while a pinned
 * port is still held by the previous run. A subclass says how to spawn and what "ready" means.
 */
export abstract class ServerProcess<S extends ServerSpec> implements ServerHandle {
  private proc: ManagedProcess | undefined;
  private lastPid = 0;
  private disposed: Promise<void> | undefined;
  private readonly unregister: () => void;
  private queue: Promise<unknown> = Promise.resolve();

  protected constructor(
    protected readonly spec: S,
    private readonly binary: ServerBinary,
    /** Log lines quoted in start errors. */
    private readonly tailLines: number,
  ) {
    this.unregister = registerDisposable(this);
  }

  get name(): string {
    return this.spec.name;
  }
  get dir(): string {
    return this.spec.dir;
  }
  get pid(): number {
    return this.proc?.pid ?? this.lastPid;
  }
  get running(): boolean {
    return this.proc?.running ?? false;
  }

  logs(): string {
    return this.spec.logs.text();
  }

  stop(): Promise<void> {
    return this.serial(async () => {
      await this.proc?.stop(this.spec.stopTimeoutMs);
    });
  }

  kill(): Promise<void> {
    return this.serial(async () => {
      await this.proc?.kill();
    });
  }

  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      this.unregister();
      try {
        await this.serial(async () => {
          await this.proc?.stop(this.spec.stopTimeoutMs);
        });
      } finally {
        await removeTempDir(this.spec.dir);
      }
    })();
    return this.disposed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** `nats-server <name>`: how logs and errors name this server. */
  protected get label(): string {
    return `${this.binary} ${this.spec.name}`;
  }

  /** The current (or last) process. */
  protected get process(): ManagedProcess | undefined {
    return this.proc;
  }

  /** Runs `launch` unless the server is running. */
  protected startWith(launch: () => Promise<void>): Promise<void> {
    return this.serial(async () => {
      this.assertUsable();
      if (!this.running) await launch();
    });
  }

  /** Stops (SIGKILL when `hard`) if running, then runs `launch`. */
  protected restartWith(hard: boolean, launch: () => Promise<void>): Promise<void> {
    return this.serial(async () => {
      this.assertUsable();
      if (hard) await this.proc?.kill();
      else await this.proc?.stop(this.spec.stopTimeoutMs);
      await launch();
    });
  }

  protected serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Spawns the server and waits until it is ready. A pinned port can be briefly unavailable
   * after a kill, so "address already in use" is retried within `rebindWindowMs`; with 0 it
   * is reported as PortInUse for the caller to pick new ports.
   */
  protected async launch(options: LaunchOptions): Promise<void> {
    const { spec } = this;
    const started = Date.now();
    const deadline = started + spec.startTimeoutMs + options.rebindWindowMs;
    for (let attempt = 1; ; attempt++) {
      await options.prepare?.();
      let output = '';
      const proc = await ManagedProcess.spawn({
        command: resolveBinary(this.binary),
        args: options.args,
        ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
        cwd: spec.dir,
        label: this.label,
        logs: spec.logs,
        onOutput: (chunk) => {
          if (output.length < OUTPUT_SCAN_CHARS) output += chunk;
        },
      });
      this.proc = proc;
      this.lastPid = proc.pid;
      try {
        await options.ready(proc, deadline);
        return;
      } catch (err) {
        await proc.kill();
        const portBusy = /address already in use/i.test(output);
        if (portBusy && Date.now() - started < options.rebindWindowMs) {
          spec.logs.note(`${options.busyPort} busy, retrying (attempt ${attempt})`);
          await sleep(Math.min(PORT_RETRY_STEP_MS * attempt, PORT_RETRY_MAX_MS));
          continue;
        }
        if (portBusy) {
          throw new HarnessError(HarnessErrorCode.PortInUse, `${this.label}: ${options.portInUse()}\n${spec.logs.tail(this.tailLines)}`, {
            cause: err,
          });
        }
        throw err;
      }
    }
  }

  /** Throws ExitedEarly when the process being started has already exited. */
  protected assertAlive(proc: ManagedProcess): void {
    const info = proc.exitInfo;
    if (info !== undefined) {
      throw new HarnessError(
        HarnessErrorCode.ExitedEarly,
        `${this.label} exited during start (code ${info.code}, signal ${info.signal})\n${this.spec.logs.tail(this.tailLines)}`,
      );
    }
  }

  /** Throws StartTimeout once `deadline` has passed: `<label> <what> within <ms> ms<after>`. */
  protected assertBefore(deadline: number, what: string, after = ''): void {
    if (Date.now() > deadline) {
      throw new HarnessError(
        HarnessErrorCode.StartTimeout,
        `${this.label} ${what} within ${this.spec.startTimeoutMs} ms${after}\n${this.spec.logs.tail(this.tailLines)}`,
      );
    }
  }

  private assertUsable(): void {
    if (this.disposed !== undefined) {
      throw new HarnessError(HarnessErrorCode.Disposed, `${this.label} was disposed`);
    }
  }
}

/** A fresh temp dir `orderwire-<prefix>-*`, removed on dispose, exit, or by the watchdog. */
export async function createServerDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `orderwire-${prefix}-`));
  registerTempDir(dir);
  return dir;
}

/** Starts a new handle; if that fails, disposes it (process and temp dir) before rethrowing. */
export async function startOrDispose<H extends { dispose(): Promise<void> }>(handle: H, start: (handle: H) => Promise<void>): Promise<H> {
  try {
    await start(handle);
  } catch (err) {
    await handle.dispose();
    throw err;
  }
  return handle;
}
