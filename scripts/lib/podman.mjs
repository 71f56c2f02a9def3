// The opt-in container engine of `npm run tools -- --with-podman`: Debian's podman and runc
// (installed with apt-get — a change to the system, so never done without the flag), and a local
// stand-in for the images' base `node:24-slim` on machines that cannot reach a registry: a Debian
// forky root filesystem with Node 24 and npm (mmdebstrap), imported as
// `docker.io/library/node:24-slim`. `npm run images -- --stand-in-base` builds on it with
// `--pull=never`, the Dockerfile unchanged (its NODE_IMAGE build argument names the stand-in).
// Node built-ins only.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './repo.mjs';

export const STAND_IN_BASE = 'docker.io/library/node:24-slim';
/** Debian suite whose `nodejs` is Node 24 (measured: 24.21 in forky, December 2026). */
export const STAND_IN_SUITE = 'forky';
export const PODMAN_CONF = join(REPO_ROOT, 'deploy', 'docker', 'podman', 'containers.conf');
const PREFIX = '[podman]';
/** 20 min for apt-get / mmdebstrap on a slow mirror */
const INSTALL_TIMEOUT_MS = 20 * 60_000;

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

function run(label, cmd, args, env = {}) {
  console.log(`${PREFIX} ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', timeout: INSTALL_TIMEOUT_MS, env: { ...process.env, ...env } });
  if (r.error !== undefined) throw new Error(`${label}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${label} failed with exit code ${r.status}`);
}

/** Installs podman + runc (and mmdebstrap for the stand-in) with apt-get when missing; root on Debian/Ubuntu only. */
export function ensurePodman() {
  const missing = ['podman', 'runc', 'mmdebstrap'].filter((c) => !has(c));
  if (missing.length === 0) {
    console.log(`${PREFIX} podman, runc and mmdebstrap are installed`);
    return;
  }
  if (process.getuid?.() !== 0 || !has('apt-get')) {
    throw new Error(`${missing.join(', ')} missing: install them (Debian/Ubuntu: sudo apt-get install podman runc mmdebstrap; elsewhere: your distribution's podman)`);
  }
  console.log(`${PREFIX} installing ${missing.join(', ')} with apt-get (you asked for it with --with-podman)`);
  run('apt-get update', 'apt-get', ['update']);
  run('apt-get install', 'apt-get', ['install', '-y', '--no-install-recommends', 'podman', 'runc', 'mmdebstrap', 'uidmap', 'fuse-overlayfs'], { DEBIAN_FRONTEND: 'noninteractive' });
}

/** Builds and imports the stand-in base image unless an image of that name exists. */
export function ensureStandInBase() {
  const env = { CONTAINERS_CONF: process.env.CONTAINERS_CONF ?? PODMAN_CONF };
  if (spawnSync('podman', ['image', 'exists', STAND_IN_BASE], { env: { ...process.env, ...env } }).status === 0) {
    console.log(`${PREFIX} ${STAND_IN_BASE} is present`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'orderwire-stand-in-'));
  try {
    const tar = join(dir, 'rootfs.tar');
    run('mmdebstrap', 'mmdebstrap', [
      '--variant=apt',
      '--include=nodejs,npm,ca-certificates',
      // Machines with a clock ahead of the mirror's Release files (snapshots, VMs) would refuse
      // the suite as expired; the packages are still verified by their signatures.
      '--aptopt=Acquire::Check-Valid-Until "false"',
      '--format=tar',
      STAND_IN_SUITE,
      tar,
      'http://deb.debian.org/debian',
    ]);
    run('podman import', 'podman', ['import', '--change', 'CMD ["node"]', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', tar, STAND_IN_BASE], env);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
