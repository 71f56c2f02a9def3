/**
 * The configuration each process declares, read from the BUILT code (services/<svc>/dist/
 * config.js and @orderwire/platform's dist, the exported specs passed through describeConfig)
 * — never a copied list. Tooling never imports a service into its own module graph (scripts/check-deps.mjs),
 * so a child process asks the built service, the way the system tests spawn services.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { ConfigVarDescription } from '@orderwire/platform';
import { REPO_ROOT } from './paths.js';

export const ORDERWIRE_SERVICES = ['auth', 'ingest', 'edge', 'dlq', 'webhooks', 'display'] as const;
export type OrderwireService = (typeof ORDERWIRE_SERVICES)[number];

/**
 * A process that runs in an Orderwire container: a service's server, or the topology owner
 * `orderwire-auth topology apply` (auth's image, in auth's init container).
 */
export type ConfigProcess = OrderwireService | 'topology-apply';

/** The name under which each service's dist/config.js exports the spec its main.ts loads. */
export const CONFIG_SPEC_EXPORTS: Readonly<Record<OrderwireService, string>> = {
  auth: 'AUTH_CONFIG_SPEC',
  ingest: 'CONFIG_SPEC',
  edge: 'EDGE_CONFIG_SPEC',
  dlq: 'CONFIG_SPEC',
  webhooks: 'CONFIG_SPEC',
  display: 'DISPLAY_CONFIG_SPEC',
};

/** An export of a built module: a path under the repo root, or a package auth's build resolves. */
interface ModuleExport {
  module: string;
  name: string;
}

function serviceModule(service: OrderwireService): string {
  return join(REPO_ROOT, 'services', service, 'dist', 'config.js');
}

/**
 * What each process reads, and the loader that validates it. `topology apply` reads auth's
 * TOPOLOGY_APPLY_SPEC (NATS, identity, auth's lifetimes) plus the platform's TOPOLOGY_CONFIG_SPEC
 * (every JETSTREAM_* variable), and its loader cross-checks the two (bucket TTLs >= lifetimes).
 */
function processSpecs(p: ConfigProcess): { specs: ModuleExport[]; validate: ModuleExport & { kind: 'spec' | 'loader' } } {
  if (p === 'topology-apply') {
    const auth = serviceModule('auth');
    return {
      specs: [
        { module: auth, name: 'TOPOLOGY_APPLY_SPEC' },
        { module: '@orderwire/platform', name: 'TOPOLOGY_CONFIG_SPEC' },
      ],
      validate: { module: auth, name: 'loadTopologyApplyConfig', kind: 'loader' },
    };
  }
  const spec = { module: serviceModule(p), name: CONFIG_SPEC_EXPORTS[p] };
  return { specs: [spec], validate: { ...spec, kind: 'spec' } };
}

/** 30 s — importing a config module takes milliseconds; bounds a hung child. */
const DESCRIBE_TIMEOUT_MS = 30_000;

const DESCRIBE_SCRIPT = `
const specs = JSON.parse(process.argv[1]);
const { describeConfig } = await import('@orderwire/platform');
const out = [];
for (const { module, name } of specs) {
  const mod = await import(module);
  if (mod[name] === undefined) throw new Error(module + ' exports no ' + name);
  out.push(...describeConfig(mod[name]));
}
process.stdout.write(JSON.stringify(out));
`;

/** Auth's build resolves every module named here (it depends on @orderwire/platform). */
const CHILD_CWD = join(REPO_ROOT, 'services', 'auth');

const cache = new Map<ConfigProcess, ConfigVarDescription[]>();

/**
 * Every variable `process` declares (env, required, default, ...), from the build output: the
 * union of its specs (a variable two specs share, like AUTH_REFRESH_TTL, appears once).
 */
export function processConfigVars(proc: ConfigProcess): ConfigVarDescription[] {
  const hit = cache.get(proc);
  if (hit !== undefined) return hit;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', DESCRIBE_SCRIPT, '--', JSON.stringify(processSpecs(proc).specs)], {
    cwd: CHILD_CWD,
    encoding: 'utf8',
    timeout: DESCRIBE_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const seen = new Set<string>();
  const vars = (JSON.parse(out) as ConfigVarDescription[]).filter((v) => !seen.has(v.env) && seen.add(v.env));
  cache.set(proc, vars);
  return vars;
}

/** Every variable `service`'s server declares. */
export function serviceConfigVars(service: OrderwireService): ConfigVarDescription[] {
  return processConfigVars(service);
}

const VALIDATE_SCRIPT = `
const { loadConfig } = await import('@orderwire/platform');
const requests = JSON.parse(process.argv[1]);
const out = [];
for (const r of requests) {
  const mod = await import(r.module);
  try {
    if (r.kind === 'loader') mod[r.name](r.env);
    else loadConfig(mod[r.name], r.env);
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
 * Runs each process's own validation (`loadConfig` with its spec, or its loader, in a child
 * process) on an environment; returns the problems it reports for each request, in order.
 */
export function validateProcessEnv(requests: readonly { process: ConfigProcess; env: Readonly<Record<string, string>> }[]): EnvValueProblem[][] {
  if (requests.length === 0) return [];
  const payload = requests.map((r) => ({ ...processSpecs(r.process).validate, env: r.env }));
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', VALIDATE_SCRIPT, '--', JSON.stringify(payload)], {
    cwd: CHILD_CWD,
    encoding: 'utf8',
    timeout: DESCRIBE_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out) as EnvValueProblem[][];
}
