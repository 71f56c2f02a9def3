/**
 * Offline validation against the Kubernetes OpenAPI schemas (kubernetes-models) and the
 * prometheus-operator CRDs (@kubernetes-models/prometheus-operator). Their validators accept
 * unknown fields; strict.ts adds that check.
 */
import type { K8sObject } from './render.js';
import { objectName } from './render.js';

export interface Problem {
  /** `Kind/name` of the object. */
  object: string;
  message: string;
}

/** Where the model of an apiVersion/kind lives; null when no package models it. */
export function modelModule(apiVersion: string, kind: string): string | null {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  if (group === '') return `kubernetes-models/${version}/${kind}`;
  if (group === undefined || version === undefined) return null;
  return `kubernetes-models/${group}/${version}/${kind}`;
}

interface ModelInstance {
  validate(): void;
}
type ModelClass = new (data: unknown) => ModelInstance;

async function loadModel(apiVersion: string, kind: string): Promise<ModelClass | null> {
  const spec = modelModule(apiVersion, kind);
  if (spec === null) return null;
  try {
    const mod = (await import(spec)) as Record<string, unknown>;
    const model = mod[kind];
    return typeof model === 'function' ? (model as ModelClass) : null;
  } catch {
    return null;
  }
}

/** Every schema violation of every object; an object of a kind no package models is one too. */
export async function schemaProblems(objects: readonly K8sObject[]): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const o of objects) {
    const Model = await loadModel(o.apiVersion, o.kind);
    if (Model === null) {
      problems.push({ object: objectName(o), message: `no schema for ${o.apiVersion} ${o.kind}` });
      continue;
    }
    try {
      new Model(o).validate();
    } catch (err) {
      problems.push({ object: objectName(o), message: err instanceof Error ? err.message : String(err) });
    }
  }
  return problems;
}
