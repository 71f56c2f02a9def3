#!/usr/bin/env node
/**
 * Times `orderwire-backup` on a realistic store: `node load-tests/dist/backup-bench.js
 * [--orders N] [--displays N] [--order-bytes N]` (defaults: 1,000,000 orders, 10,000 display
 * consumers, 400-byte orders). Starts its own nats-server on loopback (store in a temp dir),
 * applies the topology with `orderwire-auth topology apply`, fills ORDERS and creates one mailbox
 * consumer per display (a third of each display's orders acked, so consumer states are not
 * trivial), then runs the real CLI: backup, verify, and restore into a fresh empty server.
 * Prints one JSON line of figures; docs/benchmarks.md ("Backup and restore") records them.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { displayConsumerName, displayFilterSubjects } from '@orderwire/contracts';
import { startNats } from '@orderwire/test-harness';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const AUTH_CLI = join(ROOT, 'services/auth/dist/cli.js');
const BACKUP_CLI = join(ROOT, 'services/auth/dist/backup-cli.js');
/** Async publishes in flight at once while filling ORDERS. */
const PUBLISH_WINDOW = 2_000;
/** Consumer creations in flight at once. */
const CONSUMER_WINDOW = 50;
/** Longest any one CLI run may take before the bench gives up. @default 1 h */
const CLI_TIMEOUT_MS = 60 * 60_000;
const TENANT = 'bench';
const STORES = 100;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive whole number`);
  return v;
}

function run(main: string, args: string[], natsUrl: string, env: Record<string, string> = {}): Promise<{ ms: number; stdout: string; stderr: string }> {
  const t0 = Date.now();
  return new Promise((res, rej) => {
    execFile(
      process.execPath,
      [main, ...args],
      { env: { PATH: process.env.PATH, NATS_URL: natsUrl, LOG_LEVEL: 'info', ...env }, timeout: CLI_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err !== null) rej(new Error(`${main} ${args.join(' ')}: ${err.message}\n${stderr.slice(-2000)}`));
        else res({ ms: Date.now() - t0, stdout, stderr });
      },
    );
  });
}

async function main(): Promise<void> {
  const orders = arg('orders', 1_000_000);
  const displays = arg('displays', 10_000);
  const orderBytes = arg('order-bytes', 400);
  const log = (m: string): void => void process.stderr.write(`[backup-bench] ${m}\n`);
  const work = await mkdtemp(join(tmpdir(), 'orderwire-backup-bench-'));
  const nats = await startNats({ config: 'max_payload: 1MB' });
  try {
    // One order partition: the bench follows one order stream through backup and restore.
    const ORDERS = 'ORDERS_P0'; // the one partition stream with P = 1 (platform orderStreamName(0))
    await run(AUTH_CLI, ['topology', 'apply'], nats.url, { JETSTREAM_ORDER_PARTITIONS: '1' });
    const nc = await connect({ servers: nats.url, name: 'backup-bench' });
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const ids = Array.from({ length: displays }, (_, i) => ({ displayId: `d${i}`, store: `s${i % STORES}` }));

    let t = Date.now();
    for (let i = 0; i < displays; i += CONSUMER_WINDOW) {
      await Promise.all(
        ids.slice(i, i + CONSUMER_WINDOW).map((d) =>
          jsm.consumers.add(ORDERS, {
            durable_name: displayConsumerName(TENANT, d.displayId),
            filter_subjects: displayFilterSubjects(TENANT, d.store, d.displayId, ['grill']),
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.All,
          }),
        ),
      );
    }
    const consumersMs = Date.now() - t;
    log(`${displays} consumers in ${consumersMs} ms`);

    t = Date.now();
    // JSON orders with varying ids and items, so compression sees what production would.
    const enc = new TextEncoder();
    const orderBody = (j: number): Uint8Array => {
      const items = Array.from({ length: 1 + (j % 4) }, (_, k) => ({ sku: `SKU-${(j * 7919 + k) % 100_000}`, qty: 1 + ((j + k) % 3), name: `item ${(j * 31 + k) % 997}` }));
      const text = JSON.stringify({ orderId: `o${j}`, storeId: ids[j % displays]!.store, station: 'grill', createdAt: 1_796_000_000_000 + j, items });
      return enc.encode(text.padEnd(orderBytes, ' '));
    };
    for (let i = 0; i < orders; i += PUBLISH_WINDOW) {
      const batch: Promise<unknown>[] = [];
      for (let j = i; j < Math.min(orders, i + PUBLISH_WINDOW); j++) {
        const d = ids[j % displays]!;
        batch.push(js.publish(`orders.${TENANT}.${d.store}.display.${d.displayId}`, orderBody(j), { msgID: `o${j}` }));
      }
      await Promise.all(batch);
      if (i % 100_000 === 0) log(`published ${i}`);
    }
    const fillMs = Date.now() - t;
    const before = await jsm.streams.info(ORDERS);
    log(`${orders} orders (${before.state.bytes} bytes) in ${fillMs} ms`);
    await nc.close();

    const root = join(work, 'backups');
    const backup = await run(BACKUP_CLI, ['backup', root], nats.url);
    const dir = (JSON.parse(backup.stdout) as { dir: string }).dir;
    const files = (JSON.parse(backup.stdout) as { streams: { fileBytes: number }[] }).streams.reduce((n, s) => n + s.fileBytes, 0);
    log(`backup ${backup.ms} ms, ${files} bytes`);
    const verify = await run(BACKUP_CLI, ['verify', dir], nats.url);
    log(`verify ${verify.ms} ms`);

    await nats.stop();
    await rm(nats.storeDir, { recursive: true, force: true });
    await nats.start();
    const restore = await run(BACKUP_CLI, ['restore', dir], nats.url);
    log(`restore ${restore.ms} ms`);
    // Per-stream times from the CLI's own log lines.
    for (const line of [...backup.stderr.split('\n'), ...restore.stderr.split('\n')]) {
      if (/"stream":"ORDERS_P0".*"msg":"stream (backed up|restored)"/.test(line)) log(line);
    }
    const nc2 = await connect({ servers: nats.url, name: 'backup-bench-check' });
    const after = await (await jetstreamManager(nc2)).streams.info(ORDERS);
    await nc2.close();
    if (after.state.messages !== before.state.messages || after.state.consumer_count !== displays) {
      throw new Error(`restored ${after.state.messages} orders / ${after.state.consumer_count} consumers, expected ${before.state.messages} / ${displays}`);
    }
    process.stdout.write(
      `${JSON.stringify({
        orders,
        displays,
        orderBytes,
        ordersStreamBytes: before.state.bytes,
        backupFileBytes: files,
        backupSeconds: backup.ms / 1000,
        verifySeconds: verify.ms / 1000,
        restoreSeconds: restore.ms / 1000,
        fillSeconds: fillMs / 1000,
        consumersSeconds: consumersMs / 1000,
      })}\n`,
    );
  } finally {
    await nats.dispose();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
