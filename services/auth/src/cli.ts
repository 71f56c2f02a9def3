#!/usr/bin/env node
/**
 * Admin CLI: `node dist/cli.js <command>` with the service's own environment (NATS_URL,
 * AUTH_KEK, …), e.g. `kubectl exec deploy/auth -- node dist/cli.js client list --tenant acme`.
 * Results are JSON on stdout; logs go to stderr. Exit code 0 ok, 1 failed, 2 usage error.
 */
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { closeNats, connectNats, createLogger, ensureTopology, isOrderwireError, natsIdentityOptions, type Logger } from '@orderwire/platform';
import {
  createClient,
  createTenant,
  describeKeyring,
  parseScopes,
  rekeyKeys,
  revokeClient,
  rotateKeys,
  seedDev,
  type AdminContext,
} from './admin.js';
import { createAuditLog } from './audit.js';
import { loadAuthConfig, type AuthConfig } from './config.js';
import { createKekRing } from './crypto/kek.js';
import { AUTH_ERRORS } from './errors.js';
import { createKeyManager } from './keys/key-manager.js';
import { openAuthBuckets } from './kv.js';
import { createClientStore } from './stores/clients.js';
import { createTenantStore } from './stores/tenants.js';
import { authTopologyOptions } from './topology.js';
import { AUTH_VERSION } from './version.js';

const CLI_USAGE = `usage: node dist/cli.js <command>

  tenant create <tenantId> [--name <name>]
  tenant list
  client create --tenant <tenantId> --scopes <a,b,...> [--name <name>]   prints the secret once
  client list [--tenant <tenantId>]
  client revoke <clientId>
  keys list                       keyring: previous/current/next, KEK in use, next rotation
  keys rotate [--force]           rotate now (--force even if it drops a key with live tokens)
  keys rekey                      re-encrypt signing keys with AUTH_KEK (after a KEK rotation)
  seed-dev --out <file>           demo tenant + upstream/operator clients → credentials file

environment: NATS_URL, AUTH_KEK (and AUTH_KEK_PREVIOUS while rotating the KEK), as the service.`;

/** @default 10000 ms to reach NATS before the CLI gives up. */
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

async function withContext<T>(config: AuthConfig, logger: Logger, fn: (ctx: AdminContext) => Promise<T>): Promise<T> {
  const nc = await connectNats({
    servers: config.natsUrl,
    name: `auth-cli/${hostname()}`,
    logger,
    timeoutMs: CLI_NATS_TIMEOUT_MS,
    ...natsIdentityOptions(config.natsIdentity, 'auth'),
  });
  try {
    // The CLI may run before the first service replica (bootstrap): make sure the buckets exist.
    await ensureTopology(nc, { logger, ...authTopologyOptions(config) });
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
    const ctx: AdminContext = {
      config,
      tenants: createTenantStore(buckets.tenants),
      clients: createClientStore(buckets.clients, config.scryptLogN),
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

async function runCommand(argv: readonly string[], config: AuthConfig, logger: Logger): Promise<unknown> {
  const args = parseArgs(argv);
  const [group, action, target] = args.positional;
  const cmd = `${group ?? ''} ${action ?? ''}`.trim();
  switch (group === 'seed-dev' ? 'seed-dev' : cmd) {
    case 'tenant create':
      if (target === undefined) throw usage('tenant create needs a tenant id');
      return withContext(config, logger, (ctx) => createTenant(ctx, target, flag(args, 'name')));
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
  let config: AuthConfig;
  try {
    config = loadAuthConfig();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const logger = createLogger({
    service: 'auth-cli',
    version: AUTH_VERSION,
    level: config.logLevel === 'info' ? 'warn' : config.logLevel,
    destination: pino.destination({ dest: 2, sync: true }),
  });
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
