import { mkdtemp } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveBinary } from './binaries.js';
import { HarnessError, HarnessErrorCode } from './errors.js';
import { LogBuffer } from './log-buffer.js';
import { PORT_REBIND_WINDOW_MS, freePort } from './ports.js';
import {
  DEFAULT_STOP_TIMEOUT_MS,
  ManagedProcess,
  registerDisposable,
  registerTempDir,
  removeTempDir,
} from './processes.js';

/** @default 10000 ms for redis-server to answer PING */
export const DEFAULT_REDIS_START_TIMEOUT_MS = 10_000;
/** @default 5 fresh ports tried when a randomly picked one was taken meanwhile */
const RANDOM_PORT_ATTEMPTS = 5;
/** @default 500 ms per PING probe */
const PING_TIMEOUT_MS = 500;
/** @default 20 ms between PING probes */
const PING_POLL_MS = 20;

export interface RedisServerOptions {
  /** @default a random free port, kept across restarts */
  port?: number;
  /** Extra redis-server arguments, appended last so they win (e.g. `['--maxmemory', '10mb']`). */
  args?: string[];
  /**
   * false: no RDB snapshots, no AOF — data is gone after a restart.
   * true: AOF with `appendfsync always`, so data survives stop/restart and even kill.
   * @default false
   */
  persistence?: boolean;
  /** Label in logs and errors. @default `redis-<random>` */
  name?: string;
  /** @default {@link DEFAULT_REDIS_START_TIMEOUT_MS} */
  startTimeoutMs?: number;
  /** SIGTERM grace before SIGKILL in `stop()`. @default 10000 */
  stopTimeoutMs?: number;
  /** Lines kept by `logs()`. @default 2000 */
  logLines?: number;
}

export interface RedisServerHandle extends AsyncDisposable {
  readonly name: string;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Working dir (`--dir`): RDB/AOF files live here. Removed on dispose. */
  readonly dir: string;
  /** Pid of the current (or last) redis-server process. Changes on restart. */
  readonly pid: number;
  readonly running: boolean;
  logs(): string;
  /** SIGTERM, wait for exit, SIGKILL after `stopTimeoutMs`. No-op when not running. */
  stop(): Promise<void>;
  /** SIGKILL, wait for exit. No-op when not running. */
  kill(): Promise<void>;
  /** Starts a stopped/killed server on the same port and dir; no-op when running. */
  start(): Promise<void>;
  /** Stops (SIGKILL when `hard`) if running, then starts on the same port and dir. */
  restart(options?: { hard?: boolean }): Promise<void>;
  /** Stops and removes the temp dir. Idempotent. */
  dispose(): Promise<void>;
}

interface RedisSpec {
  readonly name: string;
  port: number;
  readonly dir: string;
  readonly args: readonly string[];
  readonly persistence: boolean;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly logs: LogBuffer;
}

class RedisServer implements RedisServerHandle {
  private proc: ManagedProcess | undefined;
  private lastPid = 0;
  private disposed: Promise<void> | undefined;
  private readonly unregister: () => void;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly spec: RedisSpec) {
    this.unregister = registerDisposable(this);
  }

  get name(): string {
    return this.spec.name;
  }
  get url(): string {
    return `redis://127.0.0.1:${this.spec.port}`;
  }
  get port(): number {
    return this.spec.port;
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

  start(): Promise<void> {
    return this.serial(async () => {
      this.assertUsable();
      if (!this.running) await this.launch(PORT_REBIND_WINDOW_MS);
    });
  }

  restart(options: { hard?: boolean } = {}): Promise<void> {
    return this.serial(async () => {
      this.assertUsable();
      if (options.hard === true) await this.proc?.kill();
      else await this.proc?.stop(this.spec.stopTimeoutMs);
      await this.launch(PORT_REBIND_WINDOW_MS);
    });
  }

  /** First start on a port picked by {@link freePort}: a lost race means a new port. */
  firstStart(portIsOurs: boolean): Promise<void> {
    return this.serial(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.launch(portIsOurs ? 0 : PORT_REBIND_WINDOW_MS);
          return;
        } catch (err) {
          const retry = portIsOurs && err instanceof HarnessError && err.code === HarnessErrorCode.PortInUse;
          if (!retry || attempt >= RANDOM_PORT_ATTEMPTS) throw err;
          this.spec.port = await freePort();
        }
      }
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

  private assertUsable(): void {
    if (this.disposed !== undefined) {
      throw new HarnessError(HarnessErrorCode.Disposed, `redis-server ${this.spec.name} was disposed`);
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async launch(rebindWindowMs: number): Promise<void> {
    const { spec } = this;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      let output = '';
      const proc = await ManagedProcess.spawn({
        command: resolveBinary('redis-server'),
        args: redisArgs(spec),
        cwd: spec.dir,
        label: `redis-server ${spec.name}`,
        logs: spec.logs,
        onOutput: (chunk) => {
          if (output.length < 64_000) output += chunk;
        },
      });
      this.proc = proc;
      this.lastPid = proc.pid;
      try {
        await this.awaitPong(proc, started + spec.startTimeoutMs + rebindWindowMs);
        return;
      } catch (err) {
        await proc.kill();
        const portBusy = /address already in use/i.test(output);
        if (portBusy && Date.now() - started < rebindWindowMs) {
          spec.logs.note(`port ${spec.port} busy, retrying (attempt ${attempt})`);
          await sleep(Math.min(100 * attempt, 500));
          continue;
        }
        if (portBusy) {
          throw new HarnessError(HarnessErrorCode.PortInUse, `redis-server ${spec.name}: port ${spec.port} in use\n${spec.logs.tail(20)}`, {
            cause: err,
          });
        }
        throw err;
      }
    }
  }

  private async awaitPong(proc: ManagedProcess, deadline: number): Promise<void> {
    let last = '';
    for (;;) {
      const info = proc.exitInfo;
      if (info !== undefined) {
        throw new HarnessError(
          HarnessErrorCode.ExitedEarly,
          `redis-server ${this.spec.name} exited during start (code ${info.code}, signal ${info.signal})\n${this.spec.logs.tail(20)}`,
        );
      }
      try {
        last = await ping(this.spec.port, PING_TIMEOUT_MS);
        // NOAUTH: a `--requirepass` server is up and serving; it just wants AUTH first.
        if (last === '+PONG' || last.startsWith('-NOAUTH')) return;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) {
        throw new HarnessError(
          HarnessErrorCode.StartTimeout,
          `redis-server ${this.spec.name} did not answer PING within ${this.spec.startTimeoutMs} ms (last: ${last})\n${this.spec.logs.tail(20)}`,
        );
      }
      await sleep(PING_POLL_MS);
    }
  }
}

function redisArgs(spec: RedisSpec): string[] {
  const persistence = spec.persistence
    ? ['--appendonly', 'yes', '--appendfsync', 'always']
    : ['--save', '', '--appendonly', 'no'];
  return [
    '--port',
    String(spec.port),
    '--bind',
    '127.0.0.1',
    '--dir',
    spec.dir,
    '--daemonize',
    'no',
    '--logfile',
    '',
    ...persistence,
    ...spec.args,
  ];
}

/** One raw `PING` over TCP; resolves with the first reply line (`+PONG`, `-LOADING ...`). */
function ping(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (err: Error | undefined, line?: string): void => {
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(line ?? '');
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`PING timed out after ${timeoutMs} ms`)));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      const end = reply.indexOf('\r\n');
      if (end >= 0) done(undefined, reply.slice(0, end));
    });
    socket.on('error', (err) => done(err));
    socket.on('close', () => done(new Error('connection closed before a PING reply')));
  });
}

/**
 * Starts a redis-server bound to 127.0.0.1 on a random port with a temp `--dir`, and
 * resolves once it answers PING with PONG.
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'orderwire-redis-'));
  registerTempDir(dir);
  const server = new RedisServer({
    name: options.name ?? `redis-${dir.slice(-6)}`,
    port: options.port ?? (await freePort()),
    dir,
    args: options.args ?? [],
    persistence: options.persistence ?? false,
    startTimeoutMs: options.startTimeoutMs ?? DEFAULT_REDIS_START_TIMEOUT_MS,
    stopTimeoutMs: options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
    logs: new LogBuffer(options.logLines),
  });
  try {
    await server.firstStart(options.port === undefined);
  } catch (err) {
    await server.dispose();
    throw err;
  }
  return server;
}
