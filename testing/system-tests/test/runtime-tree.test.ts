/**
 * The container images' contents without a container engine (issue 11 §1): the prune and
 * production-install steps of deploy/docker/Dockerfile live in deploy/docker/runtime-tree.mjs;
 * this test runs the same script, assembles each service's runtime tree in a temp dir, checks
 * that it holds no dev dependency and misses no runtime one, starts every service from its tree
 * against real NATS and Redis, waits for /readyz, sends SIGTERM and expects exit 0.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  findRepoRoot,
  startNats,
  startRedis,
  startServiceProcess,
  type NatsServerHandle,
  type RedisServerHandle,
  type ServiceProcessHandle,
} from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SERVICES = ['auth', 'ingest', 'edge', 'dlq', 'display'] as const;
type Service = (typeof SERVICES)[number];
/** Tooling that must never reach an image, whatever declares it. */
const NEVER_IN_IMAGE = ['vitest', 'typescript', 'turbo', 'eslint', 'tsx', '@orderwire/test-harness', '@orderwire/display-sdk', 'socket.io-client'];
const CLIS: Partial<Record<Service, string>> = { auth: 'orderwire-auth', dlq: 'orderwire-dlq' };

/**
 * Bound on assembling one runtime tree (a copy of the service's production dependencies):
 * measured 12–55 s each on a loaded 2-core box beside the other test track — too close to
 * vitest's 60 s default, and five of them ran in a 120 s hook.
 */
const ASSEMBLE_TIMEOUT_MS = 120_000;

const root = findRepoRoot()!;
const script = join(root, 'deploy/docker/runtime-tree.mjs');
let dir: string;
let nats: NatsServerHandle;
let redis: RedisServerHandle;
const trees = {} as Record<Service, string>;

interface Pkg {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/** Every package.json of a tree (node_modules at any depth and the workspaces), symlinks not followed. */
function packagesOf(tree: string): { path: string; pkg: Pkg }[] {
  const out: { path: string; pkg: Pkg }[] = [];
  const visit = (d: string): void => {
    const file = join(d, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as Partial<Pkg>;
      // Nested manifests without a name (`{ "type": "module" }` in a build folder) are not packages.
      if (typeof pkg.name === 'string') out.push({ path: d, pkg: pkg as Pkg });
    }
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name !== 'dist') visit(join(d, entry.name));
    }
  };
  visit(tree);
  return out;
}

/** Directories named `name` anywhere in the workspaces of a tree (not inside node_modules). */
function workspaceDirsNamed(tree: string, names: readonly string[]): string[] {
  const out: string[] = [];
  for (const top of ['services', 'shared']) {
    const base = join(tree, top);
    if (!existsSync(base)) continue;
    for (const ws of readdirSync(base)) {
      for (const entry of readdirSync(join(base, ws))) if (names.includes(entry)) out.push(join(top, ws, entry));
    }
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orderwire-runtime-tree-'));
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  for (const s of SERVICES) {
    trees[s] = join(dir, s);
    await run(process.execPath, [script, 'runtime', s, '--from', root, '--out', trees[s]]);
  }
}, SERVICES.length * ASSEMBLE_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all([nats?.dispose(), redis?.dispose()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('runtime tree of each image', () => {
  it.each(SERVICES)('%s: holds no dev dependency, no sources, tests or tools', (service) => {
    const tree = trees[service];
    const packages = packagesOf(tree);
    const names = new Set(packages.map((p) => p.pkg.name));
    for (const n of NEVER_IN_IMAGE) expect(names.has(n), `${n} in the ${service} image`).toBe(false);

    // A devDependency of the repo or of a workspace in the tree may be present only when some
    // package of the tree needs it at run time.
    const workspaceManifests = [JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Pkg, ...packages.filter((p) => p.pkg.name.startsWith('@orderwire/')).map((p) => p.pkg)];
    const devOnly = new Set(workspaceManifests.flatMap((m) => Object.keys(m.devDependencies ?? {})));
    for (const { pkg } of packages) {
      for (const n of [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]) devOnly.delete(n);
    }
    expect([...devOnly].filter((n) => names.has(n)), `dev dependencies in the ${service} image`).toEqual([]);

    expect(workspaceDirsNamed(tree, ['src', 'test', 'bench', 'tsconfig.json', 'vitest.config.ts']), 'sources and tests').toEqual([]);
    for (const p of ['.tools', '.data', '.turbo', '.git']) expect(existsSync(join(tree, p)), p).toBe(false);
    // Only the service's own workspace and its runtime shared packages.
    const services = readdirSync(join(tree, 'services'));
    expect(services).toEqual([service]);
  });

  it.each(SERVICES)('%s: misses no runtime dependency (the tree re-assembles from itself)', async (service) => {
    // Assembling from the tree walks every dependency edge of every package in it: a package
    // that is required but absent fails with "runtime dependencies not installed".
    const again = join(dir, `${service}-again`);
    await expect(run(process.execPath, [script, 'runtime', service, '--from', trees[service], '--out', again])).resolves.toBeDefined();
    await rm(again, { recursive: true, force: true });
  }, ASSEMBLE_TIMEOUT_MS);

  it('puts the operator CLIs on the image PATH', async () => {
    for (const [service, bin] of Object.entries(CLIS)) {
      const file = join(trees[service as Service], 'node_modules/.bin', bin);
      expect(statSync(file).mode & 0o111, `${bin} executable`).not.toBe(0);
      const { stdout, stderr } = await run(file, ['help'], { env: { ...process.env, PATH: `${join(trees[service as Service], 'node_modules/.bin')}:${process.env.PATH ?? ''}` } }).catch(
        (err: { stdout: string; stderr: string }) => err,
      );
      expect(`${stdout}${stderr}`, `${bin} help`).toMatch(/usage/i);
    }
  });

  it('starts every service from its tree, ready on /readyz, and exits 0 on SIGTERM', async () => {
    const kek = randomBytes(32).toString('base64');
    const common = { NATS_URL: nats.url, REDIS_URL: redis.url, AUTH_ISSUER: 'orderwire-runtime-tree', LOG_LEVEL: 'warn', SHUTDOWN_GRACE: '10s', NODE_ENV: 'production' };
    const started: ServiceProcessHandle[] = [];
    try {
      const start = async (service: Service, env: Record<string, string>): Promise<ServiceProcessHandle> => {
        const h = await startServiceProcess({ name: `${service}-tree`, main: join(trees[service], 'main.mjs'), env: { ...common, INSTANCE_ID: `${service}-tree`, ...env }, startTimeoutMs: 60_000 });
        started.push(h);
        return h;
      };
      // The topology owner runs from the auth image first (the k8s init container), as the
      // image's PATH has it; the services only verify what it created.
      const bin = join(trees.auth, 'node_modules/.bin');
      await run(join(bin, 'orderwire-auth'), ['topology', 'apply'], { env: { PATH: `${bin}:${process.env.PATH ?? ''}`, NATS_URL: nats.url, LOG_LEVEL: 'warn' }, timeout: 60_000 });
      const auth = await start('auth', { AUTH_KEK: kek, AUTH_SCRYPT_LOG_N: '12' });
      const jwks = { AUTH_JWKS_URL: `${auth.url}/.well-known/jwks.json` };
      await Promise.all((['ingest', 'edge', 'dlq'] as const).map((s) => start(s, jwks)));
      // The display app needs no NATS or Redis; its built page (dist/public) must be in the tree
      // or /readyz says so. http: URLs need development mode (no TLS here).
      const display = await start('display', { DISPLAY_DEVELOPMENT: 'true' });
      const page = await fetch(`${display.url}/`);
      expect(page.status, 'display page').toBe(200);
      expect(await page.text()).toMatch(/<html/i);
      for (const h of started) expect((await fetch(`${h.url}/readyz`)).status, `${h.name} /readyz`).toBe(200);
      for (const h of [...started].reverse()) {
        const exit = await h.stop();
        expect(exit, `${h.name} exit after SIGTERM\n${h.logs().slice(-2000)}`).toMatchObject({ code: 0 });
      }
    } finally {
      for (const h of started) await h.dispose();
    }
  }, 180_000);

  it('prune keeps every workspace the runtime tree needs (turbo prune --docker)', async () => {
    const out = join(dir, 'pruned-edge');
    await run(process.execPath, [script, 'prune', 'edge', '--from', root, '--out', out]);
    const pruned = JSON.parse(readFileSync(join(out, 'json/package.json'), 'utf8')) as { workspaces: string[] };
    for (const ws of ['services/edge', 'shared/platform', 'shared/contracts', 'shared/token-verifier']) expect(pruned.workspaces).toContain(ws);
    expect(pruned.workspaces).not.toContain('services/auth');
    expect(existsSync(join(out, 'json/package-lock.json'))).toBe(true);
    expect(existsSync(join(out, 'full/services/edge/src/main.ts'))).toBe(true);
    // What the workspaces' tsconfig files extend, so the image's build compiles like this one.
    expect(existsSync(join(out, 'full/tsconfig.base.json'))).toBe(true);
  }, 60_000);
});
