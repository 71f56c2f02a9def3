/**
 * The built artefacts: `dist/cli.js` as an SRE runs it (`kubectl exec ... node dist/cli.js`) and
 * `dist/main.js` as `npm start` / Kubernetes run it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AUDIT_SUBJECT_PREFIX, displaySubject, HEADERS } from '@orderwire/contracts';
import { STREAMS } from '@orderwire/platform';
import { freePort, waitFor } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit.js';
import type { EntrySummary, EntryView } from '../src/entry.js';
import type { BulkReplayResult, ReplayResult } from '../src/operations.js';
import { addDisplay, buildApp, publishOrder, pull, reject, startEnv, waitForEntries, type Env, type TestApp } from './helpers.js';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
/** 20 s per CLI run: connect, read, act, exit. */
const CLI_TIMEOUT_MS = 20_000;

let env: Env;

beforeAll(async () => {
  if (!existsSync(`${DIST}cli.js`) || !existsSync(`${DIST}main.js`)) throw new Error('build first: npm run build -w @orderwire/dlq');
  env = await startEnv();
});

afterAll(async () => {
  await env?.dispose();
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${DIST}cli.js`, ...args], {
      env: { PATH: process.env.PATH ?? '', NATS_URL: env.nats.url, DLQ_CLI_ACTOR: 'sre-alice', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cli ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, CLI_TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('cli', () => {
  let app: TestApp;
  const tenant = 'ops';

  beforeAll(async () => {
    app = await buildApp(env);
    await addDisplay(env, tenant, 's1', 'kds-1', ['grill']);
    for (const id of ['C-1', 'C-2', 'C-3']) {
      await publishOrder(env, tenant, 's1', id, { station: 'grill' });
      await reject(env, tenant, 'kds-1', `rejected: broken ${id}`);
    }
    await waitForEntries(app, tenant, 3);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('lists, shows and replays in JSON mode; replays are audited with the operator as actor', async () => {
    const listed = await cli(['list', '--tenant', tenant, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const { items } = JSON.parse(listed.stdout) as { items: EntrySummary[] };
    expect(items.map((e) => e.orderId).sort()).toEqual(['C-1', 'C-2', 'C-3']);

    const c2 = items.find((e) => e.orderId === 'C-2')!;
    const shown = await cli(['show', c2.id, '--tenant', tenant, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const view = JSON.parse(shown.stdout) as EntryView;
    expect(view).toMatchObject({ id: c2.id, reason: 'rejected', detail: 'broken C-2', status: 'open', displayId: 'kds-1' });
    expect((view.original?.payload as { order: { orderId: string } }).order.orderId).toBe('C-2');

    const replayed = await cli(['replay', c2.id, '--tenant', tenant, '--json', '--note', 'ticket OPS-1']);
    expect(replayed.code, replayed.stderr).toBe(0);
    const r = JSON.parse(replayed.stdout) as ReplayResult;
    expect(r.replay.subject).toBe(displaySubject(tenant, 's1', 'kds-1'));
    expect(r.entry).toMatchObject({ status: 'replayed', lastReplay: { by: { type: 'operator', id: 'sre-alice' }, note: 'ticket OPS-1' } });
    const m = await pull(env, tenant, 'kds-1');
    expect(m!.headers!.get(HEADERS.orderId)).toBe('C-2');
    expect(m!.headers!.get(HEADERS.dlqId)).toBe(c2.id);
    m!.ack();
    const audit = await env.jsm.streams.getMessage(STREAMS.AUDIT, { last_by_subj: `${AUDIT_SUBJECT_PREFIX}.${tenant}.dlq_replayed` });
    expect(audit!.json<AuditEvent>()).toMatchObject({ entryId: c2.id, actor: { type: 'operator', id: 'sre-alice' } });

    // The service's index sees the CLI's write.
    const afterList = await app.ops.list(tenant, { status: 'replayed' }, {});
    expect(afterList.items.map((e) => e.id)).toEqual([c2.id]);
  });

  it('dry-runs a filtered replay, discards with a reason, and prints tables', async () => {
    const dry = await cli(['replay', '--tenant', tenant, '--display', 'kds-1', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const d = JSON.parse(dry.stdout) as BulkReplayResult;
    expect(d).toMatchObject({ dryRun: true, matched: 2, replayed: 0 });
    expect(d.items.map((i) => i.orderId)).toEqual(['C-1', 'C-3']);
    expect(await pull(env, tenant, 'kds-1', 1_000)).toBeNull();

    const c1 = d.items[0]!.id;
    const discarded = await cli(['discard', c1, '--tenant', tenant, '--reason', 'duplicate test order', '--json']);
    expect(discarded.code, discarded.stderr).toBe(0);
    expect((JSON.parse(discarded.stdout) as { entry: EntrySummary }).entry).toMatchObject({
      status: 'discarded',
      discard: { reason: 'duplicate test order', by: { type: 'operator', id: 'sre-alice' } },
    });

    const table = await cli(['list', '--tenant', tenant, '--status', 'open']);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+REASON/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(d.items[1]!.id);
    expect(lines[1]).toContain('C-3');
  });

  it('exits 2 on usage errors and 1 with a coded error for unknown entries', async () => {
    const noTenant = await cli(['list', '--json']);
    expect(noTenant.code).toBe(2);
    expect(JSON.parse(noTenant.stderr)).toMatchObject({ error: { code: 'ORDERWIRE_ERR_DLQ_CLI_USAGE' } });
    const badFlag = await cli(['list', '--tenant', tenant, '--bogus']);
    expect(badFlag.code).toBe(2);
    const noFilter = await cli(['replay', '--tenant', tenant]);
    expect(noFilter.code).toBe(2);
    const badFilter = await cli(['list', '--tenant', tenant, '--reason', 'nope', '--json']);
    expect(badFilter.code).toBe(1);
    expect(JSON.parse(badFilter.stderr)).toMatchObject({ error: { code: 'ORDERWIRE_ERR_DLQ_INVALID_FILTER' } });
    const unknown = await cli(['show', 'a'.repeat(24), '--tenant', tenant, '--json']);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stderr)).toMatchObject({ error: { code: 'ORDERWIRE_ERR_DLQ_ENTRY_NOT_FOUND' } });
  });
});

describe('dist/main.js', () => {
  it('starts, captures, answers the API and shuts down on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [`${DIST}main.js`], {
      env: {
        PATH: process.env.PATH ?? '',
        NATS_URL: env.nats.url,
        PORT: String(port),
        AUTH_JWKS_URL: env.jwksUrl,
        INSTANCE_ID: 'dlq-e2e',
        LOG_LEVEL: 'warn',
        DLQ_CAPTURE_CONSUMER: 'dlq_capture_e2e',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stdout.on('data', (d: Buffer) => (logs += d.toString()));
    child.stderr.on('data', (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await fetch(`${base}/readyz`)).ok, { timeoutMs: 15_000, message: () => `readyz; logs: ${logs}` });

      await addDisplay(env, 'e2e', 's1', 'kds-1', ['grill']);
      await publishOrder(env, 'e2e', 's1', 'E2E-1', { station: 'grill' });
      await reject(env, 'e2e', 'kds-1', 'rejected: e2e');
      const token = await env.token('e2e', ['dlq:read']);
      const body = await waitFor(async () => {
        const res = await fetch(`${base}/v1/dlq?orderId=E2E-1`, { headers: { authorization: `Bearer ${token}` } });
        const json = (await res.json()) as { items: EntrySummary[] };
        return res.status === 200 && json.items.length === 1 ? json : undefined;
      });
      expect(body!.items[0]).toMatchObject({ orderId: 'E2E-1', reason: 'rejected', detail: 'e2e' });
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/orderwire_dlq_entries_total\{reason="rejected",service="dlq"\} 1/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
