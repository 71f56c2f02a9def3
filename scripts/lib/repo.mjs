// Helpers shared by the repo scripts. Node built-ins only: these run before `npm install`.
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root (the folder holding `scripts/`). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The oldest Node with `require(esm)` and the APIs the services use. */
export const MIN_NODE = [20, 19];

/** Exits with a clear message when Node is older than `MIN_NODE`. */
export function assertNodeVersion(prefix) {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    console.error(`${prefix} Node ${process.versions.node} is too old: Orderwire needs Node >= ${MIN_NODE.join('.')}.`);
    process.exit(1);
  }
}

/**
 * Why `node_modules` needs (re)installing, or null when it is current. npm writes
 * `node_modules/.package-lock.json` at the end of every install, after `package-lock.json`,
 * so a lockfile newer than it means the tree on disk is stale.
 */
export function installReason(root = REPO_ROOT) {
  const hidden = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(join(root, 'node_modules'))) return 'node_modules is missing';
  if (!existsSync(hidden)) return 'node_modules was not installed by npm';
  if (statSync(join(root, 'package-lock.json')).mtimeMs > statSync(hidden).mtimeMs) {
    return 'package-lock.json is newer than node_modules';
  }
  return null;
}

/** Runs `npm ci` when `installReason` says so. Returns true when it installed. */
export async function ensureDependencies({ root = REPO_ROOT, prefix = '[install]' } = {}) {
  const reason = installReason(root);
  if (!reason) return false;
  console.log(`${prefix} ${reason}: running npm ci`);
  const { code } = await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root });
  if (code !== 0) throw new Error(`npm ci failed with exit code ${code}`);
  return true;
}

/**
 * Runs a command with inherited or teed output and resolves with its exit code (never rejects on a
 * non-zero exit). `timeoutMs` kills the whole process group so nothing outlives the step.
 * `onLine` receives every output line (stdout and stderr) when given; the output is echoed too.
 */
export function run(command, args, { cwd = REPO_ROOT, env = process.env, timeoutMs, onLine } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd,
      env,
      stdio: onLine ? ['ignore', 'pipe', 'pipe'] : 'inherit',
      // Own process group, so a timeout can take down grandchildren (turbo → npm → vitest → servers).
      detached: true,
    });
    let timedOut = false;
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killGroup(child.pid, 'SIGKILL');
        }, timeoutMs)
      : undefined;
    // Ctrl-C on the parent must not leave the detached group running.
    const forward = (signal) => killGroup(child.pid, signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    if (onLine) {
      for (const [stream, sink] of [
        [child.stdout, process.stdout],
        [child.stderr, process.stderr],
      ]) {
        let rest = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk) => {
          sink.write(chunk);
          const lines = (rest + chunk).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) onLine(line);
        });
        stream.on('end', () => {
          if (rest) onLine(rest);
        });
      }
    }
    child.on('error', (err) => {
      clearTimeout(timer);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolvePromise({ code: code ?? 1, signal, timedOut });
    });
  });
}

/** Sends `signal` to a process group led by `pid`, falling back to the process alone. */
export function killGroup(pid, signal) {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone: nothing to stop.
    }
  }
}

/** True when a process with this PID exists (and is not a zombie we could reap). */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}
