import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findRepoRoot, freePort, startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../src/args.js';
import { captureNatsProfile, findPprof, NATS_PROFILE_PARTS, parsePprofTop, summarise } from '../src/nats-profile.js';
import { formatNatsProfile } from '../src/report.js';
import { natsProfileFile } from '../src/run.js';

const FIXTURE = readFileSync(new URL('./fixtures/pprof-top-nats-2.10.txt', import.meta.url), 'utf8');

describe('pprof -top summary', () => {
  it('reads the header and every row of a real nats-server 2.10 profile', () => {
    const parsed = parsePprofTop(FIXTURE)!;
    expect(parsed.durationS).toBeCloseTo(15.11);
    expect(parsed.samplesS).toBeCloseTo(2.71);
    expect(parsed.rows).toHaveLength(40);
    expect(parsed.rows[0]).toEqual({ fn: 'internal/runtime/syscall.Syscall6', flatPct: 43.91, cumPct: 43.91 });
  });

  it('names the parts by their cumulative share and lists the top functions by their own', () => {
    const s = summarise(parsePprofTop(FIXTURE)!);
    expect(s.cpuPct).toBeCloseTo((100 * 2.71) / 15.11);
    expect(s.parts?.map((p) => p.name)).toEqual(NATS_PROFILE_PARTS.map((p) => p.name));
    expect(s.parts?.find((p) => p.name.startsWith('consumer state files'))?.pct).toBeCloseTo(30.63);
    expect(s.top?.[0]?.fn).toBe('internal/runtime/syscall.Syscall6');
    expect(s.top?.map((t) => t.flatPct)).toEqual([...(s.top ?? [])].map((t) => t.flatPct).sort((a, b) => b - a));
    const text = formatNatsProfile({ file: 'x.pb.gz', seconds: 15, ...s });
    expect(text).toContain('consumer state files');
    expect(text).toContain('(*consumerFileStore).flushLoop');
  });

  it('reads the scaled units pprof prints, and an empty profile', () => {
    expect(parsePprofTop('Duration: 1.50mins, Total samples = 850ms (0.94%)\n')).toMatchObject({ durationS: 90, samplesS: 0.85, rows: [] });
    expect(parsePprofTop('Duration: 1s, Total samples = 0 \n')).toMatchObject({ durationS: 1, samplesS: 0 });
  });

  it('is undefined for text that is not pprof output', () => {
    expect(parsePprofTop('pprof: unknown flag')).toBeUndefined();
  });
});

describe('--nats-profile', () => {
  it('is a flag of delivery runs on the own stack, and its file goes beside --out', () => {
    expect(parseBenchArgs(['--nats-profile']).natsProfile).toBe(true);
    expect(parseBenchArgs([]).natsProfile).toBe(false);
    expect(() => parseBenchArgs(['--nats-profile', '--target', 'local'])).toThrow(/--target own/);
    expect(() => parseBenchArgs(['--nats-profile', '--profile', 'ingest-capacity'])).toThrow(/delivery run/);
    expect(natsProfileFile('/tmp/x/run.json', 'r1')).toBe('/tmp/x/run.nats-cpu.pb.gz');
    expect(natsProfileFile(undefined, 'r1')).toMatch(/load-tests\/results\/nats-cpu-r1\.pb\.gz$/);
  });
});

describe('captureNatsProfile against a real nats-server', () => {
  let nats: NatsServerHandle;
  let port: number;
  let dir: string;
  beforeAll(async () => {
    port = await freePort();
    nats = await startNats({ config: `prof_port: ${port}` });
    dir = mkdtempSync(join(tmpdir(), 'nats-profile-'));
  });
  afterAll(async () => {
    await nats?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the server’s gzipped profile, and summarises it when pprof is there', async () => {
    const pprof = findPprof(findRepoRoot(process.cwd())!);
    const file = join(dir, 'p.pb.gz');
    const s = await captureNatsProfile({ port, seconds: 1, file, pprof });
    expect(existsSync(file)).toBe(true);
    expect([...readFileSync(file).subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    if (pprof === undefined) expect(s.message).toMatch(/pprof missing/);
    else {
      expect(s.message).toBeUndefined();
      expect(s.parts).toHaveLength(NATS_PROFILE_PARTS.length);
    }
  });

  it('says why when the server serves no profile', async () => {
    const s = await captureNatsProfile({ port: await freePort(), seconds: 1, file: join(dir, 'none.pb.gz'), pprof: undefined });
    expect(s.message).toMatch(/no CPU profile from nats-server/);
    expect(existsSync(join(dir, 'none.pb.gz'))).toBe(false);
  });
});
