// `npm start` end to end with real nats-server and redis-server on free ports, a temp data folder
// and fake services declared in a temp services folder.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { killGroup } from '../lib/repo.mjs';
import { freePorts, getJson, isRunning, natsRequest, redisCommand, startRunner, within } from './helpers.mjs';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const READY = /Orderwire is up/;

const tempDirs = [];
const runners = [];
after(() => {
  // Whatever a failed assertion left running goes now.
  for (const r of runners) {
    for (const pid of Object.values(r.pids())) if (isRunning(pid)) killGroup(pid, 'SIGKILL');
    r.child.kill('SIGKILL');
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/** Declares a fake service folder `<servicesDir>/<name>` with the given "orderwire" block. */
function declare(servicesDir, name, orderwire) {
  const dir = join(servicesDir, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(FIXTURES, 'fake-service.mjs'), join(dir, 'server.mjs'));
  copyFileSync(join(FIXTURES, 'fake-seed.mjs'), join(dir, 'seed.mjs'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `@fake/${name}`, type: 'module', orderwire }, null, 2));
}

function proc(name, port, env = {}) {
  return { name, main: 'server.mjs', env: { PORT: String(port), ...env }, url: `http://127.0.0.1:${port}` };
}

function readEvents(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

async function stopAndExpectClean(runner, signal = 'SIGINT') {
  const pids = runner.pids();
  runner.child.kill(signal);
  const exit = await within(runner.exited, 40_000, 'runner exit');
  const alive = Object.entries(pids).filter(([, pid]) => isRunning(pid));
  assert.deepEqual(alive, [], `processes left behind: ${JSON.stringify(alive)}\n${runner.output()}`);
  return exit;
}

describe('scripts/start.mjs', () => {
  test('starts NATS, Redis and declared services in order, stops them in reverse, and a second start reuses the data', { timeout: 120_000 }, async () => {
    const [natsPort, monitorPort, redisPort, aPort, b1Port, b2Port] = await freePorts(6);
    const dataDir = tempDir('ow-start-data-');
    const servicesDir = tempDir('ow-start-svcs-');
    const events = join(tempDir('ow-start-ev-'), 'events.jsonl');
    declare(servicesDir, 'alpha', {
      order: 10,
      processes: [proc('alpha', aPort)],
      afterReady: [{ name: 'seed', main: 'seed.mjs', args: ['--out', '{dataDir}/seeded.json'] }],
    });
    declare(servicesDir, 'beta', {
      order: 20,
      processes: [proc('beta-1', b1Port), proc('beta-2', b2Port)],
      // Runs before ANY group starts, though beta is the later group (the topology apply).
      beforeStart: [{ name: 'setup', main: 'seed.mjs', args: ['--out', '{dataDir}/setup.json'] }],
    });
    // A package without the key is not a service to start.
    mkdirSync(join(servicesDir, 'plain'));
    writeFileSync(join(servicesDir, 'plain', 'package.json'), '{"name":"plain"}');
    const env = {
      ORDERWIRE_NATS_PORT: String(natsPort),
      ORDERWIRE_NATS_MONITOR_PORT: String(monitorPort),
      ORDERWIRE_REDIS_PORT: String(redisPort),
      ORDERWIRE_DATA_DIR: dataDir,
      ORDERWIRE_SERVICES_DIR: servicesDir,
      FAKE_EVENTS: events,
      // The runner's defaults, whatever the calling shell has set.
      AUTH_KEK: '',
      AUTH_ISSUER: '',
      AUTH_JWKS_URL: '',
      LOG_LEVEL: '',
    };

    // First run.
    const first = startRunner({ env });
    runners.push(first);
    await first.waitFor(READY, 60_000);

    const varz = await getJson(`http://127.0.0.1:${monitorPort}/varz`);
    assert.equal(varz.status, 200);
    assert.ok(varz.body.jetstream?.config, 'JetStream is enabled');
    assert.equal(varz.body.jetstream.config.store_dir.startsWith(join(dataDir, 'nats')), true);
    assert.equal(await redisCommand(redisPort, 'PING'), '+PONG\r\n');
    assert.equal(await redisCommand(redisPort, 'SET orderwire:scripts-test persisted'), '+OK\r\n');
    const created = await natsRequest(natsPort, '$JS.API.STREAM.CREATE.SCRIPTS_TEST', JSON.stringify({ name: 'SCRIPTS_TEST', subjects: ['scripts.test'], storage: 'file' }));
    assert.equal(created.error, undefined, JSON.stringify(created));
    const ack = await natsRequest(natsPort, 'scripts.test', '{"hello":1}');
    assert.equal(ack.stream, 'SCRIPTS_TEST');

    const out = first.output();
    for (const prefix of ['[nats]', '[redis]', '[alpha]', '[beta-1]', '[beta-2]', '[alpha:seed]']) {
      assert.ok(out.includes(`${prefix} `), `output has ${prefix} lines`);
    }
    // pino lines are pretty-printed: time, level, message and key ids instead of raw JSON.
    assert.match(out, /\[alpha\]\s+\d\d:\d\d:\d\d\.\d{3} INFO {2}fake listening orderId=o-42 port=\d+/);
    assert.doesNotMatch(out, /\[alpha\]\s+\{"level"/);
    assert.match(out, /\[beta-1\]\s+plain stderr line from beta-1/);
    for (const url of [`nats://127.0.0.1:${natsPort}`, `http://127.0.0.1:${monitorPort}`, `redis://127.0.0.1:${redisPort}`, `http://127.0.0.1:${b2Port}`]) {
      assert.ok(out.includes(url), `banner lists ${url}`);
    }
    assert.ok(out.includes(join(dataDir, 'dev-credentials.json')), 'banner names the credentials file');

    const kek = readFileSync(join(dataDir, 'dev-kek'), 'utf8').trim();
    assert.equal(Buffer.from(kek, 'base64').length, 32);
    const seeded = JSON.parse(readFileSync(join(dataDir, 'seeded.json'), 'utf8'));
    assert.deepEqual(seeded.args, ['--out', join(dataDir, 'seeded.json')]);

    let ev = readEvents(events);
    const at = (e, name) => ev.find((x) => x.ev === e && x.name === name)?.t ?? assert.fail(`no ${e} event for ${name}`);
    assert.ok(at('seed', 'beta:setup') <= at('start', 'alpha'), 'beforeStart runs before the first group starts');
    assert.deepEqual(JSON.parse(readFileSync(join(dataDir, 'setup.json'), 'utf8')).args, ['--out', join(dataDir, 'setup.json')]);
    assert.ok(at('ready', 'alpha') <= at('seed', 'alpha:seed'), 'afterReady runs once the group is ready');
    assert.ok(at('seed', 'alpha:seed') <= at('start', 'beta-1'), 'the next group starts after afterReady');
    assert.ok(at('seed', 'alpha:seed') <= at('start', 'beta-2'));
    const alphaEnv = ev.find((x) => x.ev === 'start' && x.name === 'alpha').env;
    assert.deepEqual(alphaEnv, {
      NATS_URL: `nats://127.0.0.1:${natsPort}`,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      AUTH_KEK: kek,
      AUTH_ISSUER: 'orderwire-auth',
      AUTH_JWKS_URL: 'http://127.0.0.1:3001/.well-known/jwks.json',
      LOG_LEVEL: 'info',
      INSTANCE_ID: 'alpha',
      PORT: String(aPort),
    });

    const pids = first.pids();
    assert.deepEqual(Object.keys(pids).sort(), ['alpha', 'alpha:seed', 'beta-1', 'beta-2', 'beta:setup', 'nats', 'redis']);
    const exit = await stopAndExpectClean(first, 'SIGINT');
    assert.deepEqual(exit, { code: 0, signal: null });
    ev = readEvents(events);
    assert.ok(at('stop', 'beta-1') <= at('stop', 'alpha') && at('stop', 'beta-2') <= at('stop', 'alpha'), 'services stop in reverse order');
    assert.match(first.output(), /DB saved on disk/, 'Redis saved its data on the way out');

    // Second run on the same data folder, raw JSON logs this time.
    const second = startRunner({ env, args: ['--json'] });
    runners.push(second);
    await second.waitFor(READY, 60_000);
    assert.equal(await redisCommand(redisPort, 'GET orderwire:scripts-test'), '$9\r\npersisted\r\n');
    const jsz = await getJson(`http://127.0.0.1:${monitorPort}/jsz`);
    assert.equal(jsz.body.streams, 1);
    assert.equal(jsz.body.messages, 1);
    assert.equal(readFileSync(join(dataDir, 'dev-kek'), 'utf8').trim(), kek, 'the dev KEK is made once');
    assert.match(second.output(), /\[alpha\]\s+\{"level":30,/);
    assert.deepEqual(await stopAndExpectClean(second, 'SIGTERM'), { code: 0, signal: null });
  });

  test('a failing beforeStart command stops the stack before any service starts, with its last lines', { timeout: 60_000 }, async () => {
    const [natsPort, monitorPort, redisPort, aPort] = await freePorts(4);
    const servicesDir = tempDir('ow-setup-svcs-');
    const events = join(tempDir('ow-setup-ev-'), 'events.jsonl');
    declare(servicesDir, 'alpha', {
      order: 10,
      beforeStart: [{ name: 'topology', main: 'seed.mjs', args: ['--out', '{dataDir}/x.json'], env: { FAKE_SEED_FAIL: '1' } }],
      processes: [proc('alpha', aPort)],
    });
    const runner = startRunner({
      env: {
        ORDERWIRE_NATS_PORT: String(natsPort),
        ORDERWIRE_NATS_MONITOR_PORT: String(monitorPort),
        ORDERWIRE_REDIS_PORT: String(redisPort),
        ORDERWIRE_DATA_DIR: tempDir('ow-setup-data-'),
        ORDERWIRE_SERVICES_DIR: servicesDir,
        FAKE_EVENTS: events,
      },
    });
    runners.push(runner);
    const exit = await within(runner.exited, 40_000, 'runner exit');
    assert.equal(exit.code, 1);
    const out = runner.output();
    assert.match(out, /alpha:topology failed \(exit code 4\)/);
    assert.match(out, /\|\s+fake set-up failed: ORDERWIRE_ERR_TOPOLOGY_CONFLICT/);
    assert.equal(readEvents(events).filter((e) => e.ev === 'start').length, 0, 'no service started');
    const alive = Object.entries(runner.pids()).filter(([, pid]) => isRunning(pid));
    assert.deepEqual(alive, [], `processes left behind: ${JSON.stringify(alive)}`);
  });

  test('a crashing service stops the whole stack with its last lines and a non-zero exit', { timeout: 60_000 }, async () => {
    const [natsPort, monitorPort, redisPort, aPort, bPort] = await freePorts(5);
    const servicesDir = tempDir('ow-crash-svcs-');
    declare(servicesDir, 'steady', { order: 10, processes: [proc('steady', aPort)] });
    declare(servicesDir, 'flaky', { order: 20, processes: [proc('flaky', bPort, { FAKE_CRASH_AFTER_MS: '1500' })] });
    const runner = startRunner({
      env: {
        ORDERWIRE_NATS_PORT: String(natsPort),
        ORDERWIRE_NATS_MONITOR_PORT: String(monitorPort),
        ORDERWIRE_REDIS_PORT: String(redisPort),
        ORDERWIRE_DATA_DIR: tempDir('ow-crash-data-'),
        ORDERWIRE_SERVICES_DIR: servicesDir,
        FAKE_EVENTS: join(tempDir('ow-crash-ev-'), 'events.jsonl'),
      },
    });
    runners.push(runner);
    await runner.waitFor(READY, 60_000);
    const exit = await within(runner.exited, 40_000, 'runner exit after the crash');
    assert.equal(exit.code, 1);
    const out = runner.output();
    assert.match(out, /flaky exited unexpectedly \(exit code 3\)/);
    assert.match(out, /\|\s+fake fatal: boom/, 'the crash report shows the last lines');
    const alive = Object.entries(runner.pids()).filter(([, pid]) => isRunning(pid));
    assert.deepEqual(alive, [], `processes left behind: ${JSON.stringify(alive)}`);
  });

  test('a service ignoring SIGTERM is killed after the stop grace', { timeout: 60_000 }, async () => {
    const [natsPort, monitorPort, redisPort, aPort] = await freePorts(4);
    const servicesDir = tempDir('ow-stubborn-svcs-');
    declare(servicesDir, 'stubborn', { order: 10, processes: [proc('stubborn', aPort, { FAKE_IGNORE_SIGTERM: '1' })] });
    const runner = startRunner({
      env: {
        ORDERWIRE_NATS_PORT: String(natsPort),
        ORDERWIRE_NATS_MONITOR_PORT: String(monitorPort),
        ORDERWIRE_REDIS_PORT: String(redisPort),
        ORDERWIRE_DATA_DIR: tempDir('ow-stubborn-data-'),
        ORDERWIRE_SERVICES_DIR: servicesDir,
        ORDERWIRE_STOP_GRACE: '1s',
        FAKE_EVENTS: join(tempDir('ow-stubborn-ev-'), 'events.jsonl'),
      },
    });
    runners.push(runner);
    await runner.waitFor(READY, 60_000);
    const exit = await stopAndExpectClean(runner, 'SIGTERM');
    assert.equal(exit.code, 0);
    assert.match(runner.output(), /stubborn did not stop within 1000 ms: SIGKILL/);
  });

  test('a taken port fails fast, names the port and starts nothing', { timeout: 30_000 }, async () => {
    const [natsPort, monitorPort, redisPort] = await freePorts(3);
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(redisPort, '127.0.0.1', r));
    try {
      const runner = startRunner({
        env: {
          ORDERWIRE_NATS_PORT: String(natsPort),
          ORDERWIRE_NATS_MONITOR_PORT: String(monitorPort),
          ORDERWIRE_REDIS_PORT: String(redisPort),
          ORDERWIRE_DATA_DIR: tempDir('ow-port-data-'),
          ORDERWIRE_SERVICES_DIR: tempDir('ow-port-svcs-'),
        },
      });
      runners.push(runner);
      const exit = await within(runner.exited, 20_000, 'runner exit');
      assert.equal(exit.code, 1);
      assert.match(runner.output(), new RegExp(`port ${redisPort} \\(Redis\\) is already in use .*ORDERWIRE_REDIS_PORT`));
      assert.deepEqual(runner.pids(), {}, 'nothing was started');
    } finally {
      blocker.close();
    }
  });

  test('a malformed declaration is rejected with the file and field', { timeout: 30_000 }, async () => {
    const servicesDir = tempDir('ow-bad-svcs-');
    declare(servicesDir, 'broken', { order: 10, processes: [{ name: 'broken', main: 'server.mjs', url: 'not a url' }] });
    const [natsPort, monitorPort, redisPort] = await freePorts(3);
    const runner = startRunner({
      env: {
        ORDERWIRE_NATS_PORT: String(natsPort),
        ORDERWIRE_NATS_MONITOR_PORT: String(monitorPort),
        ORDERWIRE_REDIS_PORT: String(redisPort),
        ORDERWIRE_DATA_DIR: tempDir('ow-bad-data-'),
        ORDERWIRE_SERVICES_DIR: servicesDir,
      },
    });
    runners.push(runner);
    const exit = await within(runner.exited, 20_000, 'runner exit');
    assert.equal(exit.code, 1);
    assert.match(runner.output(), /broken[/\\]package\.json: "orderwire"\.processes\[0\]\.url must be an absolute http URL/);
    assert.deepEqual(runner.pids(), {});
  });
});
