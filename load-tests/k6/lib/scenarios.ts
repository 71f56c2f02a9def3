/**
 * The scenario pieces displays.ts, ingest.ts and combined.ts share: the display fleet (one VU
 * per display, connected at CONNECT_RATE, staying for RAMP + HOLD + DRAIN) and the ingest
 * arrival-rate ramp, each with its thresholds. The scripts keep their own `thresholds: {}` and
 * exported functions, so each still reads as a complete k6 script.
 */
import type { Scenario } from 'k6/options';
import { decommissionDisplays, displaySession, settings, type SetupData } from './orderwire.ts';
import { k6Duration } from './settings.ts';

/** 60 s a display VU may overrun its session before k6 stops it. */
const DISPLAY_OVERRUN_MS = 60_000;
/** 120 s at least for teardown to decommission the fleet… */
const TEARDOWN_MIN_MS = 120_000;
/** …plus 20 ms per display. */
const TEARDOWN_PER_DISPLAY_MS = 20;

export interface DisplayFleet {
  /** Until the last display has connected (plus `settleMs`): when orders may start. */
  readonly connectSpreadMs: number;
  readonly teardownTimeout: string;
  /** The `displays` scenario, running the script's exported `display`. */
  readonly scenarios: { readonly displays: Scenario };
  readonly thresholds: Readonly<Record<string, string[]>>;
  /** One display's whole session: it stays until the last one has connected plus the measured window. */
  display(data: SetupData): void;
  /** Decommissions every display of the plan. */
  teardown(data: SetupData): void;
}

/** The display fleet of a run; `settleMs` delays orders after the last display connected. */
export function displayFleet(settleMs = 0): DisplayFleet {
  const connectSpreadMs = Math.ceil((settings.plan.displays / settings.connectRate) * 1000) + settleMs;
  const sessionMs = settings.rampMs + settings.holdMs + settings.drainMs;
  return {
    connectSpreadMs,
    teardownTimeout: k6Duration(Math.max(TEARDOWN_MIN_MS, settings.plan.displays * TEARDOWN_PER_DISPLAY_MS)),
    scenarios: {
      displays: {
        executor: 'per-vu-iterations',
        exec: 'display',
        vus: settings.plan.displays,
        iterations: 1,
        maxDuration: k6Duration(connectSpreadMs + sessionMs + DISPLAY_OVERRUN_MS),
        gracefulStop: '30s',
      },
    },
    thresholds: {
      orderwire_e2e_ms: [`p(99)<${settings.e2eP99Ms}`],
      orderwire_deliveries_malformed: ['count==0'],
      orderwire_connected: ['rate>0.99'],
    },
    display(data) {
      displaySession(data, connectSpreadMs + sessionMs);
    },
    teardown(data) {
      decommissionDisplays(data, settings.plan.displays);
    },
  };
}

/** The `ingest` scenario: ramp to RATE orders/s over RAMP, hold for HOLD; from `startMs` when given. */
export function ingestScenarios(startMs?: number): { readonly ingest: Scenario } {
  return {
    ingest: {
      executor: 'ramping-arrival-rate',
      exec: 'ingest',
      ...(startMs === undefined ? {} : { startTime: k6Duration(startMs) }),
      startRate: 1,
      timeUnit: '1s',
      preAllocatedVUs: settings.preAllocatedVus,
      maxVUs: settings.maxVus,
      stages: [
        { target: settings.rate, duration: k6Duration(settings.rampMs) },
        { target: settings.rate, duration: k6Duration(settings.holdMs) },
      ],
    },
  };
}

/** `POST /v1/orders` p95 latency and error rate. */
export const ingestThresholds: Readonly<Record<string, string[]>> = {
  'http_req_duration{name:post_order}': [`p(95)<${settings.p95Ms}`],
  'http_req_failed{name:post_order}': [`rate<${settings.errorRate}`],
};
