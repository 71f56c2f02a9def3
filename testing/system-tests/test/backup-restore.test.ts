/**
 * Disaster recovery through the real processes (issue 17 §1): back up while orders flow, destroy
 * the NATS server and its store, start an empty one, restore with `orderwire-backup`, start the
 * services again and reconnect the displays. What was durable before the backup must still be:
 * undelivered orders, acked positions, DLQ entries, OAuth clients, refresh tokens, signing keys,
 * the AUDIT stream's protection.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { displayConsumerName } from '@orderwire/contracts';
import { findRepoRoot, waitFor } from '@orderwire/test-harness';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { httpJson, lostOrders, makeOrder, metricValue, waitValue, startStack, type Stack, type TestDisplay } from '../src/stack.js';
import { consumerState } from '../src/streams.js';

/** The backup CLI's own budget (whole topology, small streams). */
const BACKUP_TIMEOUT_MS = 60_000;
/** Orders posted per second by the background flow while the backup runs. */
const FLOW_INTERVAL_MS = 25;

let stack: Stack;
let backupRoot: string;
const CLI = join(findRepoRoot() ?? '.', 'services/auth/dist/backup-cli.js');

beforeAll(async () => {
  stack = await startStack({
    edges: 1,
    dlq: true,
    env: {
      // Dead-letter after 3 quick failures; access tokens outlive the test, so no refresh happens
      // between the backup and the restore (a refresh then would be lost with the restore).
      edge: { EDGE_MAX_FAILURES: '3', EDGE_NAK_DELAY: '100ms', EDGE_NAK_DELAY_MAX: '400ms', EDGE_ACK_TIMEOUT: '3s' },
      auth: { AUTH_DISPLAY_TOKEN_TTL: '1h' },
    },
  });
  backupRoot = await mkdtemp(join(tmpdir(), 'orderwire-backup-st-'));
});

afterAll(async () => {
  await stack?.dispose();
  if (backupRoot !== undefined) await rm(backupRoot, { recursive: true, force: true });
});

function backupCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH, NATS_URL: stack.nats.url, LOG_LEVEL: 'info' }, timeout: BACKUP_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
  });
}

async function postAll(ids: string[], storeId: string, station: string, token?: string): Promise<string[]> {
  for (const id of ids) {
    const res = await stack.postOrder(makeOrder(id, storeId, station), token === undefined ? {} : { token });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
  }
  return ids;
}

async function waitShown(ids: string[], d: TestDisplay, timeoutMs = 20_000): Promise<void> {
  await waitFor(() => lostOrders(ids, [d]).length === 0 || undefined, {
    timeoutMs,
    message: () => `${d.displayId} shows ${ids.join(',')}; missing ${lostOrders(ids, [d]).join(',')}\n${stack.tails(20)}`,
  });
}

async function waitAcked(d: TestDisplay): Promise<void> {
  const consumer = displayConsumerName(stack.tenant, d.displayId);
  await waitFor(async () => (await consumerState(stack.nats.url, consumer)).numAckPending === 0 || undefined, {
    timeoutMs: 10_000,
    message: `${d.displayId}: every delivery acked at the server`,
  });
}

/** Displays of `storeId` the edges count online. */
async function storeOnline(storeId: string): Promise<number> {
  const scraped = (await stack.scrape()).filter((s) => s.service === 'edge');
  return scraped.reduce((n, s) => n + metricValue(s.text, 'orderwire_edge_displays_online', { store: storeId }), 0);
}

/** Until no edge counts a display of `storeId` online (each session is closed before it is uncounted). */
async function waitStoreOffline(storeId: string): Promise<void> {
  await waitFor(
    async () => (await storeOnline(storeId)) === 0 || undefined,
    { timeoutMs: 10_000, message: `the edges close every session of ${storeId}` },
  );
}

interface DlqEntry {
  id: string;
  orderId: string | null;
  status: string;
}

async function dlqEntry(orderId: string): Promise<DlqEntry | undefined> {
  const token = await stack.clientToken(['dlq:read']);
  const res = await stack.request<{ items: DlqEntry[] }>('GET', `${stack.dlq!.url}/v1/dlq?orderId=${orderId}`, { token });
  return res.status === 200 ? res.body.items[0] : undefined;
}

it('restore into an empty server: undelivered orders shown once, nothing shown twice, DLQ, tokens, keys and AUDIT intact', async () => {
  // ── before the backup ────────────────────────────────────────────────────────────────────────
  const on1 = await stack.newDisplay({ displayId: 'br-on-1', storeId: 'st-br', stations: ['grill'] });
  const on2 = await stack.newDisplay({ displayId: 'br-on-2', storeId: 'st-br', stations: ['grill'] });
  const off1 = await stack.newDisplay({ displayId: 'br-off-1', storeId: 'st-br-off', stations: ['fry'] });
  const off2 = await stack.newDisplay({ displayId: 'br-off-2', storeId: 'st-br-off', stations: ['fry'] });
  const rej = await stack.newDisplay({ displayId: 'br-rej', storeId: 'st-br-rej', stations: ['bar'] });
  const flow = await stack.newDisplay({ displayId: 'br-flow', storeId: 'st-br-flow', stations: ['grill'] });

  const shownOnline = await postAll(['br-1', 'br-2', 'br-3', 'br-4', 'br-5'], 'st-br', 'grill');
  const offFirst = await postAll(['br-off-0'], 'st-br-off', 'fry');
  await Promise.all([waitShown(shownOnline, on1), waitShown(shownOnline, on2), waitShown(offFirst, off1), waitShown(offFirst, off2)]);
  // Shown is not yet acked: stopping now could cut br-off-0's ack, and the closing session would
  // nak it back (still ack-pending at the server until redelivered).
  for (const d of [off1, off2]) await waitAcked(d);
  expect(await storeOnline('st-br-off'), 'the gauge the wait below reads').toBe(2);
  off1.client.stop();
  off2.client.stop();
  // Post only once the edge has closed both sessions: a pull racing the disconnect would take
  // some of these orders and nak them back, and a nak'ed message stays ack-pending at the
  // server until it is redelivered (nats-server keeps it in `pending`), so `waitAcked` below
  // could not tell "acked before the backup" from "handed back by a closing session".
  await waitStoreOffline('st-br-off');
  const waiting = await postAll(Array.from({ length: 20 }, (_, i) => `br-off-${i + 1}`), 'st-br-off', 'fry');

  rej.rejectWhen((delivery) => delivery.orderId === 'br-bad', 'unknown item SKU-9');
  await postAll(['br-rej-1', 'br-bad'], 'st-br-rej', 'bar');
  await waitShown(['br-rej-1'], rej);
  const entryBefore = await waitValue(() => dlqEntry('br-bad'), {
    timeoutMs: 15_000,
    message: () => `a DLQ entry for br-bad; refusals at ${Date.now()}: ${JSON.stringify(rej.refused)}\n${stack.tails(30)}`,
  });
  for (const d of [on1, on2, off1, off2, rej]) await waitAcked(d);
  expect(off1.shown.map((s) => s.orderId)).toEqual(offFirst);
  // A client token issued before the backup: signed by a key that must survive the restore.
  const tokenBefore = await stack.clientToken(['orders:write']);

  // ── backup while orders flow ─────────────────────────────────────────────────────────────────
  const flowAccepted: { id: string; stream: string; seq: number }[] = [];
  let flowing = true;
  let n = 0;
  const flowLoop = (async () => {
    while (flowing) {
      const id = `br-flow-${String(n++).padStart(4, '0')}`;
      const res = await stack.postOrder(makeOrder(id, 'st-br-flow', 'grill'));
      if (res.status === 202) flowAccepted.push({ id, stream: res.body.stream, seq: res.body.seq });
      await new Promise((r) => setTimeout(r, FLOW_INTERVAL_MS));
    }
  })();
  await new Promise((r) => setTimeout(r, 500));
  const flowShownAtStart = new Set(flow.shown.map((s) => s.orderId));
  const backup = await backupCli(['backup', backupRoot]);
  expect(backup.code, backup.stderr.slice(-3000)).toBe(0);
  await new Promise((r) => setTimeout(r, 300));
  flowing = false;
  await flowLoop;
  const dir = (JSON.parse(backup.stdout) as { dir: string }).dir;
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { streams: { name: string; lastSeq: number; messages: number }[] };
  // Per partition stream: a sequence compares only within its stream.
  const lastSeqOf = new Map(manifest.streams.filter((s) => s.name.startsWith('ORDERS_P')).map((s) => [s.name, s.lastSeq]));
  const inBackup = flowAccepted.filter((o) => o.seq <= (lastSeqOf.get(o.stream) ?? 0)).map((o) => o.id);
  /** What the restore put back, per partition stream (at least the manifest's). */
  const restoredLastSeqOf = new Map(lastSeqOf);
  expect(inBackup.length, 'flow orders stored before the snapshot').toBeGreaterThan(5);
  expect(flowAccepted.length, 'flow orders accepted').toBeGreaterThan(inBackup.length); // some came after: flowing during the backup
  expect((await backupCli(['verify', dir])).code).toBe(0);

  // ── disaster: every process stops, the store is gone, an empty server comes up ──────────────
  for (const d of [on1, on2, off1, off2, rej, flow]) d.client.stop();
  const shownBeforeLoss = new Map([on1, on2, off1, off2, rej, flow].map((d) => [d.displayId, d.shown.length]));
  for (const h of [...stack.edges, stack.dlq!, stack.ingest, stack.auth]) await h.stop();
  await stack.nats.stop();
  await rm(stack.nats.storeDir, { recursive: true, force: true });
  await stack.nats.start();
  const nc = await connect({ servers: stack.nats.url, name: 'backup-restore-test' });
  try {
    const jsm = await jetstreamManager(nc);
    expect(await jsm.streams.names().next(), 'the new server is empty').toEqual([]);

    // ── restore, then the services ───────────────────────────────────────────────────────────
    const restore = await backupCli(['restore', dir]);
    expect(restore.code, restore.stderr.slice(-3000)).toBe(0);
    // The manifest is where each snapshot started; nats-server appends while it snapshots, so an
    // order accepted during the snapshot may be in the backup too: never fewer than the manifest.
    for (const [stream, lastSeq] of lastSeqOf) {
      const restoredLast = (await jsm.streams.info(stream)).state.last_seq;
      expect(restoredLast, stream).toBeGreaterThanOrEqual(lastSeq);
      restoredLastSeqOf.set(stream, restoredLast);
    }
    const audit = await jsm.streams.info('AUDIT');
    expect(audit.config).toMatchObject({ deny_delete: true, deny_purge: true });
    await expect(jsm.streams.deleteMessage('AUDIT', audit.state.first_seq)).rejects.toThrow(/delete/i);
    await expect(jsm.streams.purge('AUDIT')).rejects.toThrow(/purge/i);
    // A second restore into the now populated server is refused.
    const again = await backupCli(['restore', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('ORDERWIRE_ERR_RESTORE_STREAM_EXISTS');
  } finally {
    await nc.close();
  }
  await stack.auth.start();
  await Promise.all([stack.ingest.start(), stack.dlq!.start(), ...stack.edges.map((e) => e.start())]);

  // ── credentials and keys from before the backup ─────────────────────────────────────────────
  const fresh = await httpJson<{ access_token: string }>('POST', `${stack.auth.url}/v1/oauth/token`, {
    body: {
      grant_type: 'client_credentials',
      client_id: stack.credentials.upstream.clientId,
      client_secret: stack.credentials.upstream.clientSecret,
      scope: 'orders:write',
    },
  });
  expect(fresh.status, 'client credentials still work').toBe(200);
  const afterWithOldToken = await postAll(['br-after-old-token'], 'st-br', 'grill', tokenBefore);

  // ── reconnect the displays ───────────────────────────────────────────────────────────────────
  for (const d of [on1, on2, off1, off2, rej, flow]) d.restartClient();
  const refreshed = await on1.tokens.refresh(); // a refresh token issued before the backup
  expect(refreshed).toMatchObject({ displayId: 'br-on-1' });
  expect(refreshed.accessExpiresAt).toBeGreaterThan(Date.now());
  const since = (d: TestDisplay): string[] => d.shown.slice(shownBeforeLoss.get(d.displayId)).map((s) => s.orderId);

  await Promise.all([waitShown(waiting, off1), waitShown(waiting, off2)]);
  for (const d of [off1, off2]) expect(since(d), `${d.displayId}: the orders waiting at the backup, once, in order`).toEqual(waiting);

  const restoredFlow = flowAccepted.filter((o) => o.seq <= (restoredLastSeqOf.get(o.stream) ?? 0)).map((o) => o.id);
  const flowExpected = restoredFlow.filter((id) => !flowShownAtStart.has(id));
  await waitShown(flowExpected, flow);
  const flowSince = since(flow);
  expect(flowSince.length, 'br-flow: nothing shown twice after the restore').toBe(new Set(flowSince).size);
  expect(flowSince.filter((id) => !restoredFlow.includes(id)), 'br-flow: only orders in the backup').toEqual([]);

  // Orders acked before the backup are not shown again; the pipeline works (old token's order).
  await waitShown(afterWithOldToken, on1);
  await waitShown(afterWithOldToken, on2);
  for (const d of [on1, on2]) expect(since(d), `${d.displayId}: only the new order`).toEqual(afterWithOldToken);
  expect(since(rej), 'br-rej: nothing acked before is shown again').toEqual([]);

  // ── the DLQ entry from before the backup, and its replay ────────────────────────────────────
  const entry = await waitValue(() => dlqEntry('br-bad'), { timeoutMs: 15_000, message: 'the DLQ entry after the restore' });
  expect(entry).toMatchObject({ id: entryBefore.id, status: 'open' });
  rej.rejectWhen(undefined);
  const replay = await stack.request('POST', `${stack.dlq!.url}/v1/dlq/${entry.id}/replay`, {
    token: await stack.clientToken(['dlq:replay']),
    body: { note: 'after restore' },
  });
  expect(replay.status, JSON.stringify(replay.body)).toBe(200);
  await waitShown(['br-bad'], rej);
  expect(rej.shown.find((s) => s.orderId === 'br-bad')?.replay).toBe(true);
}, 240_000);
