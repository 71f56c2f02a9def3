/**
 * Finds and runs promtool and amtool: `$ORDERWIRE_PROMTOOL` / `$ORDERWIRE_AMTOOL`, then
 * `<repo>/.tools/bin/<name>` (made by `npm run tools`), then PATH.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckError, CheckErrorCode } from './errors.js';

export type ToolName = 'promtool' | 'amtool';

export const TOOL_ENV: Readonly<Record<ToolName, string>> = Object.freeze({
  promtool: 'ORDERWIRE_PROMTOOL',
  amtool: 'ORDERWIRE_AMTOOL',
});

/** `promtool test rules` over every test file takes a few seconds. */
export const DEFAULT_TOOL_TIMEOUT_MS = 60_000;

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The directory holding `turbo.json`, walking up from `from`. */
export function findRepoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'turbo.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export interface ToolSearch {
  readonly env?: NodeJS.ProcessEnv;
  readonly repoRoot?: string;
}

/** Absolute path of the tool, or a CheckError `ORDERWIRE_ERR_OBSCHECK_TOOL_NOT_FOUND` saying how to get it. */
export function locateTool(name: ToolName, search: ToolSearch = {}): string {
  const env = search.env ?? process.env;
  const override = env[TOOL_ENV[name]];
  if (override !== undefined && override !== '') {
    if (isExecutable(override)) return resolve(override);
    throw new CheckError(CheckErrorCode.ToolNotFound, `${TOOL_ENV[name]}=${override} is not an executable file`);
  }
  const root = search.repoRoot ?? findRepoRoot();
  const tried: string[] = [`$${TOOL_ENV[name]} (unset)`];
  if (root !== undefined) {
    const candidate = join(root, '.tools', 'bin', name);
    if (isExecutable(candidate)) return candidate;
    tried.push(candidate);
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && isExecutable(join(dir, name))) return join(dir, name);
  }
  tried.push('$PATH');
  throw new CheckError(
    CheckErrorCode.ToolNotFound,
    `${name} not found (tried ${tried.join(', ')}). Run \`npm run tools\` at the repo root: it installs promtool and amtool into .tools/bin.`,
  );
}

export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** The command line, for messages. */
  readonly command: string;
}

export interface RunToolOptions extends ToolSearch {
  readonly cwd?: string;
  /** @default DEFAULT_TOOL_TIMEOUT_MS */
  readonly timeoutMs?: number;
}

/** Runs the tool to completion (killed after the timeout) and returns its output. */
export async function runTool(name: ToolName, args: readonly string[], options: RunToolOptions = {}): Promise<ToolResult> {
  const bin = locateTool(name, options);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, [...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new CheckError(CheckErrorCode.ToolNotFound, `cannot run ${bin}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, timedOut, command: [bin, ...args].join(' ') });
    });
  });
}
