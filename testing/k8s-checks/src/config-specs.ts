/**
 * The configuration each service declares, read from the BUILT service (services/<svc>/dist/
 * config.js, its exported spec passed through @orderwire/platform's describeConfig) — never a
 * copied list. Tooling never imports a service into its own module graph (scripts/check-deps.mjs),
 * so a child process asks the built service, the way the system tests spawn services.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { ConfigVarDescription } from '@orderwire/platform';
import { REPO_ROOT } from './paths.js';

export const ORDERWIRE_SERVICES = ['auth', 'ingest', 'edge', 'dlq'] as const;
export type OrderwireService = (typeof ORDERWIRE_SERVICES)[number];

/** The name under which each service's dist/config.js exports the spec its main.ts loads. */
export const CONFIG_SPEC_EXPORTS: Readonly<Record<OrderwireService, string>> = {
  auth: 'AUTH_CONFIG_SPEC',
  ingest: 'CONFIG_SPEC',
  edge: 'EDGE_CONFIG_SPEC',
  dlq: 'CONFIG_SPEC',
};

/**
 * Variables of the cross-branch contract (CONTRACTS.md) that the manifests set while the branch
 * adding them to the services' specs is merged in parallel. Accepted ONLY while no service
 * declares them; once one does, the variable is checked like any other and the entry is stale
 * (a k8s-checks test fails until it is removed here).
 */
export const AWAITED_VARS: Readonly<Record<string, string>> = {
  ADMIN_PORT: 'the admin listener for /metrics (every service)',
  NATS_NKEY_SEED_FILE: 'the per-service NATS identity (every service)',
  JETSTREAM_REPLICAS: 'replicas of every stream and KV bucket (the topology spec)',
};

/** @default 30 s — importing a config module takes milliseconds; bounds a hung child. */
const DESCRIBE_TIMEOUT_MS = 30_000;

const DESCRIBE_SCRIPT = `
const [file, name] = process.argv.slice(1);
const { describeConfig } = await import('@orderwire/platform');
const mod = await import(file);
if (mod[name] === undefined) throw new Error(file + ' exports no ' + name);
process.stdout.write(JSON.stringify(describeConfig(mod[name])));
`;

const cache = new Map<OrderwireService, ConfigVarDescription[]>();

/** Every variable `service` declares (env, required, default, ...), from its build output. */
export function serviceConfigVars(service: OrderwireService): ConfigVarDescription[] {
  const hit = cache.get(service);
  if (hit !== undefined) return hit;
  const dir = join(REPO_ROOT, 'services', service);
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', DESCRIBE_SCRIPT, '--', join(dir, 'dist', 'config.js'), CONFIG_SPEC_EXPORTS[service]],
    { cwd: dir, encoding: 'utf8', timeout: DESCRIBE_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const vars = JSON.parse(out) as ConfigVarDescription[];
  cache.set(service, vars);
  return vars;
}

const VALIDATE_SCRIPT = `
const { loadConfig } = await import('@orderwire/platform');
const requests = JSON.parse(process.argv[1]);
const out = [];
for (const r of requests) {
  const mod = await import(r.file);
  try {
    loadConfig(mod[r.name], r.env);
    out.push([]);
  } catch (err) {
    if (!Array.isArray(err.problems)) throw err;
    out.push(err.problems.map((p) => ({ env: p.env, reason: p.reason })));
  }
}
process.stdout.write(JSON.stringify(out));
`;

export interface EnvValueProblem {
  env: string;
  reason: string;
}

/**
 * Runs each service's own loader (`loadConfig` with its spec, in a child process) on an
 * environment; returns the problems it reports for each request, in order.
 */
export function validateServiceEnv(requests: readonly { service: OrderwireService; env: Readonly<Record<string, string>> }[]): EnvValueProblem[][] {
  if (requests.length === 0) return [];
  const payload = requests.map((r) => ({
    file: join(REPO_ROOT, 'services', r.service, 'dist', 'config.js'),
    name: CONFIG_SPEC_EXPORTS[r.service],
    env: r.env,
  }));
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', VALIDATE_SCRIPT, '--', JSON.stringify(payload)], {
    cwd: join(REPO_ROOT, 'services', 'auth'),
    encoding: 'utf8',
    timeout: DESCRIBE_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out) as EnvValueProblem[][];
}

/** Is `name` declared by any service's spec? */
export function declaredByAnyService(name: string): boolean {
  return ORDERWIRE_SERVICES.some((s) => serviceConfigVars(s).some((v) => v.env === name));
}
