import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HarnessErrorCode, disposeAll, startServiceProcess } from '../src/index.js';

// A tiny HTTP service: ready after READY_DELAY_MS, exits with EXIT_CODE when asked to.
const SERVICE = `
import { createServer } from 'node:http';
const started = Date.now();
const delay = Number(process.env.READY_DELAY_MS ?? 0);
if (process.env.CRASH === '1') { console.error('boom: config invalid'); process.exit(3); }
const server = createServer((req, res) => {
  if (req.url === '/readyz') { res.statusCode = Date.now() - started >= delay ? 200 : 503; res.end(); return; }
  res.end(JSON.stringify({ pid: process.pid, greeting: process.env.GREETING }));
});
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => { console.log('draining'); server.close(() => process.exit(0)); });
`;

let main: string;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ow-svc-'));
  main = join(dir, 'service.mjs');
  await writeFile(main, SERVICE);
});

afterAll(async () => {
  await disposeAll();
});

async function get(url: string): Promise<{ pid: number; greeting: string }> {
  const res = await fetch(url);
  return (await res.json()) as { pid: number; greeting: string };
}

describe('startServiceProcess', () => {
  it('waits for readiness, passes env, and stops gracefully with SIGTERM', async () => {
    const svc = await startServiceProcess({ name: 'svc', main, env: { GREETING: 'hi', READY_DELAY_MS: '300' } });
    const body = await get(svc.url);
    expect(body).toEqual({ pid: svc.pid, greeting: 'hi' });
    const info = await svc.stop();
    expect(info).toEqual({ code: 0, signal: null });
    expect(svc.logs()).toContain('draining');
    await svc.dispose();
  });

  it('kill() then start() brings it back on the same port with a new pid', async () => {
    const svc = await startServiceProcess({ name: 'svc', main });
    const firstPid = svc.pid;
    const info = await svc.kill();
    expect(info?.signal).toBe('SIGKILL');
    expect(() => process.kill(firstPid, 0)).toThrow();
    await svc.start();
    expect(svc.pid).not.toBe(firstPid);
    expect((await get(svc.url)).pid).toBe(svc.pid);
    await svc.dispose();
    expect(svc.running).toBe(false);
  });

  it('fails fast with the service output when it exits during start', async () => {
    const err = await startServiceProcess({ name: 'crashy', main, env: { CRASH: '1' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: HarnessErrorCode.ExitedEarly });
    expect(String((err as Error).message)).toContain('boom: config invalid');
  });

  it('times out when the service never becomes ready', async () => {
    const err = await startServiceProcess({
      name: 'slow',
      main,
      env: { READY_DELAY_MS: '60000' },
      startTimeoutMs: 500,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: HarnessErrorCode.StartTimeout });
  });
});
