/**
 * Backup and restore of every durable item of the JetStream topology: the streams and the KV
 * buckets' streams, read from the topology declaration (streamDeclarations / kvDeclarations),
 * never from a copied list. One directory per run; a manifest records what each file holds and
 * its SHA-256, and `manifest.sha256` protects the manifest itself. Runbook: docs/runbook.md
 * ("Backup and restore").
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { jetstreamManager, type StreamConfig, type StreamState } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  LEGACY_ORDERS_STREAM,
  PARTIAL_SUFFIX,
  fileChunks,
  isOrderStream,
  readOrderStreamAssignment,
  kvDeclarations,
  kvStreamName,
  restoreStream,
  snapshotStreamToFile,
  streamDeclarations,
  type Logger,
  type SnapshotProgress,
} from '@orderwire/platform';
import { AUTH_ERRORS } from './errors.js';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_CHECKSUM_FILE = 'manifest.sha256';
/** Status of the last successful run, in the backup root (JSON, and Prometheus text format). */
export const STATUS_FILE = 'last-success.json';
export const STATUS_PROM_FILE = 'orderwire_backup.prom';
/** Prefix of each run's directory; the rest is the UTC start time, so names sort by age. */
export const RUN_PREFIX = 'orderwire-backup-';
export const MANIFEST_FORMAT = 1;
/** A progress line at least every this many bytes of one stream. @default 64 MiB */
export const PROGRESS_EVERY_BYTES = 64 * 1024 * 1024;

export interface ManifestStream {
  name: string;
  kind: 'stream' | 'kv';
  file: string;
  /** Size of the snapshot file. */
  fileBytes: number;
  sha256: string;
  messages: number;
  firstSeq: number;
  lastSeq: number;
  consumers: number;
  /** Bytes of messages the stream held (server accounting). */
  streamBytes: number;
  config: StreamConfig;
  state: StreamState;
}

export interface Manifest {
  format: number;
  startedAt: string;
  finishedAt: string;
  server: { version: string; name: string; cluster?: string };
  streams: ManifestStream[];
}

/**
 * Every durable stream, KV buckets' streams first (restored before the streams that refer to
 * them): the order partition streams the server has (P is the server's, not this process's
 * configuration; a legacy ORDERS still draining too), and every other declared stream.
 */
export async function durableStreams(nc: NatsConnection): Promise<{ name: string; kind: 'stream' | 'kv' }[]> {
  const orders = await readOrderStreamAssignment(await jetstreamManager(nc));
  return [
    ...kvDeclarations().map((k) => ({ name: kvStreamName(k.bucket), kind: 'kv' as const })),
    ...(orders.legacy === undefined ? [] : [{ name: LEGACY_ORDERS_STREAM, kind: 'stream' as const }]),
    ...[...orders.streams.keys()].map((name) => ({ name, kind: 'stream' as const })),
    ...streamDeclarations()
      .filter((s) => !isOrderStream(s.name))
      .map((s) => ({ name: s.name, kind: 'stream' as const })),
  ];
}

function progressLogger(logger: Logger, action: string): (p: SnapshotProgress) => void {
  let next = PROGRESS_EVERY_BYTES;
  return (p) => {
    if (p.bytes < next) return;
    next += PROGRESS_EVERY_BYTES;
    logger.info({ stream: p.stream, bytes: p.bytes, chunks: p.chunks }, `${action} in progress`);
  };
}

function runName(at: Date): string {
  return RUN_PREFIX + at.toISOString().replace(/[:.]/g, '-');
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface BackupOptions {
  logger: Logger;
  /** Keep this many complete runs in `root`, deleting older ones after a success; 0 keeps all. */
  keep: number;
  now?: () => Date;
}

/**
 * Snapshots every durable stream into a new run directory under `root`. The directory carries a
 * `.partial` suffix until every file and the manifest are written, so a failed run never looks
 * like a backup (and is removed). Returns the run directory.
 */
export async function backupAll(nc: NatsConnection, root: string, opts: BackupOptions): Promise<{ dir: string; manifest: Manifest }> {
  const { logger } = opts;
  const now = opts.now ?? (() => new Date());
  const started = now();
  const dir = join(root, runName(started));
  const work = dir + PARTIAL_SUFFIX;
  await mkdir(work, { recursive: true });
  try {
    const streams: ManifestStream[] = [];
    for (const { name, kind } of await durableStreams(nc)) {
      const file = `${name}.tar.s2`;
      const t0 = Date.now();
      const snap = await snapshotStreamToFile(nc, name, join(work, file), { onProgress: progressLogger(logger, 'snapshot') });
      const fileBytes = (await stat(join(work, file))).size;
      streams.push({
        name,
        kind,
        file,
        fileBytes,
        sha256: snap.sha256,
        messages: snap.state.messages,
        firstSeq: snap.state.first_seq,
        lastSeq: snap.state.last_seq,
        consumers: snap.state.consumer_count,
        streamBytes: snap.state.bytes,
        config: snap.config,
        state: snap.state,
      });
      logger.info({ stream: name, messages: snap.state.messages, consumers: snap.state.consumer_count, fileBytes, ms: Date.now() - t0 }, 'stream backed up');
    }
    const info = nc.info;
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      startedAt: started.toISOString(),
      finishedAt: now().toISOString(),
      server: { version: info?.version ?? 'unknown', name: info?.server_name ?? 'unknown', ...(info?.cluster === undefined ? {} : { cluster: info.cluster }) },
      streams,
    };
    const text = `${JSON.stringify(manifest, null, 2)}\n`;
    await writeFile(join(work, MANIFEST_FILE), text);
    await writeFile(join(work, MANIFEST_CHECKSUM_FILE), `${createHash('sha256').update(text).digest('hex')}  ${MANIFEST_FILE}\n`);
    await rename(work, dir);
    await writeStatus(root, manifest, dir);
    await prune(root, opts.keep, logger);
    return { dir, manifest };
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

async function writeStatus(root: string, manifest: Manifest, dir: string): Promise<void> {
  const finished = Date.parse(manifest.finishedAt) / 1000;
  const bytes = manifest.streams.reduce((n, s) => n + s.fileBytes, 0);
  const status = { lastSuccess: manifest.finishedAt, dir: basename(dir), bytes, streams: manifest.streams.length };
  await writeFile(join(root, STATUS_FILE + PARTIAL_SUFFIX), `${JSON.stringify(status, null, 2)}\n`);
  await rename(join(root, STATUS_FILE + PARTIAL_SUFFIX), join(root, STATUS_FILE));
  // Prometheus text format, for node-exporter's textfile collector where the backup root is a host path.
  const prom = [
    '# HELP orderwire_backup_last_success_timestamp_seconds End time of the last successful backup.',
    '# TYPE orderwire_backup_last_success_timestamp_seconds gauge',
    `orderwire_backup_last_success_timestamp_seconds ${finished}`,
    '# HELP orderwire_backup_last_size_bytes Size of the files of the last successful backup.',
    '# TYPE orderwire_backup_last_size_bytes gauge',
    `orderwire_backup_last_size_bytes ${bytes}`,
    '',
  ].join('\n');
  await writeFile(join(root, STATUS_PROM_FILE + PARTIAL_SUFFIX), prom);
  await rename(join(root, STATUS_PROM_FILE + PARTIAL_SUFFIX), join(root, STATUS_PROM_FILE));
}

async function prune(root: string, keep: number, logger: Logger): Promise<void> {
  if (keep <= 0) return;
  const runs = (await readdir(root)).filter((n) => n.startsWith(RUN_PREFIX) && !n.endsWith(PARTIAL_SUFFIX)).sort();
  for (const old of runs.slice(0, Math.max(0, runs.length - keep))) {
    await rm(join(root, old), { recursive: true, force: true });
    logger.info({ dir: old }, 'old backup removed (retention)');
  }
}

/**
 * Checks a run directory without touching any server: the manifest's own checksum, then every
 * file's presence, size and SHA-256. Throws naming the first damaged file.
 */
export async function verifyBackup(dir: string): Promise<Manifest> {
  const bad = (file: string, reason: string): Error => AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_BACKUP_DAMAGED', { dir, file, reason });
  let text: string;
  let sum: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
    sum = (await readFile(join(dir, MANIFEST_CHECKSUM_FILE), 'utf8')).split(/\s+/)[0] ?? '';
  } catch (err) {
    throw bad(MANIFEST_FILE, `cannot read the manifest and its checksum: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (createHash('sha256').update(text).digest('hex') !== sum) throw bad(MANIFEST_FILE, 'SHA-256 does not match manifest.sha256');
  const manifest = JSON.parse(text) as Manifest;
  if (manifest.format !== MANIFEST_FORMAT) throw bad(MANIFEST_FILE, `format ${String(manifest.format)} is not ${MANIFEST_FORMAT}`);
  for (const s of manifest.streams) {
    const file = join(dir, s.file);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      throw bad(s.file, 'missing');
    }
    if (size !== s.fileBytes) throw bad(s.file, `size ${size} bytes, manifest says ${s.fileBytes}`);
    if ((await sha256File(file)) !== s.sha256) throw bad(s.file, 'SHA-256 does not match the manifest');
  }
  return manifest;
}

export interface RestoreAllOptions {
  logger: Logger;
  /** Replace streams that exist on the server (they are deleted first). @default false: refuse */
  replace?: boolean;
  /** Override num_replicas (e.g. a single-node backup restored into an R3 cluster). */
  replicas?: number;
}

/** Verifies `dir`, then restores every stream of its manifest. */
export async function restoreAll(nc: NatsConnection, dir: string, opts: RestoreAllOptions): Promise<Manifest> {
  const manifest = await verifyBackup(dir);
  const { logger } = opts;
  for (const s of manifest.streams) {
    const t0 = Date.now();
    const config = opts.replicas === undefined ? s.config : { ...s.config, num_replicas: opts.replicas };
    const info = await restoreStream(nc, s.name, { config, state: s.state }, fileChunks(join(dir, s.file)), {
      replace: opts.replace === true,
      onProgress: progressLogger(logger, 'restore'),
    });
    // The manifest holds the state the snapshot started from, and nats-server keeps appending to a
    // stream while it snapshots it: a backup taken under traffic can restore messages written
    // during its snapshot (a later last sequence), never fewer than it recorded.
    const grew = info.state.last_seq > s.lastSeq;
    if (info.state.last_seq < s.lastSeq || (!grew && info.state.messages !== s.messages)) {
      throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_BACKUP_DAMAGED', {
        dir,
        file: s.file,
        reason: `restored ${info.state.messages} messages up to seq ${info.state.last_seq}, manifest says ${s.messages} up to ${s.lastSeq}`,
      });
    }
    if (grew) logger.info({ stream: s.name, lastSeq: info.state.last_seq, manifestLastSeq: s.lastSeq }, 'the snapshot carried messages written while it was taken');
    logger.info({ stream: s.name, messages: info.state.messages, consumers: info.state.consumer_count, ms: Date.now() - t0 }, 'stream restored');
  }
  return manifest;
}
