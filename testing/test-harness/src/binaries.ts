import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError, HarnessErrorCode } from './errors.js';

export type ServerBinary = 'nats-server' | 'redis-server';

/** Env variables that override binary lookup (the only env this package reads). */
export const BINARY_ENV: Readonly<Record<ServerBinary, string>> = Object.freeze({
  'nats-server': 'ORDERWIRE_NATS_SERVER',
  'redis-server': 'ORDERWIRE_REDIS_SERVER',
});

const cache = new Map<ServerBinary, string>();

/**
 * Resolves a server binary: env override, then `<repo>/.tools/bin/<name>`, then PATH.
 * The result is cached per process, except while an env override is set.
 */
export function resolveBinary(name: ServerBinary): string {
  const hit = cache.get(name);
  if (hit !== undefined && !process.env[BINARY_ENV[name]]) return hit;
  const found = locateBinary(name, {
    override: process.env[BINARY_ENV[name]],
    repoRoot: findRepoRoot(),
    path: process.env.PATH,
  });
  if (!process.env[BINARY_ENV[name]]) cache.set(name, found);
  return found;
}

export interface BinarySearch {
  /** Value of the env override variable, if any. */
  readonly override: string | undefined;
  readonly repoRoot: string | undefined;
  /** A PATH-style list of directories. */
  readonly path: string | undefined;
}

/** The lookup itself, free of process state so it can be tested. */
export function locateBinary(name: ServerBinary, search: BinarySearch): string {
  const envVar = BINARY_ENV[name];
  const tried: string[] = [];
  if (search.override !== undefined && search.override !== '') {
    if (isExecutable(search.override)) return resolve(search.override);
    // An explicit override that is wrong must not silently fall back to another binary.
    throw new HarnessError(
      HarnessErrorCode.BinaryNotFound,
      `${envVar}=${search.override} is not an executable file. Fix the variable, or unset it and run \`npm run tools\`.`,
    );
  }
  tried.push(`$${envVar} (unset)`);

  if (search.repoRoot !== undefined) {
    const candidate = join(search.repoRoot, '.tools', 'bin', name);
    if (isExecutable(candidate)) return candidate;
    tried.push(candidate);
  } else {
    tried.push('.tools/bin (no repo root with turbo.json found)');
  }

  for (const dir of (search.path ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  tried.push('$PATH');

  throw new HarnessError(
    HarnessErrorCode.BinaryNotFound,
    `${name} not found (tried ${tried.join(', ')}). Run \`npm run tools\` at the repo root to install it into .tools/bin.`,
  );
}

/** The directory holding `turbo.json`, found by walking up from this package. */
export function findRepoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'turbo.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
