/**
 * Liveness and readiness. Liveness says "the process is not wedged" (restart me if false);
 * readiness says "send me traffic": false until startup finished, false again once shutdown
 * began, and false while a critical dependency check fails. Each check is time-bounded so a
 * hung dependency makes /readyz answer "not ready" instead of hanging the probe.
 */
import { PLATFORM_ERRORS } from './errors.js';

/** 2000 ms per check — below a typical 3–5 s kubelet probe timeout. */
export const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 2_000;

export type HealthCheckResult = void | { ok: boolean; detail?: string };
export type HealthCheck = () => Promise<HealthCheckResult>;

export interface HealthCheckOptions {
  /** A failing critical check makes the service not ready; a non-critical one is only reported. @default true */
  critical?: boolean;
  /** @default DEFAULT_HEALTH_CHECK_TIMEOUT_MS */
  timeoutMs?: number;
}

export interface CheckReport {
  ok: boolean;
  detail?: string;
  critical: boolean;
  ms: number;
}

export interface ReadyReport {
  ok: boolean;
  /** `starting` before markStarted, `stopping` after markStopping, else `running`. */
  state: 'starting' | 'running' | 'stopping';
  checks: Record<string, CheckReport>;
}

export interface Health {
  register(name: string, check: HealthCheck, options?: HealthCheckOptions): void;
  markStarted(): void;
  markStopping(): void;
  live(): { ok: boolean };
  ready(): Promise<ReadyReport>;
}

interface Registered {
  check: HealthCheck;
  critical: boolean;
  timeoutMs: number;
}

async function runCheck(r: Registered): Promise<CheckReport> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ ok: false; detail: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `timed out after ${r.timeoutMs} ms` }), r.timeoutMs);
  });
  let outcome: { ok: boolean; detail?: string };
  try {
    const result = await Promise.race([
      // A check that throws synchronously is a failed check, not a crashed probe.
      Promise.resolve().then(() => r.check()),
      timeout,
    ]);
    outcome = result ?? { ok: true };
  } catch (err) {
    outcome = { ok: false, detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
  const report: CheckReport = {
    ok: outcome.ok,
    critical: r.critical,
    ms: Math.round((performance.now() - started) * 100) / 100,
  };
  if (outcome.detail !== undefined) report.detail = outcome.detail;
  return report;
}

export function createHealth(): Health {
  const checks = new Map<string, Registered>();
  let state: ReadyReport['state'] = 'starting';

  return {
    register(name, check, options = {}) {
      if (checks.has(name)) throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_HEALTH_CHECK_DUPLICATE', { name });
      checks.set(name, {
        check,
        critical: options.critical ?? true,
        timeoutMs: options.timeoutMs ?? DEFAULT_HEALTH_CHECK_TIMEOUT_MS,
      });
    },
    markStarted() {
      if (state === 'starting') state = 'running';
    },
    markStopping() {
      state = 'stopping';
    },
    live() {
      return { ok: true };
    },
    async ready() {
      const names = [...checks.keys()];
      const reports = await Promise.all(names.map((n) => runCheck(checks.get(n)!)));
      const out: Record<string, CheckReport> = {};
      let ok = state === 'running';
      names.forEach((n, i) => {
        const rep = reports[i]!;
        out[n] = rep;
        if (rep.critical && !rep.ok) ok = false;
      });
      return { ok, state, checks: out };
    },
  };
}
