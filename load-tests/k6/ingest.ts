/**
 * Ingest HTTP load: `POST /v1/orders` at a ramping arrival rate (RATE orders/s after RAMP, held
 * for HOLD), with thresholds on p95 latency and the error rate.
 *
 *   k6 run -e CREDENTIALS=../../.data/dev-credentials.json -e RATE=500 load-tests/k6/ingest.ts
 */
import type { Options } from 'k6/options';
import { k6Duration } from './lib/settings.ts';
import { postOrder, settings, setupTokens, type SetupData } from './lib/orderwire.ts';

export const options: Options = {
  scenarios: {
    ingest: {
      executor: 'ramping-arrival-rate',
      exec: 'ingest',
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
