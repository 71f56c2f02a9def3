/**
 * CPU and RSS of processes from /proc (Linux): `/proc/<pid>/stat` utime+stime for CPU,
 * `/proc/<pid>/status` VmRSS/VmHWM for memory. Sampled on an interval; a process that restarts
 * under the same name (an edge after SIGKILL, NATS after a restart) continues its series.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';

/** 1000 ms between samples */
export const DEFAULT_SAMPLE_INTERVAL_MS = 1000;

export interface ProcSample {
  /** utime + stime in seconds */
  cpuSeconds: number;
  rssBytes: number;
  /** Peak RSS of the process so far (VmHWM). */
  hwmBytes: number;
}

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // getconf missing: 100 is the Linux default USER_HZ.
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Parses the text of `/proc/<pid>/stat` → CPU seconds. The command name may contain spaces and parentheses. */
export function parseStatCpuSeconds(stat: string, ticks: number = ticksPerSecond()): number {
  const close = stat.lastIndexOf(')');
  if (close === -1) throw new Error('malformed /proc/<pid>/stat');
  // Fields after "comm": state(3) ppid(4) … utime(14) stime(15).
  const fields = stat.slice(close + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('malformed /proc/<pid>/stat');
  return (utime + stime) / ticks;
}

/** Parses `/proc/<pid>/status` → VmRSS and VmHWM in bytes. */
export function parseStatusMemory(status: string): { rssBytes: number; hwmBytes: number } {
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    return m === null ? 0 : Number(m[1]) * 1024;
  };
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

/** One sample of a live process; undefined when it is gone. */
export function sampleProcess(pid: number): ProcSample | undefined {
  try {
    const cpuSeconds = parseStatCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return { cpuSeconds, ...parseStatusMemory(readFileSync(`/proc/${pid}/status`, 'utf8')) };
  } catch {
    return undefined;
  }
}

/** Jiffies of the whole machine from the first line of `/proc/stat`. */
export function parseMachineCpu(stat: string): { busy: number; total: number; softirq: number } {
  const line = stat.split('\n', 1)[0] ?? '';
  if (!line.startsWith('cpu ')) throw new Error('malformed /proc/stat');
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user/nice).
  const total = v.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total, softirq: (v[5] ?? 0) + (v[6] ?? 0) };
}

function machineCpu(): { busy: number; total: number; softirq: number } | undefined {
  try {
    return parseMachineCpu(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** The whole machine over the window: how busy, and how much of that was not the measured processes. */
export interface MachineUsage {
  cores: number;
  /** Busy share of all cores: 100 = every core busy. */
  busyPercent: number;
  /** CPU of the measured processes, in % of all cores. */
  measuredPercent: number;
  /** Everything else (other workloads on the machine), in % of all cores. */
  otherPercent: number;
  /** Interrupt + softirq time (loopback networking lands here), in % of all cores; part of otherPercent. */
  irqPercent: number;
  /** The busiest processes that were not measured, by command name, in % of one core. */
  topOther: Array<{ command: string; cpuPercent: number }>;
}

/** CPU seconds of every process on the machine, by pid, with its command name. */
function allProcesses(): Map<number, { command: string; cpuSeconds: number }> {
  const out = new Map<number, { command: string; cpuSeconds: number }>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      out.set(Number(pid), { command, cpuSeconds: parseStatCpuSeconds(stat) });
    } catch {
      // The process ended between readdir and read.
    }
  }
  return out;
}

export interface ProcessRef {
  name: string;
  /** Current pid, or undefined while the process is down. */
  pid: number | undefined;
}

export interface ProcessUsage {
  name: string;
  /** CPU seconds used inside the window (since `mark()`, else since start; all incarnations). */
  cpuSeconds: number;
  /** cpuSeconds / window: 100 = one core busy. */
  cpuAvgPercent: number;
  /** Highest one-interval CPU. */
  cpuPeakPercent: number;
  rssMaxMB: number;
  rssLastMB: number;
  /** RSS at the `mark()`ed moment (e.g. all displays connected, before orders). */
  rssMarkedMB: number | undefined;
  /** Incarnations seen (more than 1 after a restart). */
  pids: number[];
}

interface Series {
  name: string;
  pids: number[];
  cpuSeconds: number;
  lastPid: number | undefined;
  lastCpu: number;
  cpuPeakPercent: number;
  rssMax: number;
  rssLast: number;
  rssMarked: number | undefined;
}

export interface ProcessSampler {
  /** Takes a sample now (also done on the interval). */
  sample(): void;
  /** Remembers each process's current RSS as `rssMarkedMB` and restarts the CPU window here. */
  mark(): void;
  /** CPU of each process since the last `mark()` (or the start), in % of one core; keeps sampling. */
  cpuSinceMark(): Record<string, number>;
  stop(): ProcessUsage[];
  /** Machine-wide CPU over the same window (after `stop()`). */
  machine(): MachineUsage | undefined;
}

const MB = 1024 * 1024;

export function startProcessSampler(
  processes: () => readonly ProcessRef[],
  intervalMs: number = DEFAULT_SAMPLE_INTERVAL_MS,
): ProcessSampler {
  const series = new Map<string, Series>();
  let startedAt = performance.now();
  let lastAt = startedAt;
  let stoppedAt: number | undefined;
  let machineStart = machineCpu();
  let machineEnd: ReturnType<typeof machineCpu>;
  let everyoneStart = allProcesses();
  let everyoneEnd = new Map<number, { command: string; cpuSeconds: number }>();

  const sample = (): void => {
    const now = performance.now();
    const dt = (now - lastAt) / 1000;
    lastAt = now;
    for (const ref of processes()) {
      let s = series.get(ref.name);
      if (s === undefined) {
        s = { name: ref.name, pids: [], cpuSeconds: 0, lastPid: undefined, lastCpu: 0, cpuPeakPercent: 0, rssMax: 0, rssLast: 0, rssMarked: undefined };
        series.set(ref.name, s);
      }
      if (ref.pid === undefined) continue;
      const p = sampleProcess(ref.pid);
      if (p === undefined) continue;
      if (s.lastPid !== ref.pid) {
        // New incarnation: its CPU before the first sample is not attributed to the window.
        if (!s.pids.includes(ref.pid)) s.pids.push(ref.pid);
        s.lastPid = ref.pid;
        s.lastCpu = p.cpuSeconds;
      } else {
        const used = Math.max(0, p.cpuSeconds - s.lastCpu);
        s.cpuSeconds += used;
        s.lastCpu = p.cpuSeconds;
        if (dt > 0) s.cpuPeakPercent = Math.max(s.cpuPeakPercent, (used / dt) * 100);
      }
      s.rssLast = p.rssBytes;
      s.rssMax = Math.max(s.rssMax, p.rssBytes);
    }
  };

  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();

  return {
    sample,
    mark() {
      sample();
      startedAt = lastAt;
      machineStart = machineCpu();
      everyoneStart = allProcesses();
      for (const s of series.values()) {
        s.rssMarked = s.rssLast;
        s.cpuSeconds = 0;
        s.cpuPeakPercent = 0;
      }
    },
    cpuSinceMark() {
      sample();
      const window = (lastAt - startedAt) / 1000;
      return Object.fromEntries([...series.values()].map((s) => [s.name, window > 0 ? (s.cpuSeconds / window) * 100 : 0]));
    },
    stop() {
      if (stoppedAt === undefined) {
        sample();
        clearInterval(timer);
        stoppedAt = performance.now();
        machineEnd = machineCpu();
        everyoneEnd = allProcesses();
      }
      const window = (stoppedAt - startedAt) / 1000;
      return [...series.values()].map((s) => ({
        name: s.name,
        cpuSeconds: s.cpuSeconds,
        cpuAvgPercent: window > 0 ? (s.cpuSeconds / window) * 100 : 0,
        cpuPeakPercent: s.cpuPeakPercent,
        rssMaxMB: s.rssMax / MB,
        rssLastMB: s.rssLast / MB,
        rssMarkedMB: s.rssMarked === undefined ? undefined : s.rssMarked / MB,
        pids: s.pids,
      }));
    },
    machine() {
      if (machineStart === undefined || machineEnd === undefined || stoppedAt === undefined) return undefined;
      const total = machineEnd.total - machineStart.total;
      if (total <= 0) return undefined;
      const cores = cpus().length;
      const busyPercent = ((machineEnd.busy - machineStart.busy) / total) * 100;
      const window = (stoppedAt - startedAt) / 1000;
      let measured = 0;
      for (const s of series.values()) measured += s.cpuSeconds;
      const measuredPercent = window > 0 ? (measured / window / cores) * 100 : 0;
      const ours = new Set<number>();
      for (const s of series.values()) for (const pid of s.pids) ours.add(pid);
      const byCommand = new Map<string, number>();
      for (const [pid, end] of everyoneEnd) {
        if (ours.has(pid)) continue;
        const used = end.cpuSeconds - (everyoneStart.get(pid)?.cpuSeconds ?? 0);
        if (used > 0) byCommand.set(end.command, (byCommand.get(end.command) ?? 0) + used);
      }
      const topOther = [...byCommand.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([command, used]) => ({ command, cpuPercent: window > 0 ? (used / window) * 100 : 0 }));
      return {
        cores,
        busyPercent,
        measuredPercent,
        otherPercent: Math.max(0, busyPercent - measuredPercent),
        irqPercent: ((machineEnd.softirq - machineStart.softirq) / total) * 100,
        topOther,
      };
    },
  };
}
