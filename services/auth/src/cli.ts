#!/usr/bin/env node
/**
 * Admin CLI: `node dist/cli.js <command>` with the service's own environment (NATS_URL,
 * AUTH_KEK, …), e.g. `kubectl exec deploy/auth -- node dist/cli.js client list --tenant acme`.
 * Results are JSON on stdout; logs go to stderr. Exit code 0 ok, 1 failed, 2 usage error.
 */
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { millis } from '@nats-io/nats-core';
import { pino } from 'pino';
import {
  closeNats,
  connectNats,
  createLogger,
  ensureTopology,
  finishRepartition,
  isValidPartitionCount,
  repartitionOrderStreams,
  formatSize,
  isOrderwireError,
  natsIdentityOptions,
  kvDeclarations,
  packageVersion,
  streamDeclarations,
  STREAMS,
  verifyTopology,
  type Logger,
  type NatsConnection,
  type TopologyConfig,
  type TopologySummary,
} from '@orderwire/platform';
import {
  createClient,
  createTenant,
  describeKeyring,
  parseScopes,
  rekeyKeys,
  revokeClient,
  updateTenantQuotas,
  parseQuota,
  rotateKeys,
  seedDev,
  type AdminContext,
} from './admin.js';
import { createAuditLog } from './audit.js';
import { loadAuthConfig, loadTopologyApplyConfig, type AuthConfig } from './config.js';
import { createKekRing } from './crypto/kek.js';
import { AUTH_ERRORS } from './errors.js';
import { createKeyManager } from './keys/key-manager.js';
import { openAuthBuckets } from './kv.js';
import { migrateLegacyMailboxes, summarizeMigration } from './mailbox-migration.js';
import { createDisplayStore, type DisplayStore } from './stores/display-store.js';
import { createClientStore } from './stores/clients.js';
import { createTenantStore, type TenantQuotas } from './stores/tenants.js';
import { authTopologyRequirements } from './topology.js';

const CLI_USAGE = `usage: node dist/cli.js <command>

  topology apply                  create/update every stream and KV bucket from JETSTREAM_* (the one owner)
  topology repartition [--partitions <P>] [--dry-run] [--finish]
                                  move order vps to P partition streams (default JETSTREAM_ORDER_PARTITIONS)
                                  with the display mailboxes, or adopt a legacy ORDERS stream; --finish
                                  only retires drained old mailboxes (run again until none are left)
  tenant create <tenantId> [--name <name>] [--max-displays <n>] [--orders-per-minute <n>]
  tenant update <tenantId> [--max-displays <n|default>] [--orders-per-minute <n|default>]
                                  per-tenant quotas; "default" clears the override
  tenant list
  client create --tenant <tenantId> --scopes <a,b,...> [--name <name>]   prints the secret once
  client list [--tenant <tenantId>]
  client revoke <clientId>
  keys list                       keyring: previous/current/next, KEK in use, next rotation
  keys rotate [--force]           rotate now (--force even if it drops a key with live tokens)
  keys rekey                      re-encrypt signing keys with AUTH_KEK (after a KEK rotation)
  seed-dev --out <file>           demo tenant + upstream/operator clients → credentials file
  consumers migrate [--force] [--dry-run]
                                  move display mailboxes from the legacy name display_<t>_<d> to
                                  mailbox_<len>_<t>_<d>, backlog kept; --force also moves those
                                  with messages in flight (they are redelivered)

environment: NATS_URL, AUTH_KEK (and AUTH_KEK_PREVIOUS while rotating the KEK), as the service;
topology apply needs no KEK: NATS_URL, the JETSTREAM_* settings and AUTH_REFRESH_TTL,
AUTH_ENROLLMENT_TTL, AUTH_LEASE_TTL (docs/topology.md).`;

/** 10000 ms to reach NATS before the CLI gives up. */
const CLI_NATS_TIMEOUT_MS = 10_000;

interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: readonly string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags.set(a.slice(2), argv[++i]!);
      else flags.set(a.slice(2), true);
    } else {
      positional.push(a);
    }
  }
  return { positional, flags };
}

function usage(reason: string): Error {
  return AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CLI_USAGE', { reason: `${reason}\n\n${CLI_USAGE}` });
}

function flag(args: Args, name: string, required: true): string;
function flag(args: Args, name: string, required?: false): string | undefined;
function flag(args: Args, name: string, required = false): string | undefined {
  const v = args.flags.get(name);
  if (v === true) throw usage(`--${name} needs a value`);
  if (v === undefined && required) throw usage(`--${name} is required`);
  return v;
}

function operatorName(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry in some containers: the host name still identifies the pod.
  }
  return `cli:${user}@${hostname()}`;
}

/** What only the CLI's own commands need beyond the admin context. */
interface CliExtras {
  jsm: JetStreamManager;
  displays: DisplayStore;
}

async function withContext<T>(config: AuthConfig, logger: Logger, fn: (ctx: AdminContext & CliExtras) => Promise<T>): Promise<T> {
  const nc = await connectNats({
    servers: config.natsUrl,
    name: `auth-cli/${hostname()}`,
    logger,
    timeoutMs: CLI_NATS_TIMEOUT_MS,
    ...natsIdentityOptions(config.natsIdentity, 'auth'),
  });
  try {
    // `topology apply` creates the buckets; every other command only checks they fit. The order
    // streams are not the admin commands' business — and `consumers migrate` must run on a system
    // still on the legacy ORDERS stream, before `topology repartition` adopts it.
    const required = authTopologyRequirements(config);
    await verifyTopology(nc, { service: 'auth-cli', ...required, streams: (required.streams ?? []).filter((s) => s !== STREAMS.ORDERS) });
    const buckets = await openAuthBuckets(nc);
    const audit = createAuditLog({ js: jetstream(nc), instance: operatorName(), logger });
    const keys = createKeyManager({
      kv: buckets.signingKeys,
      jsm: await jetstreamManager(nc),
      kek: createKekRing(config.kek, config.kekPrevious),
      logger,
      onRotated: (ring, reason) => {
        void audit.record('key_rotated', {
          actor: { type: 'operator', id: operatorName() },
          kid: ring.current.kid,
          reason,
          details: { generation: ring.generation, next: ring.next.kid, previous: ring.previous?.kid },
        });
      },
    });
    const jsm = await jetstreamManager(nc);
    const ctx: AdminContext & CliExtras = {
      jsm,
      displays: createDisplayStore(buckets.displays),
      config,
      tenants: createTenantStore(buckets.tenants),
      clients: createClientStore(buckets.clients, config.scryptLogN),
      revokedClients: buckets.revokedClients,
      keys,
      audit,
      operator: operatorName(),
    };
    try {
      return await fn(ctx);
    } finally {
      keys.stop();
    }
  } finally {
    await closeNats(nc, logger);
  }
}

/** Logs go to stderr (stdout is the command's result); `info` is quieted to `warn`. */
function cliLogger(level: AuthConfig['logLevel']): Logger {
  return createLogger({
    service: 'auth-cli',
    version: packageVersion(import.meta.url),
    level: level === 'info' ? 'warn' : level,
    destination: pino.destination({ dest: 2, sync: true }),
  });
}

function age(ms: number): string {
  if (ms === 0) return 'forever';
  const units: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]];
  const [unit, f] = units.find(([, u]) => ms % u === 0) ?? ['ms', 1];
  return `${ms / f}${unit}`;
}

/** One line per stream/bucket: what the apply did and the settings it now has. */
function describeSummary(summary: TopologySummary, topology: TopologyConfig): string[] {
  const settings = new Map<string, string>();
  for (const d of streamDeclarations(topology)) {
    settings.set(`stream ${d.name}`, `max_age ${age(millis(d.max_age ?? 0))}, max_bytes ${formatSize(d.max_bytes ?? 0)}`);
  }
  for (const k of kvDeclarations(topology)) settings.set(`kv ${k.bucket}`, `ttl ${age(k.ttlMs)}, max_bytes ${formatSize(k.maxBytes)}`);
  return summary.items.map((it) => {
    const changed = it.changed === undefined ? '' : ` (${it.changed.join(', ')})`;
    const kind = it.kind === 'kv' ? 'kv    ' : 'stream';
    return `${kind} ${it.name.padEnd(18)} ${`${it.action}${changed}`.padEnd(10)} ${settings.get(`${it.kind} ${it.name}`) ?? ''}`;
  }).concat(`replicas ${topology.replicas}`);
}

/**
 * `topology apply`: the one place streams and buckets are created or changed. Reads only what
 * it needs (NATS_URL, the topology settings, auth's lifetimes), so a Kubernetes Job or init
 * container runs it without the KEK. Summary on stdout; a conflict exits 1 naming each field.
 */
/** The CLI's connection for the topology commands: the `topology` NATS identity when one is configured. */
async function connectAsTopology(
  natsUrl: string,
  natsIdentity: ReturnType<typeof loadTopologyApplyConfig>['natsIdentity'],
  logger: Logger,
): Promise<NatsConnection> {
  return connectNats({
    servers: natsUrl,
    name: `auth-cli/${hostname()}`,
    logger,
    timeoutMs: CLI_NATS_TIMEOUT_MS,
    ...natsIdentityOptions(natsIdentity, 'topology'),
  });
}

async function applyTopology(): Promise<void> {
  const { natsUrl, natsIdentity, logLevel, topology } = loadTopologyApplyConfig();
  const logger = cliLogger(logLevel);
  const nc = await connectAsTopology(natsUrl, natsIdentity, logger);
  try {
    const summary = await ensureTopology(nc, { ...topology, logger });
    const lines = describeSummary(summary, topology);
    const reserved = Object.values(topology.streamMaxBytes).concat(Object.values(topology.kvMaxBytes)).reduce((a, b) => a + b, 0);
    lines.push(`max_bytes reserved ${formatSize(reserved)}`);
    process.stdout.write(`topology applied\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
  } finally {
    await closeNats(nc, logger);
  }
}

/**
 * `topology repartition`: changes the number of order partition streams on a running system, or
 * adopts a legacy single ORDERS stream (docs/topology.md#changing-the-partition-count). Moves the
 * vps and the display mailboxes, applies the rest of the declaration for the new P, then retires
 * the old mailboxes that are already drained; `--finish` does only the last step.
 */
async function repartitionTopology(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv);
  const { natsUrl, natsIdentity, logLevel, topology } = loadTopologyApplyConfig();
  const logger = cliLogger(logLevel);
  const given = flag(args, 'partitions');
  const partitions = given === undefined ? topology.orderPartitions : Number(given);
  if (!isValidPartitionCount(partitions)) throw usage(`--partitions must be a power of two from 1 to 256, got ${given}`);
  const nc = await connectAsTopology(natsUrl, natsIdentity, logger);
  try {
    const jsm = await jetstreamManager(nc);
    const out: string[] = [];
    if (args.flags.get('finish') !== true) {
      const result = await repartitionOrderStreams(jsm, { partitions, topology, logger, dryRun: args.flags.get('dry-run') === true });
      if (result.legacyAdopted) out.push('legacy ORDERS adopted: parked on its retired subject, its mailboxes retire into the partition streams');
      for (const m of result.moves) {
        out.push(`${m.to.padEnd(11)} ← ${String(m.vps.length).padStart(3)} vps from ${m.from.join(', ') || '(none)'}${m.mailboxes === undefined ? '' : `, ${m.mailboxes} mailboxes twinned`}`);
      }
      if (result.moves.length === 0) out.push(`already ${partitions} partition streams: nothing to move`);
      if (args.flags.get('dry-run') === true) {
        process.stdout.write(`repartition plan (dry run)\n${out.map((l) => `  ${l}`).join('\n')}\n`);
        return;
      }
      await ensureTopology(nc, { ...topology, orderPartitions: partitions, logger });
    }
    const fin = await finishRepartition(jsm, { logger });
    out.push(`retired ${fin.retired} drained mailboxes; ${fin.remaining.length} still draining`);
    for (const r of fin.remaining.slice(0, 20)) out.push(`  ${r.stream}/${r.consumer}: ${r.pending} pending, ${r.ackPending} in flight`);
    if (fin.remaining.length > 0) out.push('run `topology repartition --finish` again once those displays have connected and drained');
    process.stdout.write(`repartitioned to ${partitions} order streams\n${out.map((l) => `  ${l}`).join('\n')}\n`);
  } finally {
    await closeNats(nc, logger);
  }
}

async function runCommand(argv: readonly string[], config: AuthConfig, logger: Logger): Promise<unknown> {
  const args = parseArgs(argv);
  const [group, action, target] = args.positional;
  const cmd = `${group ?? ''} ${action ?? ''}`.trim();
  switch (group === 'seed-dev' ? 'seed-dev' : cmd) {
    case 'tenant create': {
      if (target === undefined) throw usage('tenant create needs a tenant id');
      const quotas: TenantQuotas = {};
      const maxDisplays = parseQuota('max-displays', flag(args, 'max-displays'), false);
      const ordersPerMinute = parseQuota('orders-per-minute', flag(args, 'orders-per-minute'), false);
      if (typeof maxDisplays === 'number') quotas.maxDisplays = maxDisplays;
      if (typeof ordersPerMinute === 'number') quotas.ordersPerMinute = ordersPerMinute;
      return withContext(config, logger, (ctx) => createTenant(ctx, target, flag(args, 'name'), quotas));
    }
    case 'tenant update': {
      if (target === undefined) throw usage('tenant update needs a tenant id');
      const changes: { maxDisplays?: number | null; ordersPerMinute?: number | null } = {};
      const maxDisplays = parseQuota('max-displays', flag(args, 'max-displays'), true);
      const ordersPerMinute = parseQuota('orders-per-minute', flag(args, 'orders-per-minute'), true);
      if (maxDisplays !== undefined) changes.maxDisplays = maxDisplays;
      if (ordersPerMinute !== undefined) changes.ordersPerMinute = ordersPerMinute;
      return withContext(config, logger, (ctx) => updateTenantQuotas(ctx, target, changes));
    }
    case 'tenant list':
      return withContext(config, logger, (ctx) => ctx.tenants.list());
    case 'client create': {
      const tenant = flag(args, 'tenant', true);
      const scopes = parseScopes(flag(args, 'scopes', true));
      return withContext(config, logger, (ctx) => createClient(ctx, { tenant, scopes, name: flag(args, 'name') }));
    }
    case 'client list':
      return withContext(config, logger, (ctx) => ctx.clients.list(flag(args, 'tenant')));
    case 'client revoke':
      if (target === undefined) throw usage('client revoke needs a client id');
      return withContext(config, logger, (ctx) => revokeClient(ctx, target));
    case 'keys list':
      return withContext(config, logger, async (ctx) => {
        // start() loads the keyring (creating it on a fresh system) and checks it decrypts.
        await ctx.keys.start();
        return describeKeyring(ctx, ctx.keys.current()!.value);
      });
    case 'keys rotate':
      return withContext(config, logger, async (ctx) => {
        await ctx.keys.start();
        return rotateKeys(ctx, args.flags.get('force') === true);
      });
    case 'keys rekey':
      return withContext(config, logger, async (ctx) => {
        await ctx.keys.start();
        return rekeyKeys(ctx);
      });
    case 'consumers migrate':
      return withContext(config, logger, async (ctx) => {
        const results = await migrateLegacyMailboxes(
          { jsm: ctx.jsm, displays: ctx.displays, logger },
          { force: args.flags.get('force') === true, dryRun: args.flags.get('dry-run') === true },
        );
        return { summary: summarizeMigration(results), results };
      });
    case 'seed-dev': {
      const out = resolve(flag(args, 'out', true));
      return withContext(config, logger, async (ctx) => {
        await ctx.keys.start();
        return seedDev(ctx, out);
      });
    }
    default:
      throw usage(cmd === '' ? 'no command given' : `unknown command: ${cmd}`);
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || argv[0] === 'help' || argv.includes('--help')) {
    process.stdout.write(`${CLI_USAGE}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === 'topology') {
    const sub = argv[1];
    if (!((sub === 'apply' && argv.length === 2) || sub === 'repartition')) {
      process.stderr.write(`usage: node dist/cli.js topology apply | topology repartition [--partitions <P>] [--dry-run] [--finish]\n`);
      return 2;
    }
    try {
      if (sub === 'apply') await applyTopology();
      else await repartitionTopology(argv.slice(2));
      return 0;
    } catch (err) {
      process.stderr.write(`topology ${sub} failed: ${isOrderwireError(err) ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
  }
  let config: AuthConfig;
  try {
    config = loadAuthConfig();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const logger = cliLogger(config.logLevel);
  try {
    const result = await runCommand(argv, config, logger);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (isOrderwireError(err)) {
      process.stderr.write(`${err.code}: ${err.message}\n`);
      return err.code === 'ORDERWIRE_ERR_AUTH_CLI_USAGE' ? 2 : 1;
    }
    logger.error({ err }, 'command failed');
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
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
