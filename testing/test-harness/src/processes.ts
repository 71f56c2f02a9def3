import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { HarnessError, HarnessErrorCode } from './errors.js';
import type { LogBuffer } from './log-buffer.js';

/**
 * Process lifecycle and the leak guarantees.
 *
 * Three layers make sure no server outlives the test process:
 * 1. `disposeAll()` — the polite path for afterAll hooks: SIGTERM, wait, remove temp dirs.
 * 2. `process.on('exit')` — a normal exit (including `process.exit()` and a finished event
 *    loop) SIGKILLs every live child synchronously and removes temp dirs.
 * 3. A watchdog: one tiny `/bin/sh` per test process, in its own session (so Ctrl-C to
 *    the group or a SIGKILL of the test process does not touch it), reading our pid/dir
 *    registrations on a stdin pipe. When the test process dies in any way, even SIGKILL,
 *    the kernel closes its end of the pipe; `read` hits EOF and the watchdog SIGKILLs the
 *    registered pids and removes the dirs. No polling, no PID-reuse race on the parent,
 *    no native prctl. Pipes are created close-on-exec, so servers never inherit the write
 *    end and cannot keep the watchdog waiting. Pids are unregistered as soon as a child
 *    exits, so a recycled pid is never killed.
 *
 * Children are unref'd: a forgotten server does not keep a test process alive; layer 2
 * or 3 then reaps it.
 */

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** 10000 ms for SIGTERM before escalating to SIGKILL */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** 5000 ms for the kernel to report a SIGKILLed child as exited */
const KILL_WAIT_MS = 5_000;

// The leading comment makes the watchdog recognisable in `ps`.
const WATCHDOG_SCRIPT = `# orderwire test-harness watchdog for pid ${process.pid}
trap '' INT HUP TERM
pids=
dirs=
while IFS= read -r line; do
  arg=\${line#* }
  case "$line" in
    "pid "*) pids="$pids $arg" ;;
    "unpid "*) n=; for p in $pids; do [ "$p" = "$arg" ] || n="$n $p"; done; pids=$n ;;
    "dir "*) dirs="$dirs
$arg" ;;
  esac
done
for p in $pids; do kill -9 "$p" 2>/dev/null; done
i=0
while [ $i -lt 30 ]; do
  alive=
  for p in $pids; do
    if kill -0 "$p" 2>/dev/null; then
      if [ ! -r "/proc/$p/stat" ] || ! grep -q ') Z ' "/proc/$p/stat" 2>/dev/null; then alive=1; fi
    fi
  done
  [ -z "$alive" ] && break
  sleep 0.1
  i=$((i + 1))
done
printf '%s\\n' "$dirs" | while IFS= read -r d; do [ -n "$d" ] && rm -rf -- "$d"; done
`;

interface Watchdog {
  readonly child: ChildProcess;
  send(line: string): void;
}

const liveChildren = new Map<number, ChildProcess>();
const tempDirs = new Set<string>();
const disposables = new Set<{ dispose(): Promise<void> }>();
let watchdog: Watchdog | undefined;
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of liveChildren.keys()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone: nothing to clean.
      }
    }
    for (const dir of tempDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // The watchdog retries the removal once this process is gone.
      }
    }
  });
}

function startWatchdog(): Watchdog {
  const child = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  const stdin = child.stdin;
  if (stdin === null) throw new HarnessError(HarnessErrorCode.SpawnFailed, 'watchdog has no stdin pipe');
  const wd: Watchdog = {
    child,
    send(line: string): void {
      stdin.write(`${line}\n`);
    },
  };
  const lost = (): void => {
    // A dead watchdog is replaced (and re-armed with everything live) on the next use.
    if (watchdog === wd) watchdog = undefined;
  };
  stdin.on('error', lost);
  child.on('error', lost);
  child.on('exit', lost);
  child.unref();
  (stdin as unknown as { unref?: () => void }).unref?.();
  return wd;
}

function watchdogSend(line: string): void {
  if (watchdog === undefined) {
    watchdog = startWatchdog();
    for (const pid of liveChildren.keys()) watchdog.send(`pid ${pid}`);
    for (const dir of tempDirs) watchdog.send(`dir ${dir}`);
  }
  watchdog.send(line);
}

/** The watchdog's pid (for tests); undefined until the first server starts. */
export function watchdogPid(): number | undefined {
  return watchdog?.child.pid;
}

/** Registers a temp dir to be removed on dispose, exit, or test-process death. */
export function registerTempDir(dir: string): void {
  installExitHook();
  tempDirs.add(dir);
  watchdogSend(`dir ${dir}`);
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
  tempDirs.delete(dir);
}

/** Handles that `disposeAll()` will dispose. */
export function registerDisposable(d: { dispose(): Promise<void> }): () => void {
  disposables.add(d);
  return () => disposables.delete(d);
}

/**
 * Disposes every handle created by this process (servers and clusters), in parallel.
 * Safe to call more than once; meant for a global afterAll.
 */
export async function disposeAll(): Promise<void> {
  const all = [...disposables];
  disposables.clear();
  const results = await Promise.allSettled(all.map((d) => d.dispose()));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) {
    throw new AggregateError(
      failed.map((f) => f.reason as unknown),
      `${HarnessErrorCode.DisposeFailed}: ${failed.length} handle(s) failed to dispose`,
    );
  }
}

/** Pids of server processes this module currently believes are alive. */
export function livePids(): number[] {
  return [...liveChildren.keys()];
}

export interface SpawnSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  /** Full environment of the child. @default the test process's environment */
  readonly env?: NodeJS.ProcessEnv;
  readonly label: string;
  readonly logs: LogBuffer;
  /** Raw output of this run only (the log buffer spans restarts). */
  readonly onOutput?: (chunk: string) => void;
}

/** A spawned server: pid, exit status, signalling with bounded waits. */
export class ManagedProcess {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  private info: ExitInfo | undefined;

  private constructor(
    private readonly child: ChildProcess,
    pid: number,
    readonly label: string,
  ) {
    this.pid = pid;
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        this.info = { code, signal };
        liveChildren.delete(pid);
        if (watchdog !== undefined) watchdog.send(`unpid ${pid}`);
        resolve(this.info);
      });
    });
  }

  static async spawn(spec: SpawnSpec): Promise<ManagedProcess> {
    installExitHook();
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
    });
    const pid = child.pid;
    if (pid === undefined) {
      const err = await new Promise<unknown>((resolve) => child.once('error', resolve));
      throw new HarnessError(
        HarnessErrorCode.SpawnFailed,
        `could not spawn ${spec.label} (${spec.command}): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    liveChildren.set(pid, child);
    watchdogSend(`pid ${pid}`);
    const proc = new ManagedProcess(child, pid, spec.label);
    child.on('error', (err) => spec.logs.note(`process error: ${err.message}`));
    const onData = (chunk: Buffer): void => {
      spec.logs.write(chunk);
      spec.onOutput?.(chunk.toString());
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => spec.logs.note(`${spec.label} pid ${pid} exited (code ${code}, signal ${signal})`));
    child.unref();
    for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
    spec.logs.note(`${spec.label} started, pid ${pid}: ${spec.command} ${spec.args.join(' ')}`);
    return proc;
  }

  get running(): boolean {
    return this.info === undefined;
  }

  get exitInfo(): ExitInfo | undefined {
    return this.info;
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      this.child.kill(sig);
    } catch {
      // Raced with exit; `exited` settles regardless.
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process has exited. */
  async stop(graceMs: number = DEFAULT_STOP_TIMEOUT_MS): Promise<ExitInfo> {
    if (this.info !== undefined) return this.info;
    this.signal('SIGTERM');
    const graceful = await withTimeout(this.exited, graceMs);
    if (graceful !== undefined) return graceful;
    return this.kill();
  }

  /** SIGKILL. Resolves once the process has exited. */
  async kill(): Promise<ExitInfo> {
    if (this.info !== undefined) return this.info;
    this.signal('SIGKILL');
    const info = await withTimeout(this.exited, KILL_WAIT_MS);
    if (info === undefined) {
      throw new HarnessError(HarnessErrorCode.SpawnFailed, `${this.label} pid ${this.pid} did not exit ${KILL_WAIT_MS} ms after SIGKILL`);
    }
    return info;
  }
}

/**
 * Resolves with the promise's value, or undefined after `ms`. The timer is ref'd on
 * purpose: it keeps the event loop alive while we wait on an unref'd child.
 */
export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)))]);
  } finally {
    clearTimeout(timer);
  }
}
