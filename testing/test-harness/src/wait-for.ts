import { setTimeout as sleep } from 'node:timers/promises';
import { HarnessError, HarnessErrorCode } from './errors.js';

export interface WaitForOptions {
  /** @default 5000 */
  timeoutMs?: number;
  /** @default 50 */
  intervalMs?: number;
  /** Describes the awaited condition in the timeout error. */
  message?: string | (() => string);
}

/** How long `waitFor` polls before it fails with ORDERWIRE_ERR_HARNESS_WAIT_TIMEOUT. */
export const DEFAULT_WAIT_TIMEOUT_MS = 5_000;
/** Pause between two polls of `waitFor`. */
export const DEFAULT_WAIT_INTERVAL_MS = 50;

const NO_VALUE = Symbol('no-value');

/**
 * Polls `fn` until it returns (or resolves to) a truthy value and returns that value.
 * A throw/rejection counts as "not yet"; the last one is reported as the cause on
 * timeout. A call that hangs cannot stretch the deadline: each call races the time left.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, options: WaitForOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_WAIT_INTERVAL_MS;
  const started = Date.now();
  const deadline = started + timeoutMs;
  let lastError: unknown;
  let attempts = 0;

  for (;;) {
    attempts++;
    const left = deadline - Date.now();
    try {
      const value = await raceDeadline(fn, Math.max(left, 1));
      if (value !== NO_VALUE && value) return value;
    } catch (err) {
      lastError = err;
    }
    const now = Date.now();
    if (now >= deadline) break;
    await sleep(Math.min(intervalMs, deadline - now));
  }

  const what = typeof options.message === 'function' ? safeMessage(options.message) : options.message;
  const lastErrorText = lastError === undefined ? '' : `; last error: ${describe(lastError)}`;
  throw new HarnessError(
    HarnessErrorCode.WaitTimeout,
    `waitFor timed out after ${timeoutMs} ms (${attempts} attempts)${what ? `: ${what}` : ''}${lastErrorText}`,
    { cause: lastError },
  );
}

async function raceDeadline<T>(fn: () => T | Promise<T>, ms: number): Promise<T | typeof NO_VALUE> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<typeof NO_VALUE>((resolve) => {
    timer = setTimeout(() => resolve(NO_VALUE), ms);
  });
  try {
    return await Promise.race([Promise.resolve().then(fn), expired]);
  } finally {
    clearTimeout(timer);
  }
}

function safeMessage(fn: () => string): string {
  try {
    return fn();
  } catch (err) {
    return `<message() threw: ${describe(err)}>`;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
