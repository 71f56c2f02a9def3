/**
 * Displays and ingest together: DISPLAYS displays connect (CONNECT_RATE per second), then orders
 * ramp to RATE/s for RAMP + HOLD, addressed round-robin to the displays' stations; displays stay
 * DRAIN longer so late deliveries are still acked. Thresholds: ingest p95 and error rate,
 * accept → display-ack p99, no malformed deliveries, connections established.
 *
 *   k6 run -e CREDENTIALS=../../.data/dev-credentials.json -e DISPLAYS=500 -e RATE=250 load-tests/k6/combined.ts
 */
import type { Options } from 'k6/options';
import { postOrder, setupTokens, type SetupData } from './lib/orderwire.ts';
import { displayFleet, ingestScenarios, ingestThresholds } from './lib/scenarios.ts';

/** 10 s after the last display connected before orders start (handshakes settle). */
const SETTLE_MS = 10_000;
const fleet = displayFleet(SETTLE_MS);

export const options: Options = {
  setupTimeout: '2m',
  teardownTimeout: fleet.teardownTimeout,
  scenarios: { ...fleet.scenarios, ...ingestScenarios(fleet.connectSpreadMs) },
  thresholds: { ...ingestThresholds, ...fleet.thresholds },
};

export function setup(): SetupData {
  return setupTokens({ upstream: true, operator: true });
}

export function display(data: SetupData): void {
  fleet.display(data);
}

export function ingest(data: SetupData): void {
  postOrder(data);
}

export function teardown(data: SetupData): void {
  fleet.teardown(data);
}
