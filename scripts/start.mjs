#!/usr/bin/env node
// `npm start`: the whole Orderwire stack on this machine. Installs dependencies if needed, fetches
// the server binaries, builds, starts NATS (JetStream) and Redis with data in `.data/`, then every
// service that declares itself under `"orderwire"` in `services/*/package.json`, in `order` groups,
// each group only after the previous one answers /readyz. Ctrl-C stops everything in reverse order.
//
//   npm start                     prefixed, pretty logs
//   npm start -- --json           raw JSON log lines (still prefixed with the process name)
//   npm start -- --no-install --no-build
//
// Environment: ORDERWIRE_NATS_PORT (4222), ORDERWIRE_NATS_MONITOR_PORT (8222), ORDERWIRE_REDIS_PORT
// (6379), ORDERWIRE_DATA_DIR (.data), ORDERWIRE_SERVICES_DIR (services), ORDERWIRE_READY_TIMEOUT
// (60s), ORDERWIRE_STOP_GRACE (30s), plus LOG_LEVEL, AUTH_KEK, AUTH_ISSUER passed to the services.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureTools } from './bootstrap-tools.mjs';
import { PALETTE, formatLogLine, paint, useColor } from './lib/log-format.mjs';
import { REPO_ROOT, assertNodeVersion, ensureDependencies, killGroup, run } from './lib/repo.mjs';
import { DeclarationError, beforeStartCommands, discoverServices, expandArgs, groupByOrder } from './lib/services.mjs';

const RUNNER = 'start';
/** Printed once everything answers; tests and humans wait for it. */
export const READY_BANNER = 'Orderwire is up';

/** NATS and Redis start in well under a second; this only bounds a broken start. */
const INFRA_READY_TIMEOUT_MS = 30_000;
/** NATS and Redis flush and exit on SIGTERM in milliseconds. */
const INFRA_STOP_GRACE_MS = 10_000;
/** A beforeStart/afterReady command (topology apply, seeding) that takes longer is stuck. */
const AFTER_READY_TIMEOUT_MS = 120_000;
/** Lines kept per process to show when it crashes. */
const TAIL_LINES = 40;
/** npm forwards Ctrl-C, so one keypress can arrive twice; a later one forces. */
const SIGNAL_DEBOUNCE_MS = 1_000;
const POLL_MS = 100;
const DEFAULT_JWKS_URL = 'http://127.0.0.1:3001/.well-known/jwks.json';

/** `30s`, `500ms`, `2m` or plain milliseconds. */
function parseDuration(name, value, fallbackMs) {
  if (value === undefined || value === '') return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!m) fail(`${name}=${value} is not a duration (use e.g. 30s, 500ms, 2m)`);
  const n = Number(m[1]);
  return Math.round(m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n);
}

function parsePort(name, value, fallback) {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) fail(`${name}=${value} is not a TCP port`);
  return n;
}

function fail(message) {
  console.error(`[${RUNNER}] ${message}`);
  process.exit(1);
}

function readOptions(argv, env) {
  const known = new Set(['--json', '--no-install', '--no-build', '--help', '-h']);
  for (const a of argv) if (!known.has(a)) fail(`unknown option ${a} (known: ${[...known].join(' ')})`);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('usage: npm start [-- --json] [--no-install] [--no-build]\nSee the header of scripts/start.mjs for environment variables.');
    process.exit(0);
  }
  return Object.freeze({
    json: argv.includes('--json'),
    install: !argv.includes('--no-install'),
    build: !argv.includes('--no-build'),
    dataDir: resolve(env.ORDERWIRE_DATA_DIR || join(REPO_ROOT, '.data')),
    servicesDir: resolve(env.ORDERWIRE_SERVICES_DIR || join(REPO_ROOT, 'services')),
    natsPort: parsePort('ORDERWIRE_NATS_PORT', env.ORDERWIRE_NATS_PORT, 4222),
    natsMonitorPort: parsePort('ORDERWIRE_NATS_MONITOR_PORT', env.ORDERWIRE_NATS_MONITOR_PORT, 8222),
    redisPort: parsePort('ORDERWIRE_REDIS_PORT', env.ORDERWIRE_REDIS_PORT, 6379),
    readyTimeoutMs: parseDuration('ORDERWIRE_READY_TIMEOUT', env.ORDERWIRE_READY_TIMEOUT, 60_000),
    stopGraceMs: parseDuration('ORDERWIRE_STOP_GRACE', env.ORDERWIRE_STOP_GRACE, 30_000),
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Writes prefixed, optionally coloured lines; one colour per process name. */
class Printer {
  constructor({ json, color }) {
    this.json = json;
    this.color = color;
    this.colors = new Map([[RUNNER, '\x1b[1m']]);
    this.width = RUNNER.length;
  }

  register(name) {
    if (!this.colors.has(name)) this.colors.set(name, PALETTE[(this.colors.size - 1) % PALETTE.length]);
    this.width = Math.max(this.width, name.length);
  }

  prefix(name) {
    return paint(this.colors.get(name), `[${name}]`.padEnd(this.width + 2), this.color);
  }

  line(name, raw) {
    const text = formatLogLine(raw, { json: this.json, color: this.color });
    for (const l of text.split('\n')) process.stdout.write(`${this.prefix(name)} ${l}\n`);
  }

  info(message) {
    for (const l of message.split('\n')) process.stdout.write(`${this.prefix(RUNNER)} ${l}\n`);
  }

  error(message) {
    const text = paint('\x1b[31m', message, this.color);
    for (const l of text.split('\n')) process.stdout.write(`${this.prefix(RUNNER)} ${l}\n`);
  }
}

/** One child process with prefixed output, a tail for crash reports, and a bounded stop. */
class Child {
  constructor(printer, name, command, args, { cwd, env }) {
    this.printer = printer;
    this.name = name;
    this.command = command;
    this.args = args;
    this.cwd = cwd;
    this.env = env;
    this.tail = [];
    this.exitInfo = undefined;
    this.stopping = false;
    printer.register(name);
  }

  start(onUnexpectedExit) {
    const proc = spawn(this.command, this.args, {
      cwd: this.cwd,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group: Ctrl-C reaches only the runner, which then stops children in order.
      detached: true,
    });
    this.pid = proc.pid;
    let closed;
    const streamsClosed = new Promise((r) => (closed = r));
    let open = 2;
    for (const stream of [proc.stdout, proc.stderr]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) this.emit(l);
      });
      stream.on('close', () => {
        if (rest) this.emit(rest);
        rest = '';
        if (--open === 0) closed();
      });
    }
    this.exited = new Promise((resolveExit) => {
      const finish = async (info) => {
        if (this.exitInfo) return;
        // Let the last lines arrive before reporting, without waiting on stray grandchildren.
        await Promise.race([streamsClosed, sleep(300)]);
        this.exitInfo = info;
        resolveExit(info);
        if (!this.stopping) onUnexpectedExit?.(this, info);
      };
      proc.on('error', (err) => {
        this.emit(`failed to start ${this.command}: ${err.message}`);
        void finish({ code: 127, signal: null });
      });
      proc.on('exit', (code, signal) => void finish({ code, signal }));
    });
    if (this.pid) this.printer.info(`${this.name} started (pid ${this.pid})`);
    return this;
  }

  emit(line) {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    this.printer.line(this.name, line);
  }

  get running() {
    return this.pid !== undefined && this.exitInfo === undefined;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs) {
    this.stopping = true;
    if (!this.running) return;
    killGroup(this.pid, 'SIGTERM');
    const exited = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!exited) {
      this.printer.error(`${this.name} did not stop within ${graceMs} ms: SIGKILL`);
      killGroup(this.pid, 'SIGKILL');
      await this.exited;
    } else {
      // Anything the process left in its group goes too.
      killGroup(this.pid, 'SIGKILL');
    }
  }

  kill() {
    this.stopping = true;
    if (this.pid) killGroup(this.pid, 'SIGKILL');
  }
}

function describeExit({ code, signal }) {
  return signal ? `signal ${signal}` : `exit code ${code}`;
}

function portFree(port, host) {
  return new Promise((r) => {
    const server = net.createServer();
    server.once('error', () => r(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => r(true)));
  });
}

async function httpOk(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

function redisPing(port) {
  return new Promise((r) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const done = (ok) => {
      socket.destroy();
      r(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    // `-LOADING` while Redis reads its RDB file: not ready yet.
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/** The dev key-encryption key for auth's signing keys: made once, kept in the data folder. */
function ensureDevKek(dataDir) {
  const file = join(dataDir, 'dev-kek');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const kek = randomBytes(32).toString('base64');
  writeFileSync(file, `${kek}\n`, { mode: 0o600 });
  return kek;
}

class Stack {
  constructor(options, printer) {
    this.o = options;
    this.printer = printer;
    this.infra = []; // [nats, redis]
    this.groups = []; // arrays of service Children, in start order
    this.oneOff = new Set(); // running beforeStart/afterReady commands
    this.stopping = null;
    this.firstSignalAt = 0;
  }

  allChildren() {
    return [...this.oneOff, ...this.groups.flat(), ...this.infra];
  }

  onUnexpectedExit = (child, info) => {
    if (this.stopping) return;
    this.printer.error(`${child.name} exited unexpectedly (${describeExit(info)}). Its last lines:`);
    for (const l of child.tail.slice(-20)) this.printer.error(`  | ${l}`);
    void this.shutdown(1, `${child.name} crashed`);
  };

  onSignal = (signal) => {
    if (this.stopping) {
      if (Date.now() - this.firstSignalAt < SIGNAL_DEBOUNCE_MS) return;
      this.printer.error(`${signal} again: killing everything now`);
      for (const c of this.allChildren()) c.kill();
      process.exit(130);
    }
    this.firstSignalAt = Date.now();
    void this.shutdown(0, `${signal} received`);
  };

  /** Stops everything in reverse start order and exits the runner. Idempotent. */
  shutdown(code, reason) {
    this.stopping ??= (async () => {
      this.printer.info(`${reason}: stopping (services, then Redis, then NATS)`);
      await Promise.all([...this.oneOff].map((c) => c.stop(this.o.stopGraceMs)));
      for (const group of [...this.groups].reverse()) {
        await Promise.all(group.map((c) => c.stop(this.o.stopGraceMs)));
      }
      for (const c of [...this.infra].reverse()) await c.stop(INFRA_STOP_GRACE_MS);
      this.printer.info(code === 0 ? 'stopped' : `stopped after a failure (exit ${code})`);
      process.exit(code);
    })();
    return this.stopping;
  }

  /** Polls `check` until it is true; fails when the child exits, time runs out or we are stopping. */
  async waitReady(child, what, check, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (this.stopping) return false;
      if (!child.running) return false; // onUnexpectedExit reports it
      if (Date.now() > deadline) {
        this.printer.error(`${child.name} was not ready within ${timeoutMs} ms (${what})`);
        await this.shutdown(1, `${child.name} not ready`);
        return false;
      }
      await sleep(POLL_MS);
    }
    return !this.stopping;
  }

  async start(services, tools, kek) {
    const o = this.o;
    const natsDir = join(o.dataDir, 'nats');
    const redisDir = join(o.dataDir, 'redis');
    mkdirSync(natsDir, { recursive: true });
    mkdirSync(redisDir, { recursive: true });
    const startedAt = Date.now();

    const nats = new Child(
      this.printer,
      'nats',
      tools['nats-server'].path,
      ['-js', '-a', '127.0.0.1', '-p', String(o.natsPort), '-m', String(o.natsMonitorPort), '-sd', natsDir, '-n', `orderwire-dev-${hostname()}`],
      { cwd: o.dataDir, env: process.env },
    );
    this.infra.push(nats.start(this.onUnexpectedExit));
    const monitor = `http://127.0.0.1:${o.natsMonitorPort}`;
    if (!(await this.waitReady(nats, `${monitor}/healthz`, () => httpOk(`${monitor}/healthz`), INFRA_READY_TIMEOUT_MS))) return;

    const redis = new Child(
      this.printer,
      'redis',
      tools['redis-server'].path,
      ['--port', String(o.redisPort), '--bind', '127.0.0.1', '--dir', redisDir, '--daemonize', 'no'],
      { cwd: o.dataDir, env: process.env },
    );
    this.infra.push(redis.start(this.onUnexpectedExit));
    if (!(await this.waitReady(redis, 'PING', () => redisPing(o.redisPort), INFRA_READY_TIMEOUT_MS))) return;

    const natsUrl = `nats://127.0.0.1:${o.natsPort}`;
    const redisUrl = `redis://127.0.0.1:${o.redisPort}`;
    const authProc = services.flatMap((s) => s.processes).find((p) => p.name === 'auth');
    const inherited = { ...process.env };
    delete inherited.PORT; // ports come from each declaration, never from the runner's shell
    const common = {
      NATS_URL: natsUrl,
      REDIS_URL: redisUrl,
      AUTH_ISSUER: process.env.AUTH_ISSUER || 'orderwire-auth',
      AUTH_JWKS_URL: process.env.AUTH_JWKS_URL || (authProc ? `${authProc.url}/.well-known/jwks.json` : DEFAULT_JWKS_URL),
      AUTH_KEK: process.env.AUTH_KEK || kek,
      LOG_LEVEL: process.env.LOG_LEVEL || 'info',
    };
    const envFor = (name, own) => ({ ...inherited, ...common, INSTANCE_ID: name, ...own });

    // Set-up before any service: the topology owner applies every stream and bucket; services
    // only verify them at start and would refuse readiness without them.
    for (const { svc, cmd } of beforeStartCommands(services)) {
      if (!(await this.runOnce(svc, cmd, envFor(`${svc.name}:${cmd.name}`, cmd.env)))) return;
    }

    for (const group of groupByOrder(services)) {
      const children = [];
      this.groups.push(children);
      for (const svc of group.services) {
        for (const p of svc.processes) {
          const child = new Child(this.printer, p.name, process.execPath, [join(svc.dir, p.main), ...expandArgs(p.args, o.dataDir)], {
            cwd: svc.dir,
            env: envFor(p.name, p.env),
          });
          child.url = p.url;
          children.push(child.start(this.onUnexpectedExit));
        }
      }
      const ready = await Promise.all(
        children.map((c) => this.waitReady(c, `GET ${c.url}/readyz`, () => httpOk(`${c.url}/readyz`), o.readyTimeoutMs)),
      );
      if (ready.includes(false)) return;
      for (const svc of group.services) {
        for (const cmd of svc.afterReady) {
          if (!(await this.runOnce(svc, cmd, envFor(`${svc.name}:${cmd.name}`, cmd.env)))) return;
        }
      }
    }
    this.banner(services, Date.now() - startedAt, monitor, natsUrl, redisUrl);
  }

  /** Runs one beforeStart/afterReady command to completion; a failure stops the stack. */
  async runOnce(svc, cmd, env) {
    const name = `${svc.name}:${cmd.name}`;
    const child = new Child(this.printer, name, process.execPath, [join(svc.dir, cmd.main), ...expandArgs(cmd.args, this.o.dataDir)], {
      cwd: svc.dir,
      env,
    });
    child.stopping = true; // its exit is expected; we judge the exit code below
    this.oneOff.add(child.start());
    const info = await Promise.race([child.exited, sleep(AFTER_READY_TIMEOUT_MS).then(() => null)]);
    this.oneOff.delete(child);
    if (this.stopping) return false;
    if (info && info.code === 0) return true;
    if (!info) child.kill();
    this.printer.error(`${name} ${info ? `failed (${describeExit(info)})` : `did not finish within ${AFTER_READY_TIMEOUT_MS} ms`}. Its last lines:`);
    for (const l of child.tail.slice(-20)) this.printer.error(`  | ${l}`);
    await this.shutdown(1, `${name} failed`);
    return false;
  }

  banner(services, elapsedMs, monitor, natsUrl, redisUrl) {
    const rows = [
      ['NATS', `${natsUrl}   monitor ${monitor}`],
      ['Redis', redisUrl],
      ...services.flatMap((s) => s.processes.map((p) => [p.name, p.url])),
      ['data', this.o.dataDir],
    ];
    const creds = join(this.o.dataDir, 'dev-credentials.json');
    rows.push(['credentials', existsSync(creds) ? creds : `${creds} (not written: no service seeds it yet)`]);
    const width = Math.max(...rows.map(([k]) => k.length));
    const lines = [
      `${READY_BANNER} (ready in ${(elapsedMs / 1000).toFixed(1)} s)`,
      ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    ];
    if (services.length === 0) {
      lines.push(`  (no service declares itself yet: add an "orderwire" key to services/<svc>/package.json)`);
    }
    lines.push('Ctrl-C stops everything.');
    this.printer.info(lines.join('\n'));
  }
}

async function main() {
  assertNodeVersion(`[${RUNNER}]`);
  const o = readOptions(process.argv.slice(2), process.env);
  const printer = new Printer({ json: o.json, color: useColor() });
  process.stdout.on('error', () => {}); // a closed pipe must not crash the shutdown

  if (o.install) await ensureDependencies({ prefix: `[${RUNNER}]` });
  const tools = await ensureTools({ quiet: false });
  if (!tools.ok) fail(tools.message.split('\n').join(`\n[${RUNNER}] `));
  if (o.build) {
    printer.info('building (turbo run build)');
    const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1' };
    const { code } = await run(join(REPO_ROOT, 'node_modules', '.bin', 'turbo'), ['run', 'build', '--output-logs=errors-only'], { env });
    if (code !== 0) fail(`build failed (exit ${code}); fix it or run with --no-build to start what is already built`);
  }

  let services;
  try {
    services = discoverServices(o.servicesDir);
  } catch (err) {
    fail(err instanceof DeclarationError ? err.message : `reading ${o.servicesDir}: ${err.message}`);
  }
  for (const svc of services) {
    for (const p of svc.processes) {
      printer.register(p.name);
      if (!existsSync(join(svc.dir, p.main))) fail(`${p.name}: ${join(svc.dir, p.main)} does not exist (not built?)`);
    }
  }

  // Every port up front: a taken port is a clear message, not a half-started stack.
  const wanted = [
    ['NATS', '127.0.0.1', o.natsPort, 'ORDERWIRE_NATS_PORT'],
    ['NATS monitor', '127.0.0.1', o.natsMonitorPort, 'ORDERWIRE_NATS_MONITOR_PORT'],
    ['Redis', '127.0.0.1', o.redisPort, 'ORDERWIRE_REDIS_PORT'],
    ...services.flatMap((s) => s.processes.map((p) => [p.name, p.host, p.port, `the PORT/url in ${s.file}`])),
  ];
  const byPort = new Map();
  const problems = [];
  for (const [what, host, port, knob] of wanted) {
    if (byPort.has(port)) problems.push(`port ${port} is wanted by both ${byPort.get(port)} and ${what}`);
    byPort.set(port, what);
    if (!(await portFree(port, host))) problems.push(`port ${port} (${what}) is already in use — stop whatever holds it or change ${knob}`);
  }
  if (problems.length) fail(problems.join(`\n[${RUNNER}] `));

  mkdirSync(o.dataDir, { recursive: true });
  const kek = ensureDevKek(o.dataDir);
  const stack = new Stack(o, printer);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, stack.onSignal);
  // Last line of defence (an exception in the runner itself): leave no server behind.
  process.on('exit', () => {
    for (const c of stack.allChildren()) if (c.running) c.kill();
  });
  process.on('uncaughtException', (err) => {
    printer.error(`runner error: ${err.stack ?? err}`);
    void stack.shutdown(1, 'runner error');
  });
  await stack.start(services, tools.tools, kek);
}

await main();
