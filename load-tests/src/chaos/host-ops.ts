/**
 * Faults that need root on this machine: a network partition of one nats-server from its peers
 * (iptables rules in a chain of our own, plus a cgroup so the node's new route connections can be
 * matched), and a small filesystem under one node's store (tmpfs with a size). Everything made
 * here is registered for clean-up and removed on heal, on error and on process exit — a failed
 * run must not leave a machine with dropped loopback traffic or a mount.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { open, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { BenchError } from '../errors.js';

/** Our iptables chain (one per run, so two runs on one machine cannot undo each other's), jumped to from OUTPUT (loopback traffic passes OUTPUT once per packet). */
export const CHAOS_CHAIN = `ORDERWIRE_CHAOS_${process.pid}`;
/** 1 MiB written at a time when filling a filesystem */
const FILL_CHUNK = 1024 * 1024;

const cleanups = new Map<string, () => void>();
let exitHookInstalled = false;

/** Runs every pending clean-up (idempotent; also on exit and SIGINT/SIGTERM). */
export function cleanupHost(): void {
  for (const [key, fn] of [...cleanups.entries()].reverse()) {
    cleanups.delete(key);
    try {
      fn();
    } catch {
      // Best effort: the next clean-up must still run.
    }
  }
}

function register(key: string, fn: () => void): void {
  cleanups.set(key, fn);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', cleanupHost);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanupHost();
      process.exit(130);
    });
  }
}

function run(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', `${cmd} ${args.join(' ')}: ${(e.stderr ?? e.message ?? String(err)).trim()}`, { cause: err });
  }
}

/** Why this machine cannot run the root-only cases, or undefined when it can. */
export function hostFaultsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (iptables, cgroups, mount)';
  try {
    run('iptables', ['-S', 'OUTPUT']);
  } catch (err) {
    return `iptables unusable: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (cgroup2Root() === undefined) return 'no cgroup v2 hierarchy mounted';
  return undefined;
}

function cgroup2Root(): string | undefined {
  for (const candidate of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
    if (existsSync(join(candidate, 'cgroup.procs')) && existsSync(join(candidate, 'cgroup.subtree_control'))) return candidate;
  }
  return undefined;
}

export interface RouteConnection {
  local: number;
  remote: number;
}

/** Established TCP connections of `pid` (from `ss`), as local/remote port pairs. */
function connectionsOf(pid: number): RouteConnection[] {
  return parseSsConnections(run('ss', ['-Htnp', 'state', 'established']), pid);
}

/** The local/remote ports of `pid`'s lines in `ss -Htnp state established` output. */
export function parseSsConnections(out: string, pid: number): RouteConnection[] {
  const conns: RouteConnection[] = [];
  for (const line of out.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const addrs = line.trim().split(/\s+/).filter((f) => /:\d+$/.test(f));
    const [local, remote] = addrs.map((a) => Number(a.slice(a.lastIndexOf(':') + 1)));
    if (local !== undefined && remote !== undefined) conns.push({ local, remote });
  }
  return conns;
}

export interface Partition {
  heal(): void;
}

/**
 * Cuts the node (`pid`, route port `routePort`) off from its peers' route ports, both ways:
 * connections into its route port, its answers on them, the route connections it had opened
 * (by their port pairs, found with `ss`), and any it opens later (matched by a cgroup the node
 * is moved into — sockets carry the cgroup they were created in). Client ports stay reachable,
 * as in a real partition where clients still reach the minority node.
 */
export function partitionNode(pid: number, routePort: number, peerRoutePorts: readonly number[]): Partition {
  const cgroupRoot = cgroup2Root();
  if (cgroupRoot === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', 'partition: no cgroup v2 hierarchy');
  const group = `orderwire-chaos-${pid}`;
  const groupDir = join(cgroupRoot, group);
  const key = `partition:${pid}`;
  const heal = (): void => {
    cleanups.delete(key);
    try {
      execFileSync('iptables', ['-D', 'OUTPUT', '-j', CHAOS_CHAIN], { stdio: 'ignore' });
    } catch {
      // Not linked (a failed set-up).
    }
    try {
      execFileSync('iptables', ['-F', CHAOS_CHAIN], { stdio: 'ignore' });
      execFileSync('iptables', ['-X', CHAOS_CHAIN], { stdio: 'ignore' });
    } catch {
      // No chain.
    }
    try {
      if (existsSync(groupDir)) {
        // Back to the root group first: a group with members cannot be removed.
        for (const p of readFileSync(join(groupDir, 'cgroup.procs'), 'utf8').split('\n').filter((x) => x !== '')) {
          writeFileSync(join(cgroupRoot, 'cgroup.procs'), p);
        }
        rmdirSync(groupDir);
      }
    } catch {
      // The node may have exited; the empty group is removed on the next heal or by hand.
    }
  };
  register(key, heal);
  try {
    if (!existsSync(groupDir)) mkdirSync(groupDir);
    writeFileSync(join(groupDir, 'cgroup.procs'), String(pid));
    run('iptables', ['-N', CHAOS_CHAIN]);
    const drop = (...args: string[]): void => {
      run('iptables', ['-A', CHAOS_CHAIN, '-p', 'tcp', ...args, '-j', 'DROP']);
    };
    drop('--dport', String(routePort));
    drop('--sport', String(routePort));
    drop('-m', 'cgroup', '--path', group, '-m', 'multiport', '--dports', peerRoutePorts.join(','));
    for (const c of connectionsOf(pid)) {
      if (!peerRoutePorts.includes(c.remote)) continue;
      drop('--sport', String(c.local), '--dport', String(c.remote));
      drop('--sport', String(c.remote), '--dport', String(c.local));
    }
    run('iptables', ['-I', 'OUTPUT', '-j', CHAOS_CHAIN]);
  } catch (err) {
    heal();
    throw err;
  }
  return { heal };
}

export interface SmallDisk {
  readonly dir: string;
  /** Fills the filesystem until `leaveBytes` are free. */
  fill(leaveBytes: number): Promise<void>;
  /** Removes the filler: space returns. */
  free(): Promise<void>;
  unmount(): void;
}

/**
 * Mounts a tmpfs of `sizeBytes` on `dir` (which must be empty, e.g. a stopped node's store
 * that it will rebuild from its peers).
 */
export function mountSmallDisk(dir: string, sizeBytes: number): SmallDisk {
  const key = `mount:${dir}`;
  const filler = join(dir, 'orderwire-chaos-filler');
  run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'orderwire-chaos', dir]);
  const unmount = (): void => {
    cleanups.delete(key);
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      // Not mounted any more.
    }
  };
  register(key, unmount);
  return {
    dir,
    async fill(leaveBytes) {
      const fs = await statfs(dir);
      let remaining = fs.bavail * fs.bsize - leaveBytes;
      const file = await open(filler, 'a');
      const chunk = Buffer.alloc(FILL_CHUNK, 0x5a);
      try {
        while (remaining > 0) {
          const n = Math.min(remaining, chunk.length);
          await file.write(chunk, 0, n);
          remaining -= n;
        }
      } finally {
        await file.close();
      }
    },
    async free() {
      await rm(filler, { force: true });
    },
    unmount,
  };
}
