#!/usr/bin/env node
/**
 * `orderwire-backup`: backup, verify and restore of every stream and KV bucket of the JetStream
 * topology (docs/runbook.md, "Backup and restore"). Ships in the auth image (the package that
 * owns the topology), bin `orderwire-backup`; from the repo: `npm run backup -- <root>`,
 * `npm run restore -- <dir>`. Environment: NATS_URL and the NATS identity variables of
 * natsConfig(), BACKUP_KEEP, LOG_LEVEL. Logs (JSON) go to stderr, the result to stdout.
 * Exit code 0 ok, 1 failed (message names the cause), 2 usage error.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { closeNats, connectNats, createLogger, isOrderwireError, natsIdentityOptions, packageVersion, type Logger } from '@orderwire/platform';
import { backupAll, restoreAll, verifyBackup } from './backup.js';
import { loadBackupConfig, type BackupConfig } from './config.js';

const USAGE = `usage: orderwire-backup <command>

  backup <root> [--keep <n>]       snapshot every stream and KV bucket into <root>/orderwire-backup-<time>/
                                   (manifest + SHA-256 of each file); keeps the newest n (BACKUP_KEEP, default 7)
  verify <dir>                     check a backup's manifest and checksums; touches no server
  restore <dir> [--replace] [--replicas <n>]
                                   verify, then restore every stream; refuses streams that exist
                                   unless --replace (which deletes them first)
  restore --verify <dir>           same as verify <dir>

environment: NATS_URL and NATS_USER/NATS_PASSWORD or NATS_NKEY_SEED_FILE, NATS_TLS_*; BACKUP_KEEP; LOG_LEVEL.`;

/** 10000 ms to reach NATS before giving up. */
const BACKUP_NATS_TIMEOUT_MS = 10_000;

class UsageError extends Error {}

interface Parsed {
  cmd: string;
  dir: string;
  flags: Map<string, string | true>;
}

function parse(argv: readonly string[]): Parsed {
  const flags = new Map<string, string | true>();
  const pos: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--replace' || a === '--verify') flags.set(a.slice(2), true);
    else if (a === '--keep' || a === '--replicas') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      flags.set(a.slice(2), v);
    } else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else pos.push(a);
  }
  const [cmd, dir, ...rest] = pos;
  if (cmd === undefined) throw new UsageError('no command given');
  if (dir === undefined) throw new UsageError(`${cmd} needs a directory`);
  if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  return { cmd, dir: resolve(dir), flags };
}

function intFlag(p: Parsed, name: string): number | undefined {
  const v = p.flags.get(name);
  if (v === undefined || v === true) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number, got ${v}`);
  return Number(v);
}

async function withNats<T>(config: BackupConfig, logger: Logger, fn: (nc: Awaited<ReturnType<typeof connectNats>>) => Promise<T>): Promise<T> {
  const nc = await connectNats({
    servers: config.natsUrl,
    name: `orderwire-backup/${hostname()}`,
    logger,
    timeoutMs: BACKUP_NATS_TIMEOUT_MS,
    ...natsIdentityOptions(config.natsIdentity, 'backup'),
  });
  try {
    return await fn(nc);
  } finally {
    await closeNats(nc, logger);
  }
}

async function run(p: Parsed, config: BackupConfig, logger: Logger): Promise<unknown> {
  const cmd = p.cmd === 'restore' && p.flags.has('verify') ? 'verify' : p.cmd;
  switch (cmd) {
    case 'backup': {
      const keep = intFlag(p, 'keep') ?? config.backupKeep;
      const t0 = Date.now();
      const { dir, manifest } = await withNats(config, logger, (nc) => backupAll(nc, p.dir, { logger, keep }));
      return {
        dir,
        seconds: (Date.now() - t0) / 1000,
        streams: manifest.streams.map((s) => ({ name: s.name, messages: s.messages, consumers: s.consumers, fileBytes: s.fileBytes })),
      };
    }
    case 'verify': {
      const m = await verifyBackup(p.dir);
      return { dir: p.dir, ok: true, finishedAt: m.finishedAt, streams: m.streams.length };
    }
    case 'restore': {
      const t0 = Date.now();
      const replicas = intFlag(p, 'replicas');
      const m = await withNats(config, logger, (nc) =>
        restoreAll(nc, p.dir, { logger, replace: p.flags.has('replace'), ...(replicas === undefined ? {} : { replicas }) }),
      );
      return { dir: p.dir, restored: m.streams.map((s) => ({ name: s.name, messages: s.messages })), seconds: (Date.now() - t0) / 1000 };
    }
    default:
      throw new UsageError(`unknown command: ${p.cmd}`);
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || argv.includes('--help') || argv[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  let parsed: Parsed;
  let config: BackupConfig;
  try {
    parsed = parse(argv);
    config = loadBackupConfig();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${err instanceof UsageError ? `\n${USAGE}\n` : ''}`);
    return err instanceof UsageError ? 2 : 1;
  }
  const logger = createLogger({
    service: 'backup',
    version: packageVersion(import.meta.url),
    level: config.logLevel,
    destination: pino.destination({ dest: 2, sync: true }),
  });
  try {
    const result = await run(parsed, config, logger);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`${parsed.cmd} failed: ${isOrderwireError(err) ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  },
);
