/**
 * Summary of a V8 `.cpuprofile` (from `node --cpu-prof`): busy time, the top functions by self
 * time, and the share of busy time spent under a few functions the ingest benchmark watches
 * (inclusive: a sample counts once if any frame of its stack matches).
 *
 *   npx tsx services/ingest/bench/profile-top.ts <file.cpuprofile> [top=25]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const IDLE = new Set(['(idle)', '(program)']);

/** Inclusive buckets: name → test on a frame. */
const WATCH: Array<[string, (f: ProfileNode['callFrame']) => boolean]> = [
  ['socket writes (writev/writeBuffer/writeUtf8String)', (f) => /^(writev|writeBuffer|writeUtf8String|writeLatin1String)$/.test(f.functionName) && f.url === ''],
  ['jose jwtVerify', (f) => f.functionName === 'jwtVerify' && f.url.includes('jose')],
  ['nats-core request() (RequestOne etc.)', (f) => f.functionName === 'request' && f.url.includes('nats-core/lib/nats.js')],
  ['jetstream publish', (f) => f.functionName === '_publish' && f.url.includes('jetstream')],
  ['Error construction (captureStackTrace / new *Error)', (f) => /Error$/.test(f.functionName) && f.url.includes('node_modules')],
  ['pino child', (f) => f.functionName === 'child' && f.url.includes('pino')],
  ['pino write (log lines)', (f) => (f.functionName === 'write' || f.functionName === 'LOG') && f.url.includes('pino/lib/proto')],
  ['garbage collector', (f) => f.functionName === '(garbage collector)'],
];

export function summarizeProfile(file: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));

  let total = 0;
  let busy = 0;
  const selfByFn = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    total += us;
    if (IDLE.has(node.callFrame.functionName)) continue;
    busy += us;
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url === '' ? '(native)' : `${shortUrl(f.url)}:${f.lineNumber + 1}`}`;
    selfByFn.set(key, (selfByFn.get(key) ?? 0) + us);
    const hit = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)!.callFrame;
      for (const [name, test] of WATCH) if (test(frame)) hit.add(name);
    }
    for (const name of hit) inclusive.set(name, (inclusive.get(name) ?? 0) + us);
  }
  const pc = (us: number): string => `${((us / busy) * 100).toFixed(1).padStart(5)} %`;
  const lines = [
    `profile ${basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(2)} s busy`,
    'top self time (share of busy):',
    ...[...selfByFn.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `  ${pc(us)}  ${k}`),
    'inclusive (share of busy):',
    ...WATCH.map(([name]) => `  ${pc(inclusive.get(name) ?? 0)}  ${name}`),
  ];
  return lines.join('\n');
}

function shortUrl(url: string): string {
  const i = url.lastIndexOf('node_modules/');
  if (i !== -1) return url.slice(i + 'node_modules/'.length);
  const s = url.indexOf('/services/');
  return s !== -1 ? url.slice(s + 1) : url.replace(/^file:\/\//, '');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: profile-top.ts <file.cpuprofile> [top]');
  console.log(summarizeProfile(file, top === undefined ? 25 : Number(top)));
}
