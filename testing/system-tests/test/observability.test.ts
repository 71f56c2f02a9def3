/**
 * Observability of the running system (issue 6): no dashboard panel or alert rule reads a metric
 * the services do not export (scraped after real traffic), one order's log lines carry one trace
 * id across ingest, edge and dlq, and no token or secret appears in any service's log.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedMetrics, missingMetrics } from '@orderwire/observability-checks';
import { findRepoRoot, waitFor } from '@orderwire/test-harness';
import { httpJson, makeOrder, startStack, waitValue, type Stack, type TestDisplay } from '../src/stack.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const OTHER_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const traceparent = (traceId: string): string => `00-${traceId}-00f067aa0ba902b7-01`;

let stack: Stack;
let display: TestDisplay;

interface LogLine {
  service: string;
  line: string;
  json: Record<string, unknown> | undefined;
}

function serviceLogs(): LogLine[] {
  return stack.services().flatMap((h) =>
    h
      .logs()
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('[harness '))
      .map((line) => {
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(line) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
        return { service: h.name, line, json };
      }),
  );
}

beforeAll(async () => {
  stack = await startStack({
    edges: 2,
    dlq: true,
    webhooks: true,
    // Debug everywhere: the secret check must also hold for the most verbose logs.
    logLevel: 'debug',
    env: {
      auth: { AUTH_DISPLAY_TOKEN_TTL: '4s', AUTH_REFRESH_RETRY_GRACE: '2s' },
      edge: { EDGE_MAX_FAILURES: '2', EDGE_NAK_DELAY: '100ms', EDGE_NAK_DELAY_MAX: '200ms' },
    },
  });

  // Traffic that makes every panel's series exist: deliveries, a redelivery, a dead letter and
  // its replay, refreshes, failed authentications, a duplicate, a rejected order.
  display = await stack.newDisplay({ displayId: 'obs-1', storeId: 'st-obs', stations: ['grill'] });
  const rejectOnce = new Set(['obs-traced-reject']);
  display.rejectWhen((d) => d.orderId === 'obs-dead' || rejectOnce.delete(d.orderId), 'display cannot show this');
  const first = makeOrder('obs-0', 'st-obs', 'grill');
  expect((await stack.postOrder(first)).status).toBe(202);
  expect((await stack.postOrder(first)).body.duplicate).toBe(true);
  for (let i = 1; i < 20; i++) expect((await stack.postOrder(makeOrder(`obs-${i}`, 'st-obs', 'grill'))).status).toBe(202);
  expect((await stack.postOrder({ ...makeOrder('obs-bad', 'st-obs', 'grill'), storeId: 'bad.store' })).status).toBe(400);
  expect((await stack.postOrder(makeOrder('obs-traced', 'st-obs', 'grill'), { traceparent: traceparent(TRACE_ID) })).status).toBe(202);
  expect(
    (await stack.postOrder(makeOrder('obs-traced-reject', 'st-obs', 'grill'), { traceparent: traceparent(OTHER_TRACE_ID) })).status,
  ).toBe(202);
  expect((await stack.postOrder(makeOrder('obs-dead', 'st-obs', 'grill'))).status).toBe(202);

  // Failed authentications of every kind, each carrying something secret-looking.
  await httpJson('POST', `${stack.auth.url}/v1/oauth/token`, {
    body: { grant_type: 'client_credentials', client_id: stack.credentials.upstream.clientId, client_secret: 'wrong-secret-value-123456' },
  });
  await httpJson('POST', `${stack.auth.url}/v1/token/refresh`, { body: { refreshToken: 'bogus.refresh-token-value-1234567890' } });
  await httpJson('POST', `${stack.auth.url}/v1/displays/enroll`, { body: { enrollmentCode: 'AAAA-BBBB-CCCC-DDDD' } });
  const displayToken = display.tokenHistory.at(-1)!.accessToken;
  await httpJson('POST', `${stack.ingest.url}/v1/orders`, { token: displayToken, body: makeOrder('obs-x', 'st-obs', 'grill') });
  await httpJson('GET', `${stack.dlq!.url}/v1/dlq`, { token: displayToken });

  const entry = await waitValue(
    async () => {
      const token = await stack.clientToken(['dlq:read']);
      const res = await stack.request<{ items: { id: string }[] }>('GET', `${stack.dlq!.url}/v1/dlq?orderId=obs-dead`, { token });
      return res.body.items[0];
    },
    { timeoutMs: 15_000, message: 'DLQ entry for obs-dead' },
  );
  display.rejectWhen(undefined);
  const replayToken = await stack.clientToken(['dlq:replay']);
  expect((await stack.request('POST', `${stack.dlq!.url}/v1/dlq/${entry.id}/replay`, { token: replayToken })).status).toBe(200);
  await waitFor(() => ['obs-dead', 'obs-traced', 'obs-traced-reject', 'obs-19'].every((id) => display.shownIds().has(id)), {
    timeoutMs: 15_000,
    message: 'driven orders shown',
  });
  // At least one in-band refresh on the live socket.
  await waitFor(() => display.count('tokens') >= 2, { timeoutMs: 8_000, message: 'an in-band refresh' });
});

afterAll(async () => {
  await stack?.dispose();
});

describe('observability', () => {
  it('every metric a dashboard panel or alert rule uses is exported, with series, by the right service', async () => {
    const root = findRepoRoot();
    expect(root).toBeDefined();
    const expected = await expectedMetrics({
      dashboardsDir: join(root!, 'deploy/grafana/dashboards'),
      rulesDir: join(root!, 'deploy/prometheus/rules'),
    });
    expect(expected.metrics.length, 'metrics read by dashboards and rules').toBeGreaterThan(10);
    expect(expected.unresolved, 'queries whose metric no service is known to own').toEqual([]);

    const scraped = await stack.scrape();
    expect(scraped.map((s) => s.name).sort()).toEqual(['auth', 'dlq', 'edge-1', 'edge-2', 'ingest', 'webhooks']);
    const problems = missingMetrics(
      expected,
      scraped.map((s) => ({ text: s.text, service: s.service, source: s.name })),
    );
    expect(problems.map((p) => `${p.kind} ${p.service} ${p.metric}: ${p.message} (used by ${p.usedBy.join('; ')})`)).toEqual([]);
  });

  const about = (orderId: string): LogLine[] => serviceLogs().filter((l) => l.json?.orderId === orderId);

  it("the log lines of a refused and of a dead-lettered order carry the order's trace id in ingest, edge and dlq", () => {
    // Refused once, then delivered: the edge logs the refusal. The trace id came from traceparent.
    const refused = about('obs-traced-reject');
    expect(refused.filter((l) => l.service === 'ingest').length, 'ingest lines about obs-traced-reject').toBeGreaterThan(0);
    expect(refused.filter((l) => l.service.startsWith('edge')).length, 'edge lines about obs-traced-reject').toBeGreaterThan(0);
    expect(refused.filter((l) => l.json?.traceId !== OTHER_TRACE_ID).map((l) => `${l.service}: ${l.line}`)).toEqual([]);

    // Dead-lettered: ingest, edge and dlq agree on its (generated) trace id.
    const dead = about('obs-dead');
    const ingestTrace = dead.find((l) => l.service === 'ingest')?.json?.traceId;
    expect(typeof ingestTrace).toBe('string');
    for (const svc of ['edge', 'dlq']) {
      expect(dead.filter((l) => l.service.startsWith(svc)).length, `${svc} lines about obs-dead`).toBeGreaterThan(0);
    }
    expect(dead.filter((l) => l.json?.traceId !== ingestTrace).map((l) => `${l.service}: ${l.line}`)).toEqual([]);
  });

  it('a delivered order is logged by ingest and by the delivering edge (debug level) with the same trace id', () => {
    const traced = about('obs-traced');
    expect(traced.filter((l) => l.service === 'ingest').length, 'ingest lines about obs-traced').toBeGreaterThan(0);
    expect(traced.filter((l) => l.service.startsWith('edge')).length, 'edge lines about obs-traced at LOG_LEVEL=debug').toBeGreaterThan(0);
    expect(traced.filter((l) => l.json?.traceId !== TRACE_ID).map((l) => `${l.service}: ${l.line}`)).toEqual([]);
  });

  it('no token, secret, enrollment code or KEK appears in any service log', () => {
    const secrets = stack.secrets();
    expect(secrets.length).toBeGreaterThan(10);
    const logs = serviceLogs();
    expect(logs.length).toBeGreaterThan(100);
    const leaks: string[] = [];
    for (const l of logs) {
      for (const s of secrets) if (l.line.includes(s)) leaks.push(`${l.service}: secret ${s.slice(0, 6)}… in ${l.line.slice(0, 300)}`);
      // Any JWT at all, or a bearer header, is a leak even if this test did not issue it.
      if (/eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\./.test(l.line)) leaks.push(`${l.service}: JWT in ${l.line.slice(0, 300)}`);
      if (/bearer\s+[A-Za-z0-9._-]{16,}/i.test(l.line)) leaks.push(`${l.service}: bearer credential in ${l.line.slice(0, 300)}`);
      for (const bad of ['wrong-secret-value-123456', 'refresh-token-value-1234567890', 'AAAA-BBBB-CCCC-DDDD']) {
        if (l.line.includes(bad)) leaks.push(`${l.service}: presented credential in ${l.line.slice(0, 300)}`);
      }
    }
    expect(leaks).toEqual([]);
  });
});
