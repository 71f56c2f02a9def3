import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/index.js';
import { dashboardJson, registry } from './fixtures.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], cwd?: string): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (l) => out.push(l), err: (l) => err.push(l), ...(cwd === undefined ? {} : { cwd }) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** A miniature repository: one dashboard, one rule file. */
let root: string;
let server: Server;
let base: string;
const registries = new Map<string, Registry>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ow-cli-'));
  await writeFile(join(root, 'turbo.json'), '{}');
  await mkdir(join(root, 'deploy/grafana/dashboards'), { recursive: true });
  await mkdir(join(root, 'deploy/prometheus/rules'), { recursive: true });
  await writeFile(
    join(root, 'deploy/grafana/dashboards/d.json'),
    JSON.stringify(
      dashboardJson('d', [
        { title: 'Deliveries', exprs: ['sum by (outcome) (rate(orderwire_edge_deliveries_total{outcome="acked"}[5m]))'] },
        { title: 'E2E', exprs: ['histogram_quantile(0.99, sum by (le) (rate(orderwire_delivery_e2e_latency_seconds_bucket[5m])))'] },
      ]),
    ),
  );
  await writeFile(
    join(root, 'deploy/prometheus/rules/r.yml'),
    `groups:
  - name: g
    rules:
      - alert: Breaker
        expr: max(orderwire_ingest_breaker_state) == 2
`,
  );

  const edge = registry('edge');
  new Counter({ name: 'orderwire_edge_deliveries_total', help: 'd', labelNames: ['outcome'], registers: [edge] }).inc({ outcome: 'acked' });
  new Histogram({ name: 'orderwire_delivery_e2e_latency_seconds', help: 'e', buckets: [0.25], registers: [edge] }).observe(0.1);
  const ingest = registry('ingest');
  new Gauge({ name: 'orderwire_ingest_breaker_state', help: 'b', registers: [ingest] }).set(0);
  const ingestOld = registry('ingest');
  new Gauge({ name: 'orderwire_ingest_breaker_open', help: 'renamed', registers: [ingestOld] }).set(0);
  registries.set('/edge', edge).set('/ingest', ingest).set('/ingest-old', ingestOld);

  server = createServer((req, res) => {
    const r = registries.get(req.url ?? '');
    if (r === undefined) {
      res.writeHead(404).end();
      return;
    }
    void r.metrics().then((t) => res.writeHead(200, { 'content-type': r.contentType }).end(t));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
  await rm(root, { recursive: true, force: true });
});

describe('cli expected', () => {
  it('prints the metrics each service must export, found from the working directory', async () => {
    const r = await cli(['expected'], join(root, 'deploy'));
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      ['edge:', '  orderwire_delivery_e2e_latency_seconds', '  orderwire_edge_deliveries_total', 'ingest:', '  orderwire_ingest_breaker_state'].join('\n'),
    );
  });

  it('prints JSON with --json', async () => {
    const r = await cli(['expected', '--json', '--root', root]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { byService: unknown }).byService).toEqual({
      edge: ['orderwire_delivery_e2e_latency_seconds', 'orderwire_edge_deliveries_total'],
      ingest: ['orderwire_ingest_breaker_state'],
    });
  });
});

describe('cli check', () => {
  it('passes when every service exports what the dashboards and rules read', async () => {
    const r = await cli(['check', '--root', root, '--metrics-url', `${base}/edge`, '--metrics-url', `${base}/ingest`]);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^ok: all 3 metrics/m);
    expect(r.code).toBe(0);
  });

  it('fails naming the missing metric and where it is used', async () => {
    const r = await cli(['check', '--root', root, '--metrics-url', `${base}/edge`, '--metrics-url', `${base}/ingest-old`]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('[absent] ingest does not export orderwire_ingest_breaker_state');
    expect(r.out).toContain('used by: r.yml: Breaker');
    expect(r.out).toMatch(/FAILED: 1 problems/);
  });

  it('fails when a service is not scraped at all, and supports svc=URL and --json', async () => {
    const r = await cli(['check', '--root', root, '--json', '--metrics-url', `ingest=${base}/ingest`]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as { ok: boolean; problems: Array<{ kind: string; service: string }> };
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'service_not_scraped', service: 'edge' })]);
  });

  it('exits 2 with the usage on bad arguments or an unreachable endpoint', async () => {
    for (const args of [[], ['check', '--root', root], ['check', '--metrics-url'], ['bogus', '--root', root], ['check', '--metrics-url', 'ftp://x']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
    }
    const down = await cli(['check', '--root', root, '--timeout', '2s', '--metrics-url', 'http://127.0.0.1:1/metrics']);
    expect(down.code).toBe(2);
    expect(down.err).toMatch(/ORDERWIRE_ERR_OBSCHECK_SCRAPE_FAILED: GET http:\/\/127.0.0.1:1\/metrics/);
  });

  it('prints the usage with help', async () => {
    const r = await cli(['help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: node dist\/cli.js <command>/);
  });
});
