/**
 * The set-up steps `npm start` runs before the first service (the `beforeStart` commands of the
 * `"orderwire"` blocks in services/<name>/package.json — today `orderwire-auth topology apply`),
 * run the same way for tests and load tests: one after another, in the services' `order`, each
 * `node <service dir>/<main> <args>` with the given environment, and a failure stops everything.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findRepoRoot } from './binaries.js';
import { HarnessError, HarnessErrorCode } from './errors.js';

/** Bound on one set-up command (a topology apply takes well under a second). */
export const DEFAULT_BEFORE_START_TIMEOUT_MS = 60_000;

export interface BeforeStartStep {
  /** `<service>:<name>`, as npm start prints it. */
  name: string;
  cwd: string;
  main: string;
  args: string[];
  env: Record<string, string>;
}

interface Declaration {
  order?: unknown;
  beforeStart?: { name?: unknown; main?: unknown; args?: unknown; env?: unknown }[];
}

/** Every declared beforeStart command, in the services' start order. */
export function beforeStartSteps(root: string | undefined = findRepoRoot()): BeforeStartStep[] {
  if (root === undefined) throw new HarnessError(HarnessErrorCode.SetupFailed, 'repository root not found');
  const servicesDir = join(root, 'services');
  const found: { order: number; service: string; steps: BeforeStartStep[] }[] = [];
  for (const entry of readdirSync(servicesDir, { withFileTypes: true })) {
    const file = join(servicesDir, entry.name, 'package.json');
    if (!entry.isDirectory() || !existsSync(file)) continue;
    const decl = (JSON.parse(readFileSync(file, 'utf8')) as { orderwire?: Declaration }).orderwire;
    if (decl?.beforeStart === undefined) continue;
    const cwd = join(servicesDir, entry.name);
    found.push({
      order: Number(decl.order),
      service: entry.name,
      steps: decl.beforeStart.map((c) => ({
        name: `${entry.name}:${String(c.name)}`,
        cwd,
        main: join(cwd, String(c.main)),
        args: Array.isArray(c.args) ? c.args.map(String) : [],
        env: (c.env ?? {}) as Record<string, string>,
      })),
    });
  }
  found.sort((a, b) => a.order - b.order || a.service.localeCompare(b.service));
  return found.flatMap((f) => f.steps);
}

/**
 * Runs every beforeStart command (build the services first). Resolves with their output;
 * rejects with ORDERWIRE_ERR_HARNESS_SETUP_FAILED carrying the failed command's output.
 */
export async function runBeforeStart(
  env: Record<string, string | undefined>,
  options: { root?: string; timeoutMs?: number } = {},
): Promise<string> {
  let out = '';
  for (const step of beforeStartSteps(options.root ?? findRepoRoot())) {
    out += await runStep(step, env, options.timeoutMs ?? DEFAULT_BEFORE_START_TIMEOUT_MS);
  }
  return out;
}

function runStep(step: BeforeStartStep, env: Record<string, string | undefined>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [step.main, ...step.args], {
      cwd: step.cwd,
      env: { ...process.env, ...env, ...step.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new HarnessError(HarnessErrorCode.SetupFailed, `${step.name} could not start`, { cause: err }));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new HarnessError(HarnessErrorCode.SetupFailed, `${step.name} exited with ${code ?? signal}:\n${out}`));
    });
  });
}
