/**
 * Displays over Socket.IO: DISPLAYS virtual users, each registers and enrolls one display through
 * auth, connects to an edge node over a raw websocket (Engine.IO v4 / Socket.IO v5 framing), acks
 * every delivery and records accept → display-ack latency (`orderwire_e2e_ms`). Orders come from
 * elsewhere (ingest.ts with the same RUN_ID/DISPLAYS, or real traffic); combined.ts runs both.
 *
 *   k6 run -e CREDENTIALS=../../.data/dev-credentials.json -e DISPLAYS=200 -e HOLD=5m load-tests/k6/displays.ts
 */
import type { Options } from 'k6/options';
import { k6Duration } from './lib/settings.ts';
import { decommissionDisplays, displaySession, settings, setupTokens, type SetupData } from './lib/orderwire.ts';

const connectSpreadMs = Math.ceil((settings.plan.displays / settings.connectRate) * 1000);
const sessionMs = settings.rampMs + settings.holdMs + settings.drainMs;

export const options: Options = {
  // Registering and enrolling happens per VU, so setup only fetches the operator token.
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
  },
  thresholds: {
    orderwire_e2e_ms: [`p(99)<${settings.e2eP99Ms}`],
    orderwire_deliveries_malformed: ['count==0'],
    orderwire_connected: ['rate>0.99'],
  },
};

export function setup(): SetupData {
  return setupTokens({ upstream: false, operator: true });
}

export function display(data: SetupData): void {
  // Every display stays until the last one has connected plus the measured window.
  displaySession(data, connectSpreadMs + sessionMs);
}

export function teardown(data: SetupData): void {
  decommissionDisplays(data, settings.plan.displays);
}

export default display;
