#!/usr/bin/env node
// The two steps of an Orderwire image that are not plain `npm ci` / `turbo run build`, in ONE
// script that deploy/docker/Dockerfile runs and testing/system-tests/test/runtime-tree.test.ts
// runs too (so what the test starts is what the image holds):
//
//   prune   <service> --out <dir>              `turbo prune @orderwire/<service> --docker`
//   runtime <service> --from <root> --out <dir> the production tree of a built workspace root
//
// `runtime` copies the service and exactly the packages it needs at run time: the closure of
// `dependencies` / `optionalDependencies` / installed `peerDependencies`, resolved the way Node
// resolves them, starting from the service's package.json. Workspaces contribute their
// package.json and built `files` (dist/), never src/ or test/. It is not `npm ci --omit=dev`
// because in a workspace monorepo npm installs the dependencies of EVERY workspace of the
// pruned tree — the test harness and the display SDK that services list as devDependencies
// would land in the image. Versions are the lock file's: the source tree was installed by `npm ci`.
// It also writes `main.mjs` (the image's fixed entry: an exec-form ENTRYPOINT cannot expand a
// build argument) and links the service's `bin` entries into `node_modules/.bin`.
// Node built-ins only.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';

export const SERVICES = ['auth', 'ingest', 'edge', 'dlq', 'webhooks', 'display'];
const SCOPE = '@orderwire/';
/** Root files the workspaces' builds read that `turbo prune` does not copy (tsconfig `extends`). */
const ROOT_BUILD_FILES = ['tsconfig.base.json'];
const USAGE = `usage:
  node deploy/docker/runtime-tree.mjs prune <service> --out <dir> [--from <repo root>]
  node deploy/docker/runtime-tree.mjs runtime <service> --from <built root> --out <dir>
services: ${SERVICES.join(', ')}`;

class UsageError extends Error {}

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** Node's lookup: `<dir>/node_modules/<name>` from `fromDir` up to `root`; the real path, or undefined. */
function resolvePackage(name, fromDir, root) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dir === root || dirname(dir) === dir) return undefined;
  }
}

/** Every package directory the service needs at run time (real paths under `root`), with why. */
export function runtimeClosure(root, service) {
  const serviceDir = join(root, 'services', service);
  if (!existsSync(join(serviceDir, 'package.json'))) throw new UsageError(`no service ${service} under ${root}/services`);
  const found = new Map([[realpathSync(serviceDir), { name: `${SCOPE}${service}`, requiredBy: '(image)' }]]);
  const queue = [realpathSync(serviceDir)];
  const missing = [];
  while (queue.length > 0) {
    const dir = queue.shift();
    const pkg = readJson(join(dir, 'package.json'));
    const edges = [
      ...Object.keys(pkg.dependencies ?? {}).map((n) => [n, 'required']),
      ...Object.keys(pkg.optionalDependencies ?? {}).map((n) => [n, 'optional']),
      ...Object.keys(pkg.peerDependencies ?? {}).map((n) => [n, pkg.peerDependenciesMeta?.[n]?.optional === true ? 'optional' : 'peer']),
    ];
    for (const [name, kind] of edges) {
      const at = resolvePackage(name, dir, root);
      if (at === undefined) {
        if (kind === 'required') missing.push(`${name} (required by ${pkg.name})`);
        continue;
      }
      if (!found.has(at)) {
        found.set(at, { name, requiredBy: pkg.name });
        queue.push(at);
      }
    }
  }
  if (missing.length > 0) throw new Error(`runtime dependencies not installed under ${root}: ${missing.join(', ')}`);
  return found;
}

function isWorkspace(root, dir) {
  const rel = relative(root, dir);
  return !rel.split(sep).includes('node_modules');
}

/** Assembles the production tree of `service` from the built workspace root `from` into `out`. */
export function assembleRuntime(from, service, out) {
  const root = realpathSync(from);
  const closure = runtimeClosure(root, service);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const workspaces = [];
  for (const [dir, info] of closure) {
    const rel = relative(root, dir);
    if (rel.startsWith('..')) throw new Error(`${info.name} resolves outside ${root}: ${dir}`);
    if (isWorkspace(root, dir)) {
      const pkg = readJson(join(dir, 'package.json'));
      const files = pkg.files ?? ['dist'];
      mkdirSync(join(out, rel), { recursive: true });
      cpSync(join(dir, 'package.json'), join(out, rel, 'package.json'));
      for (const f of files) {
        if (!existsSync(join(dir, f))) throw new Error(`${pkg.name}: ${f} is missing — build it first (npx turbo run build --filter=${SCOPE}${service}...)`);
        cpSync(join(dir, f), join(out, rel, f), { recursive: true });
      }
      workspaces.push({ name: pkg.name, rel, pkg });
    } else {
      // A package's own nested node_modules are copied only as far as the closure reaches them.
      cpSync(dir, join(out, rel), { recursive: true, filter: (src) => src === dir || !relative(dir, src).split(sep).includes('node_modules') });
    }
  }
  for (const ws of workspaces) {
    const link = join(out, 'node_modules', ws.name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), join(out, ws.rel)), link, 'dir');
  }
  const svc = workspaces.find((w) => w.name === `${SCOPE}${service}`);
  const bins = typeof svc.pkg.bin === 'string' ? { [svc.pkg.name.split('/')[1]]: svc.pkg.bin } : (svc.pkg.bin ?? {});
  for (const [name, target] of Object.entries(bins)) {
    const file = join(out, svc.rel, target);
    const text = readFileSync(file, 'utf8');
    if (!text.startsWith('#!')) throw new Error(`${svc.name} bin ${name} (${target}) has no #! line`);
    chmodSync(file, 0o755);
    const link = join(out, 'node_modules', '.bin', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), file), link);
  }
  const main = svc.pkg.main ?? './dist/main.js';
  writeFileSync(join(out, 'main.mjs'), `// The image's entry point: ${svc.name}'s main.\nawait import('./${join(svc.rel, main).split(sep).join('/')}');\n`);
  writeFileSync(join(out, 'package.json'), `${JSON.stringify({ name: `orderwire-${service}-image`, private: true, type: 'module' }, null, 2)}\n`);
  return { packages: closure.size, workspaces: workspaces.map((w) => w.name), bins: Object.keys(bins) };
}

/** `turbo prune @orderwire/<service> --docker --out-dir <out>`, with turbo from PATH or the repo. */
export function prune(repo, service, out) {
  if (!SERVICES.includes(service)) throw new UsageError(`unknown service ${service}`);
  const local = join(repo, 'node_modules', '.bin', 'turbo');
  const turbo = existsSync(local) ? local : 'turbo';
  rmSync(out, { recursive: true, force: true });
  const r = spawnSync(turbo, ['prune', `${SCOPE}${service}`, '--docker', '--out-dir', out], { cwd: repo, stdio: 'inherit' });
  if (r.error !== undefined) throw new Error(`cannot run turbo (${r.error.message}); install it (npm install -g turbo) or run npm ci first`);
  if (r.status !== 0) throw new Error(`turbo prune failed with exit code ${r.status}`);
  for (const f of ROOT_BUILD_FILES) cpSync(join(repo, f), join(out, 'full', f));
}

function main(argv) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { out: { type: 'string' }, from: { type: 'string' } } });
  const [command, service] = positionals;
  if (!SERVICES.includes(service ?? '')) throw new UsageError(`a service is required (${SERVICES.join(', ')})`);
  if (values.out === undefined) throw new UsageError('--out is required');
  const out = resolve(values.out);
  if (command === 'prune') {
    prune(resolve(values.from ?? process.cwd()), service, out);
  } else if (command === 'runtime') {
    if (values.from === undefined) throw new UsageError('--from is required');
    const r = assembleRuntime(resolve(values.from), service, out);
    console.log(`runtime tree of ${service}: ${r.packages} packages (${r.workspaces.join(', ')}), bins: ${r.bins.join(', ') || '-'} → ${out}`);
  } else {
    throw new UsageError(`unknown command ${command ?? '(none)'}`);
  }
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(new URL(import.meta.url).pathname)) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    console.error(`runtime-tree: ${err instanceof Error ? err.message : String(err)}${err instanceof UsageError ? `\n${USAGE}` : ''}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  }
}
