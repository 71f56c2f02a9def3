/** Configuration, and docs/dlq.md listing every variable and metric. */
import { readFileSync } from 'node:fs';
import { createMetrics } from '@orderwire/platform';
import { describe, expect, it } from 'vitest';
import { CONFIG_SPEC, DEFAULT_PORT, loadDlqConfig } from '../src/config.js';
import { createDlqMetrics } from '../src/metrics.js';

describe('configuration', () => {
  it('defaults to port 3004 and validates DLQ_ variables', () => {
    expect(loadDlqConfig({}).port).toBe(DEFAULT_PORT);
    expect(() => loadDlqConfig({ DLQ_REPLAY_MAX: '0' })).toThrow(/DLQ_REPLAY_MAX/);
    expect(() => loadDlqConfig({ DLQ_CAPTURE_CONSUMER: 'a.b' })).toThrow(/DLQ_CAPTURE_CONSUMER/);
  });
});

describe('docs/dlq.md', () => {
  const doc = readFileSync(new URL('../../../docs/dlq.md', import.meta.url), 'utf8');

  it('lists every environment variable', () => {
    for (const spec of Object.values(CONFIG_SPEC)) expect(doc, spec.env).toContain(spec.env);
  });

  it('lists every metric', async () => {
    const metrics = createMetrics({ service: 'dlq', defaultMetrics: false });
    createDlqMetrics(metrics);
    const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.length).toBeGreaterThanOrEqual(9);
    for (const name of names) expect(doc, name).toContain(name);
  });
});
