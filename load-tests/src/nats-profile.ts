/**
 * nats-server's CPU profile over a bench's publishing window (`--nats-profile`): the server serves
 * Go's pprof endpoints on its `prof_port`; the bench asks for a CPU profile as long as the
 * publishing, writes the `.pb.gz` and, when Go's pprof is there (`npm run tools -- --with-pprof`),
 * summarises it: the share of the server's samples under each part of its work that decides what
 * an order costs it. Earlier rounds could only time the server's operations from outside.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Time on top of the profile's own length for the server to answer. */
const FETCH_SLACK_MS = 30_000;
/** Lines pprof prints of the profile (enough to reach every part below). */
const PPROF_NODES = 2_000;
const PPROF_TIMEOUT_MS = 60_000;

/**
 * Parts of nats-server's work, by the function under which their samples fall (cumulative; a
 * part may contain another: publishes to a stream are stored from its internal loop).
 */
export const NATS_PROFILE_PARTS: ReadonlyArray<{ name: string; fn: RegExp }> = [
  { name: 'consumer state files (rewrite per delivered/acked change)', fn: /\(\*consumerFileStore\)\.flushLoop$/ },
  { name: 'consumers finding their next message', fn: /\(\*consumer\)\.getNextMsg$/ },
  { name: 'consumer pull requests and acks', fn: /\(\*consumer\)\.(processInboundNextMsgReqs|processInboundAcks)$/ },
  { name: 'streams storing messages (internal loop)', fn: /\(\*stream\)\.internalLoop$/ },
  { name: 'client reads, parsing and routing', fn: /\(\*client\)\.readLoop$/ },
  { name: 'client socket writes', fn: /\(\*client\)\.flushOutbound$/ },
  { name: 'Go garbage collector', fn: /^runtime\.gcBgMarkWorker$/ },
];

export interface NatsProfileSummary {
  /** The `.pb.gz` written. */
  file: string;
  /** Length of the profile asked for. */
  seconds: number;
  /** Server CPU over the window, % of one core (pprof's "Total samples" / duration). */
  cpuPct?: number;
  /** Cumulative share of the server's samples under each part of {@link NATS_PROFILE_PARTS}. */
  parts?: Array<{ name: string; pct: number }>;
  /** Functions with the most samples of their own. */
  top?: Array<{ fn: string; flatPct: number; cumPct: number }>;
  /** Why there is no summary (pprof missing or failed). */
  message?: string;
}

/** pprof's duration units in seconds (a bare number is seconds: only `0` is printed so). */
const UNIT_SECONDS: Readonly<Record<string, number>> = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, min: 60, mins: 60, h: 3600, hr: 3600, hrs: 3600 };

export interface PprofRow {
  fn: string;
  flatPct: number;
  cumPct: number;
}

/** Parses `pprof -top` text: the header's duration and total samples, then one row per function. */
export function parsePprofTop(text: string): { durationS: number; samplesS: number; rows: PprofRow[] } | undefined {
  // pprof scales both: `15.11s`, `1.02mins`, `850ms`; an empty profile says `Total samples = 0`.
  const head = /Duration:\s*([\d.]+)\s*([a-z]*),\s*Total samples\s*=\s*([\d.]+)\s*([a-z]*)/.exec(text);
  if (head === null) return undefined;
  const seconds = (v: string, unit: string): number => Number(v) * (UNIT_SECONDS[unit] ?? 1);
  const rows: PprofRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\w*\s+([\d.]+)%\s+[\d.]+%\s+[\d.]+\w*\s+([\d.]+)%\s+(.+?)\s*$/.exec(line);
    if (m !== null) rows.push({ fn: m[3]!.replace(/ \(inline\)$/, ''), flatPct: Number(m[1]), cumPct: Number(m[2]) });
  }
  return { durationS: seconds(head[1]!, head[2]!), samplesS: seconds(head[3]!, head[4]!), rows };
}

/** The summary of a parsed profile: parts by cumulative share, the top functions by their own. */
export function summarise(parsed: NonNullable<ReturnType<typeof parsePprofTop>>, topN = 12): Pick<NatsProfileSummary, 'cpuPct' | 'parts' | 'top'> {
  const parts = NATS_PROFILE_PARTS.map(({ name, fn }) => ({
    name,
    // A function can appear once per row; the largest cumulative row is the part.
    pct: parsed.rows.filter((r) => fn.test(r.fn)).reduce((max, r) => Math.max(max, r.cumPct), 0),
  }));
  const top = [...parsed.rows].sort((a, b) => b.flatPct - a.flatPct).slice(0, topN);
  return { cpuPct: parsed.durationS > 0 ? (100 * parsed.samplesS) / parsed.durationS : undefined, parts, top };
}

/** Go's pprof: `.tools/pprof/bin/pprof` (npm run tools -- --with-pprof), else undefined. */
export function findPprof(repoRoot: string): string | undefined {
  const tools = join(repoRoot, '.tools', 'pprof', 'bin', 'pprof');
  return existsSync(tools) ? tools : undefined;
}

/**
 * Starts a CPU profile of `seconds` on the server's profiling port; resolves when it is written
 * (and summarised, when pprof is found). Never rejects: a failure is the summary's `message`.
 */
export async function captureNatsProfile(opts: { port: number; seconds: number; file: string; pprof: string | undefined }): Promise<NatsProfileSummary> {
  const seconds = Math.max(1, Math.round(opts.seconds));
  const base: NatsProfileSummary = { file: opts.file, seconds };
  try {
    const res = await fetch(`http://127.0.0.1:${opts.port}/debug/pprof/profile?seconds=${seconds}`, {
      signal: AbortSignal.timeout(seconds * 1000 + FETCH_SLACK_MS),
    });
    if (!res.ok) return { ...base, message: `nats-server answered ${res.status} for its CPU profile` };
    await writeFile(opts.file, Buffer.from(await res.arrayBuffer()));
  } catch (err) {
    return { ...base, message: `no CPU profile from nats-server: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (opts.pprof === undefined) return { ...base, message: 'profile written; no summary: Go pprof missing (npm run tools -- --with-pprof)' };
  try {
    const { stdout } = await run(opts.pprof, ['-top', '-cum', `-nodecount=${PPROF_NODES}`, opts.file], {
      timeout: PPROF_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
    const parsed = parsePprofTop(stdout);
    if (parsed === undefined) return { ...base, message: 'pprof printed no profile header' };
    return { ...base, ...summarise(parsed) };
  } catch (err) {
    return { ...base, message: `pprof failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}
