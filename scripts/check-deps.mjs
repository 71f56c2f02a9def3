#!/usr/bin/env node
// Enforces the package dependency graph written down in README.md ("Packages and what may depend
// on what"), in package.json declarations AND in the import statements of src/ and test/:
//   - no service depends on or imports another service;
//   - shared packages never depend on services, and depend on each other only as SHARED_GRAPH says;
//   - test tooling (the workspaces under TOOLING_DIRS: testing/ and load-tests/) is never deployed:
//     services and shared packages list it as a devDependency only, and their src/ never imports it;
//   - test tooling may use the harness and its devDependencies anywhere, and may list services as
//     devDependencies so they are built before it spawns them — but it never imports one;
//   - a workspace outside services/, shared/ and TOOLING_DIRS is an error (its rules are unknown);
//   - src/ imports only packages from `dependencies` (a devDependency is absent in production);
//   - an @orderwire/* import must be declared, and relative imports stay inside their package.
// Node built-ins only.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './lib/repo.mjs';

const SCOPE = '@orderwire/';

/** Runtime edges allowed between shared packages. Keep in step with the table in README.md. */
export const SHARED_GRAPH = {
  '@orderwire/contracts': [],
  '@orderwire/platform': ['@orderwire/contracts'],
  '@orderwire/token-verifier': ['@orderwire/contracts'],
  '@orderwire/display-sdk': ['@orderwire/contracts'],
};

/**
 * Where test tooling lives (the harness, system tests, observability and k8s checks, load tests):
 * it runs the stack and is never deployed. Keep in step with README.md.
 */
export const TOOLING_DIRS = ['testing/', 'load-tests'];

const RUNTIME_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies'];
const SOURCE_EXT = /\.(?:[cm]?ts|[cm]?js|tsx|jsx)$/;
const IMPORT_RE =
  /(?:^|[^\w$.])(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|(?:^|[^\w$.])import\s*['"]([^'"]+)['"]|(?:^|[^\w$.])import\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|[^\w$.])require\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Workspace folders matched by the root package.json globs (`dir/*` form only). */
function workspaceDirs(root) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const globs = Array.isArray(pkg.workspaces) ? pkg.workspaces : (pkg.workspaces?.packages ?? []);
  const dirs = [];
  for (const glob of globs) {
    if (!glob.endsWith('/*')) {
      dirs.push(join(root, glob));
      continue;
    }
    const base = join(root, glob.slice(0, -2));
    if (!existsSync(base)) continue;
    for (const e of readdirSync(base, { withFileTypes: true })) {
      if (e.isDirectory() && existsSync(join(base, e.name, 'package.json'))) dirs.push(join(base, e.name));
    }
  }
  return dirs.sort();
}

function sourceFiles(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (SOURCE_EXT.test(e.name)) out.push(p);
  }
  return out;
}

/** Import specifiers in a source text (static, dynamic, re-exports, require). */
export function importsOf(text) {
  const specs = [];
  // Comments may mention imports in prose; drop them first.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  for (const m of code.matchAll(IMPORT_RE)) specs.push(m[1] ?? m[2] ?? m[3] ?? m[4]);
  return specs;
}

function packageNameOf(spec) {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The kind of the workspace at `rel` (repo-relative, `/`-separated) by its folder. */
function kindOf(rel) {
  if (rel.startsWith('services/')) return 'service';
  if (rel.startsWith('shared/')) return 'shared';
  if (TOOLING_DIRS.some((d) => (d.endsWith('/') ? rel.startsWith(d) : rel === d))) return 'tooling';
  return 'unknown';
}

/** Reads every workspace package: name, kind (service/shared/tooling/unknown), declared deps by field. */
export function readWorkspace(root) {
  return workspaceDirs(root).map((dir) => {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const rel = relative(root, dir).split(sep).join('/');
    const kind = kindOf(rel);
    const runtime = new Set(RUNTIME_FIELDS.flatMap((f) => Object.keys(pkg[f] ?? {})));
    const dev = new Set(Object.keys(pkg.devDependencies ?? {}));
    return { name: pkg.name, dir, rel, kind, runtime, dev };
  });
}

/** All violations of the graph in the repository at `root`, as human-readable strings. */
export function checkDependencyGraph(root = REPO_ROOT) {
  const packages = readWorkspace(root);
  const byName = new Map(packages.map((p) => [p.name, p]));
  const violations = [];

  for (const pkg of packages) {
    if (pkg.kind === 'shared' && !SHARED_GRAPH[pkg.name]) {
      violations.push(`${pkg.rel}: ${pkg.name} is not in SHARED_GRAPH — add it to scripts/check-deps.mjs and the README table`);
    }
    if (pkg.kind === 'unknown') {
      violations.push(`${pkg.rel}: a workspace outside services/, shared/ and ${TOOLING_DIRS.join(', ')} — move it, or add its folder to TOOLING_DIRS in scripts/check-deps.mjs and the README table`);
    }
    const internal = (names) => [...names].filter((n) => byName.has(n));
    for (const [field, names] of [
      ['dependencies', internal(pkg.runtime)],
      ['devDependencies', internal(pkg.dev)],
    ]) {
      for (const dep of names) {
        const target = byName.get(dep);
        if (target.kind === 'service') {
          if (pkg.kind === 'tooling' && field === 'devDependencies') continue; // build order only
          violations.push(`${pkg.rel}: ${field} has ${dep} — nothing may depend on a service; share code through shared/*`);
          continue;
        }
        if (target.kind === 'tooling') {
          if (field === 'dependencies' && pkg.kind !== 'tooling') violations.push(`${pkg.rel}: ${dep} must be a devDependency (test tooling is for test code only)`);
          continue;
        }
        if (pkg.kind === 'shared') {
          const allowed = SHARED_GRAPH[pkg.name];
          if (allowed && !allowed.includes(dep)) {
            violations.push(`${pkg.rel}: ${field} has ${dep}, but ${pkg.name} may only depend on ${allowed.join(', ') || 'no other package'}`);
          }
        }
      }
    }

    for (const area of ['src', 'test']) {
      for (const file of sourceFiles(join(pkg.dir, area))) {
        const relFile = relative(root, file).split(sep).join('/');
        for (const spec of importsOf(readFileSync(file, 'utf8'))) {
          if (spec.startsWith('.')) {
            const target = resolve(dirname(file), spec);
            if (target !== pkg.dir && !target.startsWith(pkg.dir + sep)) {
              violations.push(`${relFile}: imports '${spec}', outside its package — import the package by name instead`);
            }
            continue;
          }
          const name = packageNameOf(spec);
          if (!name.startsWith(SCOPE) || name === pkg.name) continue;
          const target = byName.get(name);
          if (target?.kind === 'service') {
            violations.push(`${relFile}: imports ${name} — no package may import a service`);
          } else if (area === 'src' && target?.kind === 'tooling' && pkg.kind !== 'tooling') {
            violations.push(`${relFile}: imports ${name} from src/ — test tooling is for tests only`);
          } else if (area === 'src' && !pkg.runtime.has(name) && !(pkg.kind === 'tooling' && pkg.dev.has(name))) {
            violations.push(`${relFile}: imports ${name}, which is not in ${pkg.rel}/package.json dependencies`);
          } else if (area === 'test' && !pkg.runtime.has(name) && !pkg.dev.has(name)) {
            violations.push(`${relFile}: imports ${name}, which ${pkg.rel}/package.json does not declare`);
          }
        }
      }
    }
  }
  return { packages, violations };
}

function main() {
  const { packages, violations } = checkDependencyGraph();
  for (const p of packages) {
    const deps = [...p.runtime].filter((n) => n.startsWith(SCOPE));
    const dev = [...p.dev].filter((n) => n.startsWith(SCOPE));
    console.log(`[deps] ${p.name.padEnd(26)} → ${deps.join(', ') || '—'}${dev.length ? `   (dev: ${dev.join(', ')})` : ''}`);
  }
  if (violations.length) {
    for (const v of violations) console.error(`[deps] ✗ ${v}`);
    console.error(`[deps] ${violations.length} dependency-graph violation(s); see README.md "Packages and what may depend on what"`);
    process.exit(1);
  }
  console.log(`[deps] dependency graph OK (${packages.length} packages)`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
