/** Renders shared by the test files (a render is a kustomize process; each is made once per file). */
import { KUSTOMIZATIONS, render, type K8sObject, type KustomizationName } from '../src/index.js';

const cache = new Map<KustomizationName, K8sObject[]>();

/** A deep copy of a render, so a test may mutate it. */
export function rendered(name: KustomizationName): K8sObject[] {
  let objects = cache.get(name);
  if (objects === undefined) {
    objects = render(KUSTOMIZATIONS[name]);
    cache.set(name, objects);
  }
  return structuredClone(objects);
}

/** What an operator applies together: an overlay plus the load test. */
export function withLoadTest(name: 'production' | 'dev' | 'base'): K8sObject[] {
  return [...rendered(name), ...rendered('loadTest')];
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (o === undefined) throw new Error(`${kind}/${name} is not rendered`);
  return o;
}

/** The pod spec of a workload, typed loosely for mutation in tests. */
export interface PodSpecLike {
  terminationGracePeriodSeconds?: number;
  containers: ContainerLike[];
  initContainers?: ContainerLike[];
  volumes?: Record<string, unknown>[];
}
export interface ContainerLike {
  name: string;
  image: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: unknown;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
}
export function podSpec(o: K8sObject): PodSpecLike {
  return (o.spec as { template: { spec: PodSpecLike } }).template.spec;
}

/** The NATS version CI installs (.github/workflows/ci.yml), the one the manifests must pin. */
export const CI_NATS_VERSION_RE = /NATS_SERVER_VERSION:\s*([0-9.]+)/;
