import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { waitFor } from '@orderwire/test-harness';
import { parseMachineCpu, parseStatCpuSeconds, parseStatusMemory, sampleProcess, startProcessSampler } from '../src/proc-stats.js';

describe('/proc parsing', () => {
  it('reads utime + stime even when the command name has spaces and parentheses', () => {
    const stat = '4242 (node (worker) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 1000 1000000 5000';
    expect(parseStatCpuSeconds(stat, 100)).toBe(3);
    expect(() => parseStatCpuSeconds('garbage', 100)).toThrow();
  });

  it('reads VmRSS and VmHWM', () => {
    expect(parseStatusMemory('Name:\tnode\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n')).toEqual({ rssBytes: 1024 * 1024, hwmBytes: 2048 * 1024 });
  });

  it('reads machine busy and total jiffies', () => {
    expect(parseMachineCpu('cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n')).toEqual({ busy: 150, total: 1000, softirq: 0 });
    expect(parseMachineCpu('cpu  100 0 50 800 40 5 5 0 0 0\n')).toEqual({ busy: 160, total: 1000, softirq: 10 });
  });

  it('samples this process', () => {
    const s = sampleProcess(process.pid);
    expect(s?.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(s?.cpuSeconds).toBeGreaterThan(0);
    expect(sampleProcess(2 ** 22 + 12345)).toBeUndefined();
  });
});

describe('process sampler', () => {
  it('attributes a busy child’s CPU and follows a restart under the same name', async () => {
    const busy = () => spawn(process.execPath, ['-e', 'const end = Date.now() + 5000; while (Date.now() < end) {}'], { stdio: 'ignore' });
    let child = busy();
    const sampler = startProcessSampler(() => [{ name: 'spinner', pid: child.exitCode === null ? child.pid : undefined }], 100);
    try {
      await new Promise((r) => setTimeout(r, 600));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      child = busy();
      await waitFor(() => sampleProcess(child.pid!) !== undefined, { timeoutMs: 5_000 });
      await new Promise((r) => setTimeout(r, 400));
      sampler.sample();
    } finally {
      child.kill('SIGKILL');
    }
    const [usage] = sampler.stop();
    expect(usage?.name).toBe('spinner');
    expect(usage?.pids).toHaveLength(2);
    expect(usage?.cpuSeconds).toBeGreaterThan(0.2);
    expect(usage?.cpuPeakPercent).toBeGreaterThan(30);
    expect(usage?.rssMaxMB).toBeGreaterThan(5);
    const machine = sampler.machine();
    expect(machine?.busyPercent).toBeGreaterThan(0);
    expect(machine?.measuredPercent).toBeGreaterThan(0);
    for (const o of machine?.topOther ?? []) expect(o.cpuPercent).toBeGreaterThanOrEqual(0);
  });
});
