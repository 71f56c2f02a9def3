/** Where things are: this file is testing/k8s-checks/{src,dist}/paths.{ts,js}. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(PACKAGE_DIR, '..', '..');
export const K8S_DIR = join(REPO_ROOT, 'k8s');
/** kustomize and kubectl from Debian forky, fetched by scripts/bootstrap-tools.mjs. */
export const TOOLS_BIN = join(REPO_ROOT, '.tools', 'bin');

/** Every kustomization an operator applies, relative to the repository root. */
export const KUSTOMIZATIONS = {
  base: 'k8s/base',
  dev: 'k8s/overlays/dev',
  production: 'k8s/overlays/production',
  monitoring: 'k8s/monitoring',
  loadTest: 'k8s/load-test',
} as const;
export type KustomizationName = keyof typeof KUSTOMIZATIONS;
