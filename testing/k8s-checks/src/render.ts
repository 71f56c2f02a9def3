/**
 * Renders a kustomization with the bootstrapped kustomize (Debian forky's 5.8, in .tools/bin) and
 * parses the output into plain objects. A kubectl on PATH may be old or absent: never used.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT, TOOLS_BIN } from './paths.js';

/** 60 s — a render takes well under a second; this bounds a hung binary. */
const RENDER_TIMEOUT_MS = 60_000;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** One rendered Kubernetes object; the rest of its fields are read by the checks that need them. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** `Kind/name`, how every problem names the object it is about. */
export function objectName(o: Pick<K8sObject, 'kind' | 'metadata'>): string {
  return `${o.kind}/${o.metadata.name}`;
}

/** Parses a multi-document YAML stream; throws on a YAML error or a document that is no object. */
export function parseObjects(text: string, source = 'input'): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${source}: a document is not an object`);
    const o = value as Partial<K8sObject>;
    if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') {
      throw new Error(`${source}: an object without apiVersion, kind or metadata.name`);
    }
    out.push(o as K8sObject);
  }
  return out;
}

/** `kustomize build <dir>` (dir relative to the repository root, or absolute) → its YAML text. */
export function kustomizeBuild(dir: string): string {
  return execFileSync(join(TOOLS_BIN, 'kustomize'), ['build', dir], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: RENDER_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** `kubectl kustomize <dir>`: what `kubectl apply -k` applies (kubectl embeds its own kustomize). */
export function kubectlKustomize(dir: string): string {
  return execFileSync(join(TOOLS_BIN, 'kubectl'), ['kustomize', dir], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: RENDER_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Renders and parses a kustomization. */
export function render(dir: string): K8sObject[] {
  return parseObjects(kustomizeBuild(dir), dir);
}
