/**
 * The Kubernetes copies of what lives in deploy/ and load-tests/k6/: kustomize cannot read
 * outside its root, so these files are generated into k8s/ and a test fails when a committed copy
 * differs from what its source generates now (`npm run generate -w @orderwire/k8s-checks`).
 *
 *   deploy/prometheus/rules/*.yml       → k8s/base/observability/prometheus-rules.yaml   (PrometheusRule)
 *   deploy/grafana/dashboards/*.json    → k8s/monitoring/grafana-dashboards.yaml         (ConfigMaps for the Grafana sidecar)
 *   deploy/alertmanager/                → k8s/monitoring/alertmanager-config.yaml        (Secret for prometheus-operator's Alertmanager)
 *   load-tests/k6/**.ts                 → k8s/load-test/k6-scripts.yaml + k6-scripts-volume.yaml
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from './paths.js';

export interface GeneratedFile {
  /** Relative to the repository root. */
  path: string;
  content: string;
}

const HEADER = (source: string): string =>
  `# GENERATED from ${source} by \`npm run generate -w @orderwire/k8s-checks\` — do not edit;\n` +
  `# change the source and regenerate (k8s-checks fails while they differ).\n`;

/** Where prometheus-operator's Alertmanager puts the keys of its config Secret and of `spec.secrets`. */
export const ALERTMANAGER_CONFIG_SECRET = 'alertmanager-orderwire';
export const ALERTMANAGER_SECRETS_SECRET = 'orderwire-alertmanager-secrets';
const OPERATOR_TEMPLATE_DIR = '/etc/alertmanager/config';
const OPERATOR_SECRETS_DIR = `/etc/alertmanager/secrets/${ALERTMANAGER_SECRETS_SECRET}/`;
const LOCAL_SECRETS_DIR = '/etc/alertmanager/secrets/';
const LOCAL_TEMPLATES = '  - templates/*.tmpl';

function sortedFiles(dir: string, ext: string): string[] {
  return readdirSync(join(REPO_ROOT, dir))
    .filter((f) => f.endsWith(ext))
    .sort();
}

function yamlDoc(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}

/** One PrometheusRule holding every group of every rules file, in file order. */
export function prometheusRules(): GeneratedFile {
  const dir = 'deploy/prometheus/rules';
  const groups: unknown[] = [];
  for (const file of sortedFiles(dir, '.yml')) {
    const doc = parse(readFileSync(join(REPO_ROOT, dir, file), 'utf8')) as { groups?: unknown[] };
    if (!Array.isArray(doc.groups)) throw new Error(`${dir}/${file}: no groups`);
    groups.push(...doc.groups);
  }
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'orderwire', labels: { 'app.kubernetes.io/name': 'orderwire' } },
    spec: { groups },
  };
  return { path: 'k8s/base/observability/prometheus-rules.yaml', content: HEADER(dir) + yamlDoc(rule) };
}

/** One ConfigMap per dashboard, labelled for the Grafana dashboard sidecar, into the Orderwire folder. */
export function grafanaDashboards(): GeneratedFile {
  const dir = 'deploy/grafana/dashboards';
  const docs = sortedFiles(dir, '.json').map((file) =>
    yamlDoc({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: `grafana-dashboard-${basename(file, '.json')}`,
        labels: { grafana_dashboard: '1', 'app.kubernetes.io/part-of': 'orderwire' },
        // The sidecar's folder annotation (kube-prometheus-stack: sidecar.dashboards.folderAnnotation).
        annotations: { grafana_folder: 'Orderwire' },
      },
      data: { [file]: readFileSync(join(REPO_ROOT, dir, file), 'utf8') },
    }),
  );
  return { path: 'k8s/monitoring/grafana-dashboards.yaml', content: HEADER(dir) + docs.join('---\n') };
}

/**
 * deploy/alertmanager/alertmanager.yml as prometheus-operator's Alertmanager reads it: the config
 * Secret's keys land in /etc/alertmanager/config/ (templates included), and the Secret named in
 * `spec.secrets` under /etc/alertmanager/secrets/<name>/ — the two paths are rewritten, nothing else.
 */
export function alertmanagerConfig(): GeneratedFile {
  const dir = 'deploy/alertmanager';
  const source = readFileSync(join(REPO_ROOT, dir, 'alertmanager.yml'), 'utf8');
  if (!source.includes(LOCAL_TEMPLATES) || !source.includes(LOCAL_SECRETS_DIR)) {
    throw new Error(`${dir}/alertmanager.yml no longer has "${LOCAL_TEMPLATES.trim()}" and ${LOCAL_SECRETS_DIR} paths; update testing/k8s-checks/src/generate.ts`);
  }
  const config = source
    .replace(LOCAL_TEMPLATES, `  - ${OPERATOR_TEMPLATE_DIR}/*.tmpl`)
    .split(LOCAL_SECRETS_DIR)
    .join(OPERATOR_SECRETS_DIR);
  const stringData: Record<string, string> = { 'alertmanager.yaml': config };
  for (const tmpl of sortedFiles(`${dir}/templates`, '.tmpl')) {
    stringData[tmpl] = readFileSync(join(REPO_ROOT, dir, 'templates', tmpl), 'utf8');
  }
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: ALERTMANAGER_CONFIG_SECRET, labels: { 'app.kubernetes.io/part-of': 'orderwire' } },
    type: 'Opaque',
    // Routing only: the credentials it needs are files from Secret orderwire-alertmanager-secrets.
    stringData,
  };
  return { path: 'k8s/monitoring/alertmanager-config.yaml', content: HEADER(dir) + yamlDoc(secret) };
}

/** ConfigMap keys cannot hold `/`: `lib/orderwire.ts` is key `lib.orderwire.ts`, mapped back by the volume. */
function k6Files(): { key: string; path: string }[] {
  const dir = 'load-tests/k6';
  const top = sortedFiles(dir, '.ts').map((f) => ({ key: f, path: f }));
  const lib = sortedFiles(`${dir}/lib`, '.ts').map((f) => ({ key: `lib.${f}`, path: `lib/${f}` }));
  return [...top, ...lib];
}

const REEXPORT = /^export \* from '(\.{1,2}\/[^']+\.ts)';$/;
const MODULE_LINK = /^\s*(?:import|export)\s[^'"]*from\s+['"]([^'"]+)['"]/m;

/**
 * A k6 lib file that only re-exports a module kept elsewhere in the repository (the harness's
 * framing in load-tests/src/protocol) is shipped with that module's text in its place: the Job
 * mounts load-tests/k6 alone, so a relative path out of it would not resolve in the cluster. The
 * module must import nothing itself, or its own imports would dangle the same way.
 */
export function inlineReexport(text: string, fileDir: string): string {
  const code = text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '')
    .trim();
  const m = REEXPORT.exec(code);
  if (m === null) return text;
  const target = join(REPO_ROOT, fileDir, m[1]!);
  if (!target.startsWith(REPO_ROOT)) throw new Error(`${fileDir}: re-export ${m[1]} leaves the repository`);
  const module = readFileSync(target, 'utf8');
  if (MODULE_LINK.test(module)) throw new Error(`${fileDir}: re-exported ${m[1]} has imports of its own; k6 could not resolve them in the cluster`);
  return `// Inlined from ${m[1]} (the repository's copy re-exports it) by the k8s-checks generator.\n${module}`;
}

/** The k6 scripts as a ConfigMap, and the Job patch that mounts them in their folder layout. */
export function k6Scripts(): GeneratedFile[] {
  const dir = 'load-tests/k6';
  const files = k6Files();
  const data: Record<string, string> = {};
  for (const f of files) {
    const fileDir = join(dir, f.path, '..');
    data[f.key] = inlineReexport(readFileSync(join(REPO_ROOT, dir, f.path), 'utf8'), fileDir);
  }
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'k6-scripts' }, data };
  const patch = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'k6' },
    spec: {
      template: {
        spec: {
          volumes: [{ name: 'scripts', configMap: { name: 'k6-scripts', items: files.map((f) => ({ key: f.key, path: f.path })) } }],
        },
      },
    },
  };
  return [
    { path: 'k8s/load-test/k6-scripts.yaml', content: HEADER(dir) + yamlDoc(configMap) },
    { path: 'k8s/load-test/k6-scripts-volume.yaml', content: HEADER(dir) + yamlDoc(patch) },
  ];
}

/** Every generated file, as it must be committed. */
export function generatedFiles(): GeneratedFile[] {
  return [prometheusRules(), grafanaDashboards(), alertmanagerConfig(), ...k6Scripts()];
}
