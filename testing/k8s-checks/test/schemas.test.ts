import { describe, expect, test } from 'vitest';
import { KUSTOMIZATIONS, schemaProblems, unknownFieldProblems, type K8sObject } from '../src/index.js';
import { find, podSpec, rendered } from './renders.js';

const ALL = Object.keys(KUSTOMIZATIONS) as (keyof typeof KUSTOMIZATIONS)[];

describe('every rendered object is valid against the Kubernetes and prometheus-operator schemas', () => {
  test.each(ALL)('%s: schemas', async (name) => {
    expect(await schemaProblems(rendered(name))).toEqual([]);
  });

  test.each(ALL)('%s: no unknown field, no type mismatch', (name) => {
    expect(unknownFieldProblems(rendered(name))).toEqual([]);
  });
});

describe('the checks catch what they are for', () => {
  test('a schema violation names its object', async () => {
    const objects = rendered('production');
    const monitor = find(objects, 'ServiceMonitor', 'edge') as K8sObject & { spec: { endpoints: { port: unknown }[] } };
    monitor.spec.endpoints[0]!.port = 9090; // must be the Service port's name
    const problems = await schemaProblems([monitor]);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.object).toBe('ServiceMonitor/edge');
    expect(problems[0]?.message).toMatch(/port must be string/);
  });

  test('a kind no package models is a problem, not a silent pass', async () => {
    const problems = await schemaProblems([{ apiVersion: 'k6.io/v1alpha1', kind: 'TestRun', metadata: { name: 'x' } }]);
    expect(problems).toEqual([{ object: 'TestRun/x', message: 'no schema for k6.io/v1alpha1 TestRun' }]);
  });

  test('every unknown field is reported with its path, at any depth, the schema validators notwithstanding', async () => {
    const edge = find(rendered('production'), 'Deployment', 'edge');
    const c = podSpec(edge).containers[0] as unknown as { lifecycle: { preStop: Record<string, unknown> } };
    c.lifecycle.preStop.slep = { seconds: 5 };
    (edge.spec as Record<string, unknown>).replica = 3;
    // The validators alone accept both.
    expect(await schemaProblems([edge])).toEqual([]);
    expect(unknownFieldProblems([edge])).toEqual([
      { object: 'Deployment/edge', message: 'unknown field spec.template.spec.containers[0].lifecycle.preStop.slep' },
      { object: 'Deployment/edge', message: 'unknown field spec.replica' },
    ]);
  });

  test('a type mismatch is reported by the compiler check too', () => {
    const nats = find(rendered('production'), 'StatefulSet', 'nats');
    (nats.spec as Record<string, unknown>).replicas = 'three';
    const problems = unknownFieldProblems([nats]);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.object).toBe('StatefulSet/nats');
    expect(problems[0]?.message).toMatch(/not assignable to type 'number'/);
  });
});
