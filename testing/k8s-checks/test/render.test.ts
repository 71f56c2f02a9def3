import { describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { KUSTOMIZATIONS, K8S_DIR, kubectlKustomize, kustomizeBuild, parseObjects, render } from '../src/index.js';
import { rendered } from './renders.js';

describe('every kustomization renders with the bootstrapped kustomize', () => {
  test.each(Object.entries(KUSTOMIZATIONS))('%s (%s)', (name, dir) => {
    const objects = rendered(name as keyof typeof KUSTOMIZATIONS);
    expect(objects.length).toBeGreaterThan(0);
    const namespace = name === 'monitoring' ? 'monitoring' : 'orderwire';
    for (const o of objects) {
      if (o.kind === 'Namespace') continue;
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name} in ${dir}`).toBe(namespace);
    }
  });

  test('`kubectl apply -k` (kubectl 1.36) applies exactly what kustomize renders', () => {
    for (const dir of [KUSTOMIZATIONS.production, KUSTOMIZATIONS.dev]) {
      expect(parseObjects(kubectlKustomize(dir)), dir).toEqual(parseObjects(kustomizeBuild(dir)));
    }
  });

  test('the edge connections component adds the connected-displays metric to the edge HPA, CPU kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ow-k8s-component-'));
    try {
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          // kustomize takes no absolute roots; relative ones may leave the folder.
          `resources: [${relative(dir, join(K8S_DIR, 'overlays', 'production'))}]`,
          `components: [${relative(dir, join(K8S_DIR, 'components', 'edge-hpa-connections'))}]`,
          '',
        ].join('\n'),
      );
      const hpa = render(dir).find((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'edge');
      const metrics = (hpa?.spec as { metrics: { type: string; pods?: { metric: { name: string } } }[] }).metrics;
      expect(metrics.map((m) => m.type)).toEqual(['Resource', 'Pods']);
      expect(metrics[1]?.pods?.metric.name).toBe('orderwire_edge_connections');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a broken kustomization fails the render with kustomize’s message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ow-k8s-broken-'));
    try {
      writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [missing.yaml]\n');
      expect(() => render(dir)).toThrow(/missing\.yaml/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
