/**
 * Ingest HTTP load: `POST /v1/orders` at a ramping arrival rate (RATE orders/s after RAMP, held
 * for HOLD), with thresholds on p95 latency and the error rate.
 *
 *   k6 run -e CREDENTIALS=../../.data/dev-credentials.json -e RATE=500 load-tests/k6/ingest.ts
 */
import type { Options } from 'k6/options';
import { postOrder, settings, setupTokens, type SetupData } from './lib/orderwire.ts';
import { ingestScenarios, ingestThresholds } from './lib/scenarios.ts';

export const options: Options = {
  scenarios: ingestScenarios(),
  thresholds: {
    ...ingestThresholds,
    checks: [`rate>${1 - settings.errorRate}`],
  },
};

export function setup(): SetupData {
  return setupTokens({ upstream: true, operator: false });
}

export function ingest(data: SetupData): void {
  postOrder(data);
}

export default ingest;
