import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT, TOOLS_BIN, alertmanagerConfig, generatedFiles, grafanaDashboards, inlineReexport, k6Scripts, prometheusRules } from '../src/index.js';

describe('the generated Kubernetes copies equal their sources in deploy/ and load-tests/k6', () => {
  test.each(generatedFiles().map((f) => [f.path, f] as const))('%s is up to date (npm run generate -w @orderwire/k8s-checks)', (_path, file) => {
    expect(readFileSync(join(REPO_ROOT, file.path), 'utf8')).toBe(file.content);
  });

  test('the PrometheusRule holds exactly the groups of deploy/prometheus/rules', () => {
    const dir = join(REPO_ROOT, 'deploy', 'prometheus', 'rules');
    const source = readdirSync(dir)
      .filter((f) => f.endsWith('.yml'))
      .sort()
      .flatMap((f) => (parse(readFileSync(join(dir, f), 'utf8')) as { groups: unknown[] }).groups);
    const rule = parse(readFileSync(join(REPO_ROOT, prometheusRules().path), 'utf8')) as { spec: { groups: unknown[] } };
    expect(rule.spec.groups).toEqual(source);
    expect(source.length).toBeGreaterThan(0);
  });

  test('every dashboard is a ConfigMap labelled for the Grafana sidecar, its JSON unchanged', () => {
    const dir = join(REPO_ROOT, 'deploy', 'grafana', 'dashboards');
    const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, grafanaDashboards().path), 'utf8')).map(
      (d) => d.toJS() as { metadata: { labels: Record<string, string> }; data: Record<string, string> },
    );
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(docs).toHaveLength(files.length);
    for (const f of files) {
      const doc = docs.find((d) => d.data[f] !== undefined);
      expect(doc?.metadata.labels.grafana_dashboard, f).toBe('1');
      expect(JSON.parse(doc?.data[f] ?? 'null'), f).toEqual(JSON.parse(readFileSync(join(dir, f), 'utf8')));
    }
  });

  test('the k6 Job mounts a closed set of files: every relative import of every script resolves to a mounted file', () => {
    const [configMap, volume] = k6Scripts().map((f) => parse(f.content) as Record<string, unknown>);
    const data = (configMap as { data: Record<string, string> }).data;
    const items = (volume as { spec: { template: { spec: { volumes: Array<{ configMap: { items: Array<{ key: string; path: string }> } }> } } } }).spec.template.spec
      .volumes[0]!.configMap.items;
    const mounted = new Set(items.map((i) => i.path));
    let links = 0;
    for (const { key, path } of items) {
      const text = data[key] ?? '';
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!;
        if (spec === 'k6' || spec.startsWith('k6/')) continue;
        links++;
        const resolved = join(path, '..', spec).replace(/^\.\//, '');
        expect(mounted.has(resolved), `${path} → ${spec}`).toBe(true);
      }
    }
    expect(links).toBeGreaterThan(5);
    // The framing the harness shares is shipped as text, not as a path out of the mount.
    expect(data['lib.socketio.ts']).toContain('export function decodeFrame');
    expect(data['lib.deliveries.ts']).toContain('export function handleOrders');
  });

  test('inlineReexport: a pure re-export becomes the module, anything else stays as it is', () => {
    const dir = 'load-tests/k6/lib';
    // Built in two pieces so scripts/check-deps.mjs does not read them as this file's imports.
    const reexport = (target: string): string => 'export * ' + `from '${target}';\n`;
    expect(inlineReexport(`/** doc */\n${reexport('../../src/protocol/socketio.ts')}`, dir)).toContain('export function decodeFrame');
    const mixed = `${reexport('../../src/protocol/socketio.ts')}export const x = 1;\n`;
    expect(inlineReexport(mixed, dir)).toBe(mixed);
    // A module with imports of its own would dangle in the cluster.
    expect(() => inlineReexport(reexport('../../src/protocol/display.ts'), dir)).toThrow(/imports of its own/);
  });

  test('the Alertmanager config for the operator passes amtool, with templates and secret files where the operator mounts them', () => {
    const secret = parse(alertmanagerConfig().content) as { stringData: Record<string, string> };
    const config = secret.stringData['alertmanager.yaml'] ?? '';
    expect(config).toContain('/etc/alertmanager/config/*.tmpl');
    expect(config).toContain('/etc/alertmanager/secrets/orderwire-alertmanager-secrets/smtp-password');
    expect(config).not.toMatch(/^\s*(smtp_auth_password|api_url|slack_api_url):/m);
    const dir = mkdtempSync(join(tmpdir(), 'ow-am-'));
    try {
      writeFileSync(join(dir, 'alertmanager.yaml'), config);
      const out = execFileSync(join(TOOLS_BIN, 'amtool'), ['check-config', join(dir, 'alertmanager.yaml')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(out).toMatch(/SUCCESS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
