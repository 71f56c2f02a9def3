import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HarnessError, HarnessErrorCode } from './errors.js';
import { LogBuffer } from './log-buffer.js';
import { PORT_REBIND_WINDOW_MS, freePort } from './ports.js';
import { DEFAULT_STOP_TIMEOUT_MS, type ManagedProcess } from './processes.js';
import { ServerProcess, createServerDir, startOrDispose, type ServerHandle } from './server-process.js';

/** 10000 ms for redis-server to answer PING */
export const DEFAULT_REDIS_START_TIMEOUT_MS = 10_000;
/** 5 fresh ports tried when a randomly picked one was taken meanwhile */
const RANDOM_PORT_ATTEMPTS = 5;
/** 500 ms per PING probe */
const PING_TIMEOUT_MS = 500;
/** 20 ms between PING probes */
const PING_POLL_MS = 20;
/** 20 log lines quoted in a start error */
const LOG_TAIL_LINES = 20;

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

export interface RedisServerHandle extends ServerHandle {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Working dir (`--dir`): RDB/AOF files live here. Removed on dispose. */
  readonly dir: string;
  /** Starts a stopped/killed server on the same port and dir; no-op when running. */
  start(): Promise<void>;
  /** Stops (SIGKILL when `hard`) if running, then starts on the same port and dir. */
  restart(options?: { hard?: boolean }): Promise<void>;
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

class RedisServer extends ServerProcess<RedisSpec> implements RedisServerHandle {
  constructor(spec: RedisSpec) {
    super(spec, 'redis-server', LOG_TAIL_LINES);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.spec.port}`;
  }
  get port(): number {
    return this.spec.port;
  }

  start(): Promise<void> {
    return this.startWith(() => this.launchRedis(PORT_REBIND_WINDOW_MS));
  }

  restart(options: { hard?: boolean } = {}): Promise<void> {
    return this.restartWith(options.hard === true, () => this.launchRedis(PORT_REBIND_WINDOW_MS));
  }

  /** First start on a port picked by {@link freePort}: a lost race means a new port. */
  firstStart(portIsOurs: boolean): Promise<void> {
    return this.serial(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.launchRedis(portIsOurs ? 0 : PORT_REBIND_WINDOW_MS);
          return;
        } catch (err) {
          const retry = portIsOurs && err instanceof HarnessError && err.code === HarnessErrorCode.PortInUse;
          if (!retry || attempt >= RANDOM_PORT_ATTEMPTS) throw err;
          this.spec.port = await freePort();
        }
      }
    });
  }

  private launchRedis(rebindWindowMs: number): Promise<void> {
    const { port } = this.spec;
    return this.launch({
      args: redisArgs(this.spec),
      rebindWindowMs,
      ready: (proc, deadline) => this.awaitPong(proc, deadline),
      busyPort: `port ${port}`,
      portInUse: () => `port ${port} in use`,
    });
  }

  private async awaitPong(proc: ManagedProcess, deadline: number): Promise<void> {
    let last = '';
    for (;;) {
      this.assertAlive(proc);
      try {
        last = await ping(this.spec.port, PING_TIMEOUT_MS);
        // NOAUTH: a `--requirepass` server is up and serving; it just wants AUTH first.
        if (last === '+PONG' || last.startsWith('-NOAUTH')) return;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      this.assertBefore(deadline, 'did not answer PING', ` (last: ${last})`);
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
  const dir = await createServerDir('redis');
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
  return startOrDispose(server, (s) => s.firstStart(options.port === undefined));
}
