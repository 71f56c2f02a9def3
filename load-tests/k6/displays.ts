/**
 * Displays over Socket.IO: DISPLAYS virtual users, each registers and enrolls one display through
 * auth, connects to an edge node over a raw websocket (Engine.IO v4 / Socket.IO v5 framing), acks
 * every delivery and records accept → display-ack latency (`orderwire_e2e_ms`). Orders come from
 * elsewhere (ingest.ts with the same RUN_ID/DISPLAYS, or real traffic); combined.ts runs both.
 *
 *   k6 run -e CREDENTIALS=../../.data/dev-credentials.json -e DISPLAYS=200 -e HOLD=5m load-tests/k6/displays.ts
 */
import type { Options } from 'k6/options';
import { setupTokens, type SetupData } from './lib/orderwire.ts';
import { displayFleet } from './lib/scenarios.ts';

const fleet = displayFleet();

export const options: Options = {
  // Registering and enrolling happens per VU, so setup only fetches the operator token.
  setupTimeout: '2m',
  teardownTimeout: fleet.teardownTimeout,
  scenarios: { ...fleet.scenarios },
  thresholds: { ...fleet.thresholds },
};

export function setup(): SetupData {
  return setupTokens({ upstream: false, operator: true });
}

export function display(data: SetupData): void {
  fleet.display(data);
}

export function teardown(data: SetupData): void {
  fleet.teardown(data);
}

export default display;
