/**
 * `orderwire-backup` (the built dist/backup-cli.js) as an operator runs it, against a real
 * nats-server: backup of every declared stream and bucket, verify, damage detection naming the
 * file, refusal to overwrite, retention, status files, clear failure when NATS is gone.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { closeNats, connectNats, ensureTopology, kvDeclarations, kvStreamName, orderStreamFor, streamDeclarations, type NatsConnection } from '@orderwire/platform';
import { displaySubject } from '@orderwire/contracts';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';

const CLI = join(fileURLToPath(new URL('..', import.meta.url)), 'dist/backup-cli.js');
const logger = pino({ level: 'silent' });
let server: NatsServerHandle;
let nc: NatsConnection;
let root: string;

function cli(args: string[], natsUrl = server.url): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH, NATS_URL: natsUrl, LOG_LEVEL: 'info' }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
  });
}

/** The order stream of store t1/s1 (its partition). */
let ORDERS_T1_S1: string;

beforeAll(async () => {
  server = await startNats();
  nc = await connectNats({ servers: server.url, name: 'backup-cli-test', logger });
  await ensureTopology(nc);
  ORDERS_T1_S1 = (await orderStreamFor(await jetstreamManager(nc), 't1', 's1'))!;
  const js = jetstream(nc);
  for (let i = 0; i < 50; i++) await js.publish(displaySubject('t1', 's1', `d${i % 5}`), JSON.stringify({ i }));
  await js.publish('audit.t1.test', 'audited');
  const kv = await new Kvm(nc).open('ow_clients');
  await kv.put('c1', 'client one');
  root = mkdtempSync(join(tmpdir(), 'ow-backup-cli-'));
}, 60_000);
afterAll(async () => {
  await closeNats(nc, logger);
  await server.dispose();
  rmSync(root, { recursive: true, force: true });
});

it('backs up every declared stream and bucket with a checksummed manifest and status files; keeps the newest --keep runs', async () => {
  const first = await cli(['backup', root, '--keep', '2']);
  expect(first.stderr).toContain('stream backed up');
  expect(first.code).toBe(0);
  const out = JSON.parse(first.stdout) as { dir: string; streams: { name: string; messages: number }[] };
  const declared = [...kvDeclarations().map((k) => kvStreamName(k.bucket)), ...streamDeclarations().map((s) => s.name)];
  expect(out.streams.map((s) => s.name).sort()).toEqual(declared.sort());
  expect(out.streams.find((s) => s.name === ORDERS_T1_S1)?.messages).toBe(50);
  const manifest = JSON.parse(readFileSync(join(out.dir, 'manifest.json'), 'utf8')) as {
    server: { version: string };
    streams: { name: string; sha256: string; firstSeq: number; lastSeq: number; consumers: number; fileBytes: number }[];
  };
  expect(manifest.server.version).toMatch(/^2\./);
  const orders = manifest.streams.find((s) => s.name === ORDERS_T1_S1)!;
  expect(orders).toMatchObject({ firstSeq: 1, lastSeq: 50, consumers: 0 });
  expect(orders.sha256).toMatch(/^[0-9a-f]{64}$/);
  const status = JSON.parse(readFileSync(join(root, 'last-success.json'), 'utf8')) as { dir: string };
  expect(join(root, status.dir)).toBe(out.dir);
  expect(readFileSync(join(root, 'orderwire_backup.prom'), 'utf8')).toMatch(/^orderwire_backup_last_success_timestamp_seconds \d+(\.\d+)?$/m);

  expect((await cli(['backup', root, '--keep', '2'])).code).toBe(0);
  expect((await cli(['backup', root, '--keep', '2'])).code).toBe(0);
  const runs = readdirSync(root).filter((n) => n.startsWith('orderwire-backup-'));
  expect(runs).toHaveLength(2);
  expect(runs).not.toContain(out.dir.split('/').pop());
}, 120_000);

it('verify passes an intact backup and names the damaged file; restore refuses it and touches nothing', async () => {
  const res = await cli(['backup', root, '--keep', '0']);
  const dir = (JSON.parse(res.stdout) as { dir: string }).dir;
  expect((await cli(['verify', dir])).code).toBe(0);
  expect((await cli(['restore', '--verify', dir])).code).toBe(0);

  const file = join(dir, 'KV_ow_clients.tar.s2');
  const good = readFileSync(file);
  const bad = Buffer.from(good);
  bad[bad.length >> 1] = bad[bad.length >> 1]! ^ 0xff;
  writeFileSync(file, bad);
  const v = await cli(['verify', dir]);
  expect(v.code).toBe(1);
  expect(v.stderr).toMatch(/ORDERWIRE_ERR_AUTH_BACKUP_DAMAGED.*KV_ow_clients\.tar\.s2: SHA-256 does not match/);
  const r = await cli(['restore', dir, '--replace']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('KV_ow_clients.tar.s2');
  writeFileSync(file, good);

  writeFileSync(join(dir, 'manifest.json'), readFileSync(join(dir, 'manifest.json'), 'utf8').replace('"messages": 50', '"messages": 49'));
  const m = await cli(['verify', dir]);
  expect(m.code).toBe(1);
  expect(m.stderr).toContain('manifest.json: SHA-256 does not match manifest.sha256');
}, 120_000);

it('restore refuses a server that has the streams, and with --replace brings back the data; AUDIT still refuses deletes', async () => {
  const res = await cli(['backup', root, '--keep', '0']);
  const dir = (JSON.parse(res.stdout) as { dir: string }).dir;
  const refused = await cli(['restore', dir]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/ORDERWIRE_ERR_RESTORE_STREAM_EXISTS: stream \S+ already exists/);

  const js = jetstream(nc);
  await js.publish(displaySubject('t1', 's1', 'd1'), 'after the backup');
  const ok = await cli(['restore', dir, '--replace']);
  expect(ok.stderr).toContain('stream restored');
  expect(ok.code).toBe(0);
  const jsm = await jetstreamManager(nc);
  expect((await jsm.streams.info(ORDERS_T1_S1)).state.messages).toBe(50);
  const audit = await jsm.streams.info('AUDIT');
  expect(audit.config).toMatchObject({ deny_delete: true, deny_purge: true });
  await expect(jsm.streams.deleteMessage('AUDIT', 1)).rejects.toThrow(/delete/i);
  const kv = await new Kvm(nc).open('ow_clients');
  expect((await kv.get('c1'))?.string()).toBe('client one');
}, 120_000);

it('fails with a clear message and exit 1 when NATS is unreachable, leaving no run directory; usage errors exit 2', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'ow-backup-none-'));
  try {
    const r = await cli(['backup', empty], 'nats://127.0.0.1:1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('backup failed: ORDERWIRE_ERR_NATS_CONNECT');
    expect(readdirSync(empty)).toEqual([]);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  const u = await cli(['backup']);
  expect(u.code).toBe(2);
  expect(u.stderr).toContain('backup needs a directory');
}, 120_000);

it('restore takes a snapshot that grew while it was taken (a later last sequence than its manifest) and refuses one that holds less', async () => {
  const res = await cli(['backup', root, '--keep', '0']);
  const dir = (JSON.parse(res.stdout) as { dir: string }).dir;
  const manifestFile = join(dir, 'manifest.json');
  const original = readFileSync(manifestFile, 'utf8');
  const sumFile = join(dir, 'manifest.sha256');
  const originalSum = readFileSync(sumFile, 'utf8');
  const originalHex = createHash('sha256').update(original).digest('hex');
  // The manifest as a backup whose KV_ow_clients snapshot started `delta` messages later, with its checksum.
  const writeManifest = (delta: number): void => {
    const m = JSON.parse(original) as { streams: { name: string; lastSeq: number; messages: number }[] };
    const s = m.streams.find((x) => x.name === 'KV_ow_clients')!;
    s.lastSeq += delta;
    s.messages += delta;
    const text = JSON.stringify(m, null, 2);
    writeFileSync(manifestFile, text);
    writeFileSync(sumFile, originalSum.replace(originalHex, createHash('sha256').update(text).digest('hex')));
  };
  expect(originalSum).toContain(originalHex);
  // nats-server appends while it snapshots: the manifest (the snapshot's start) may be behind.
  writeManifest(-1);
  const grew = await cli(['restore', dir, '--replace']);
  expect(grew.code, grew.stderr.slice(-2000)).toBe(0);
  expect(grew.stdout + grew.stderr).toContain('the snapshot carried messages written while it was taken');
  // Fewer messages than the manifest recorded: damaged.
  writeManifest(+1);
  const short = await cli(['restore', dir, '--replace']);
  expect(short.code).toBe(1);
  expect(short.stderr).toMatch(/ORDERWIRE_ERR_AUTH_BACKUP_DAMAGED.*KV_ow_clients\.tar\.s2: restored \d+ messages up to seq \d+, manifest says/);
}, 120_000);
