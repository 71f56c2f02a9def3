/**
 * Graceful shutdown. Steps are registered in start order (HTTP server after NATS, consumers
 * after HTTP…) and run in REVERSE, each awaited, so a component is stopped before the things
 * it depends on. The whole run is bounded by a deadline (Kubernetes sends SIGKILL after its
 * grace period anyway; exiting first lets us log which step hung).
 */
import { constants as osConstants } from 'node:os';
import type { Logger } from 'pino';
import { PLATFORM_ERRORS } from './errors.js';

/** Exit codes of `run`. */
export const SHUTDOWN_EXIT_CODES = Object.freeze({
  /** Every step finished. */
  ok: 0,
  /** At least one step threw; the others still ran. */
  stepFailed: 1,
  /** The deadline passed while a step was still running (same code as coreutils `timeout`). */
  deadlineExceeded: 124,
});

/** Under Kubernetes' default 30 s termination grace period. */
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 25_000;

export type ShutdownStep = () => Promise<void> | void;

export interface CreateShutdownOptions {
  logger: Logger;
  /** @default DEFAULT_SHUTDOWN_DEADLINE_MS */
  deadlineMs?: number;
  /** Called once with the final exit code. Tests pass a fake. @default process.exit */
  exit?: (code: number) => void;
  /** @default ['SIGTERM', 'SIGINT'] */
  signals?: readonly NodeJS.Signals[];
}

export interface Shutdown {
  /** Registers a step; steps run in reverse registration order. */
  add(name: string, fn: ShutdownStep): void;
  /**
   * Listens for the signals: the first starts `run(signal)`, a second one during shutdown
   * forces an immediate exit with 128 + signal number. Returns a function removing the listeners.
   */
  install(): () => void;
  /** Runs every step once and calls `exit(code)`; a second call returns the same promise. */
  run(reason: string): Promise<number>;
  /** True once `run` has been called. */
  readonly stopping: boolean;
}

function signalExitCode(signal: NodeJS.Signals): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[signal];
  return n === undefined ? 1 : 128 + n;
}

export function createShutdown(options: CreateShutdownOptions): Shutdown {
  const { logger } = options;
  const deadlineMs = options.deadlineMs ?? DEFAULT_SHUTDOWN_DEADLINE_MS;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const steps: { name: string; fn: ShutdownStep }[] = [];
  let running: Promise<number> | undefined;
  let exited = false;

  function exitOnce(code: number): void {
    if (exited) return;
    exited = true;
    exit(code);
  }

  async function runSteps(reason: string): Promise<number> {
    const started = Date.now();
    logger.info({ reason, steps: steps.length, deadlineMs }, 'shutdown started');
    let current: string | undefined;
    let code: number = SHUTDOWN_EXIT_CODES.ok;
    let timer: NodeJS.Timeout | undefined;

    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    const work = (async () => {
      for (const step of [...steps].reverse()) {
        current = step.name;
        const t0 = Date.now();
        try {
          await step.fn();
          logger.info({ step: step.name, ms: Date.now() - t0 }, 'shutdown step done');
        } catch (err) {
          code = SHUTDOWN_EXIT_CODES.stepFailed;
          logger.error({ err, step: step.name, ms: Date.now() - t0 }, 'shutdown step failed');
        }
      }
      current = undefined;
      return 'done' as const;
    })();

    const outcome = await Promise.race([work, deadline]);
    clearTimeout(timer);
    if (outcome === 'deadline') {
      const step = current ?? '(none)';
      const err = PLATFORM_ERRORS.create('ORDERWIRE_ERR_SHUTDOWN_TIMEOUT', { deadlineMs, step });
      logger.error({ err, code: err.code, step, deadlineMs }, 'shutdown deadline exceeded');
      code = SHUTDOWN_EXIT_CODES.deadlineExceeded;
    } else {
      logger.info({ reason, code, ms: Date.now() - started }, 'shutdown complete');
    }
    logger.flush();
    exitOnce(code);
    return code;
  }

  const shutdown: Shutdown = {
    add(name, fn) {
      steps.push({ name, fn });
    },
    install() {
      const handlers = signals.map((signal) => {
        const handler = (): void => {
          if (running === undefined) {
            shutdown.run(signal).catch((err: unknown) => {
              logger.fatal({ err }, 'shutdown crashed');
              exitOnce(SHUTDOWN_EXIT_CODES.stepFailed);
            });
            return;
          }
          const code = signalExitCode(signal);
          logger.warn({ signal, code }, 'second signal during shutdown; forcing exit');
          logger.flush();
          exitOnce(code);
        };
        process.on(signal, handler);
        return { signal, handler };
      });
      return () => {
        for (const { signal, handler } of handlers) process.off(signal, handler);
      };
    },
    run(reason) {
      running ??= runSteps(reason);
      return running;
    },
    get stopping() {
      return running !== undefined;
    },
  };
  return shutdown;
}
