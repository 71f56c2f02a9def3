import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { waitFor } from '../src/index.js';
import { expectGone, isGone } from './helpers.js';

/**
 * The leak guarantees only mean something across a real process boundary, so each test
 * runs the harness in a separate node process, compiled from the current src (not a
 * possibly stale dist), then ends that process in a different way.
 */

const CHILD = `
import { startNats, startRedis, watchdogPid } from './index.js';
const mode = process.argv[2];
const nats = await startNats();
if (mode === 'watchdog-lost') {
  // Kill the watchdog behind the harness' back; the next start must replace it and
  // re-register the nats-server started before.
  const old = watchdogPid();
  process.kill(old, 'SIGKILL');
  while (watchdogPid() === old) await new Promise((r) => setTimeout(r, 10));
}
const redis = await startRedis();
process.stdout.write(JSON.stringify({
  nats: nats.pid, redis: redis.pid, natsDir: nats.dir, redisDir: redis.dir, watchdog: watchdogPid(),
}) + '\\n');
if (mode === 'hang' || mode === 'watchdog-lost') setInterval(() => undefined, 1000);
if (mode === 'exit') process.exit(3);
if (mode === 'throw') throw new Error('boom');
// mode 'natural': nothing else is pending, so the event loop ends on its own.
`;

interface ChildReport {
  nats: number;
  redis: number;
  natsDir: string;
  redisDir: string;
  watchdog: number;
}

let buildDir: string;

beforeAll(async () => {
  // Inside the package (git-ignored node_modules) so the child finds the repo's .tools/bin
  // exactly as a real consumer does: by walking up to turbo.json.
  const cacheDir = join(import.meta.dirname, '..', 'node_modules', '.cache');
  await mkdir(cacheDir, { recursive: true });
  buildDir = await mkdtemp(join(cacheDir, 'harness-child-'));
  // Transpile only (typecheck is its own script): a full tsc run costs seconds.
  const srcDir = join(import.meta.dirname, '..', 'src');
  for (const file of await readdir(srcDir)) {
    if (!file.endsWith('.ts') || file === 'vitest.ts') continue;
    const out = ts.transpileModule(await readFile(join(srcDir, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2023 },
    });
    await writeFile(join(buildDir, file.replace(/\.ts$/, '.js')), out.outputText);
  }
  await writeFile(join(buildDir, 'package.json'), '{"type":"module"}');
  await writeFile(join(buildDir, 'child.js'), CHILD);
});

afterAll(async () => {
  await rm(buildDir, { recursive: true, force: true });
});

async function runChild(mode: 'hang' | 'exit' | 'natural' | 'throw' | 'watchdog-lost'): Promise<{
  report: ChildReport;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill: (signal: NodeJS.Signals) => void;
}> {
  const child = spawn(process.execPath, [join(buildDir, 'child.js'), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const report = await new Promise<ChildReport>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as ChildReport);
    });
    void exited.then(({ code, signal }) => reject(new Error(`child exited early (${code}/${signal}): ${err}`)));
  });
  return { report, exited, kill: (signal) => child.kill(signal) };
}

async function expectAllGone(report: ChildReport): Promise<void> {
  // ESRCH, not just "dead": the pid must be fully gone (exited and reaped).
  await expectGone(report.nats, 5_000);
  await expectGone(report.redis, 5_000);
  await expectGone(report.watchdog, 5_000);
  await waitFor(() => !existsSync(report.natsDir) && !existsSync(report.redisDir), {
    timeoutMs: 5_000,
    message: `temp dirs removed (${report.natsDir}, ${report.redisDir})`,
  });
}

// Concurrent: most of each test is waiting for the OS to reap the orphans.
describe.concurrent('no orphan servers', () => {
  it('a SIGKILLed test process takes its nats-server and redis-server with it', async ({ expect }) => {
    const { report, exited, kill } = await runChild('hang');
    expect([report.nats, report.redis, report.watchdog].map(isGone)).toEqual([false, false, false]);
    kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');
    await expectAllGone(report);
  });

  it('a SIGTERMed test process (no handlers, no exit event) leaves nothing behind', async ({ expect }) => {
    const { report, exited, kill } = await runChild('hang');
    kill('SIGTERM');
    expect((await exited).signal).toBe('SIGTERM');
    await expectAllGone(report);
  });

  it('process.exit() without dispose leaves nothing behind', async ({ expect }) => {
    const { report, exited } = await runChild('exit');
    expect((await exited).code).toBe(3);
    await expectAllGone(report);
  });

  it('forgotten servers do not keep a finished process alive, and are removed when it ends', async ({ expect }) => {
    const { report, exited } = await runChild('natural');
    expect((await exited).code).toBe(0);
    await expectAllGone(report);
  });

  it('an uncaught exception leaves nothing behind', async ({ expect }) => {
    const { report, exited } = await runChild('throw');
    expect((await exited).code).toBe(1);
    await expectAllGone(report);
  });

  it('a lost watchdog is replaced and re-armed with the servers already running', async ({ expect }) => {
    const { report, exited, kill } = await runChild('watchdog-lost');
    kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');
    await expectAllGone(report);
  });
});
