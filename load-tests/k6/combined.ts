/**
 * Displays and ingest together: DISPLAYS displays connect (CONNECT_RATE per second), then orders
 * ramp to RATE/s for RAMP + HOLD, addressed round-robin to the displays' stations; displays stay
 * DRAIN longer so late deliveries are still acked. Thresholds: ingest p95 and error rate,
 * accept → display-ack p99, no malformed deliveries, connections established.
 *
 *   k6 run -e CREDENTIALS=../../.data/dev-credentials.json -e DISPLAYS=500 -e RATE=250 load-tests/k6/combined.ts
 */
import type { Options } from 'k6/options';
import { k6Duration } from './lib/settings.ts';
import { decommissionDisplays, displaySession, postOrder, settings, setupTokens, type SetupData } from './lib/orderwire.ts';

/** @default 10 s after the last display connected before orders start (handshakes settle). */
const SETTLE_MS = 10_000;
const connectSpreadMs = Math.ceil((settings.plan.displays / settings.connectRate) * 1000) + SETTLE_MS;
const sessionMs = settings.rampMs + settings.holdMs + settings.drainMs;

export const options: Options = {
  setupTimeout: '2m',
  teardownTimeout: k6Duration(Math.max(120_000, settings.plan.displays * 20)),
  scenarios: {
    displays: {
      executor: 'per-vu-iterations',
      exec: 'display',
      vus: settings.plan.displays,
      iterations: 1,
      maxDuration: k6Duration(connectSpreadMs + sessionMs + 60_000),
      gracefulStop: '30s',
    },
    ingest: {
      executor: 'ramping-arrival-rate',
      exec: 'ingest',
      startTime: k6Duration(connectSpreadMs),
      startRate: 1,
      timeUnit: '1s',
      preAllocatedVUs: settings.preAllocatedVus,
      maxVUs: settings.maxVus,
      stages: [
        { target: settings.rate, duration: k6Duration(settings.rampMs) },
        { target: settings.rate, duration: k6Duration(settings.holdMs) },
      ],
    },
  },
  thresholds: {
    'http_req_duration{name:post_order}': [`p(95)<${settings.p95Ms}`],
    'http_req_failed{name:post_order}': [`rate<${settings.errorRate}`],
    orderwire_e2e_ms: [`p(99)<${settings.e2eP99Ms}`],
    orderwire_deliveries_malformed: ['count==0'],
    orderwire_connected: ['rate>0.99'],
  },
};

export function setup(): SetupData {
  return setupTokens({ upstream: true, operator: true });
}

export function display(data: SetupData): void {
  displaySession(data, connectSpreadMs + sessionMs);
}

export function ingest(data: SetupData): void {
  postOrder(data);
}

export function teardown(data: SetupData): void {
  decommissionDisplays(data, settings.plan.displays);
}
