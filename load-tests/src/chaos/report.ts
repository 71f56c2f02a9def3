/** The chaos suite's table (stdout) and JSON shape. Pure. */
import type { CaseResult, ChaosLoad } from './run-case.js';

export interface ChaosReport {
  version: 1;
  startedAt: string;
  command: string;
  natsVersion: string;
  load: ChaosLoad;
  machine: { cpus: number; loadAverage1m: number };
  cases: CaseResult[];
  /** Cases that could not run here (e.g. not root), with the reason. */
  skipped: Array<{ id: string; reason: string }>;
  ok: boolean;
}

const pct = (x: number): string => `${Math.round(x * 1000) / 10}%`;
const ms = (x: number | undefined): string => (x === undefined ? '—' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);

export const TABLE_COLUMNS = [
  'case',
  'accepted',
  'shown',
  'lost',
  'dup screen',
  'dup wire',
  '2xx / 503 in fault',
  'longest gap',
  'recovery',
  'p99 in fault',
  'result',
] as const;

export function tableRow(r: CaseResult): string[] {
  const other = Object.entries(r.availability.other)
    .map(([k, v]) => `${k}×${v}`)
    .join(' ');
  return [
    `${r.id} ${r.slug}`,
    String(r.accepted),
    `${r.displayed}/${r.expected}`,
    String(r.lost),
    String(r.duplicatesShown),
    String(r.duplicatesOnWire),
    `${pct(r.availability.ok)} / ${pct(r.availability.unavailable)}${other === '' ? '' : ` (${other})`} of ${r.availability.requests}`,
    ms(r.longestGapMs),
    ms(r.recoveryMs),
    ms(r.faultLatencyP99Ms),
    r.ok ? 'ok' : `FAIL: ${r.failures.join('; ')}`,
  ];
}

export function formatTable(report: ChaosReport): string {
  const rows = [TABLE_COLUMNS.slice() as string[], ...report.cases.map(tableRow)];
  const widths = TABLE_COLUMNS.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const out = [
    `nats-server ${report.natsVersion}; ${report.load.displays} displays (fanout ${report.load.fanout}), ${report.load.rate} orders/s; ${report.machine.cpus} CPUs, load ${report.machine.loadAverage1m.toFixed(1)}`,
    line(rows[0]!),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.slice(1).map(line),
  ];
  for (const s of report.skipped) out.push(`skipped ${s.id}: ${s.reason}`);
  for (const r of report.cases) {
    const extra = Object.entries(r.observed);
    if (extra.length > 0) out.push(`${r.id}: ${extra.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  }
  out.push(report.ok ? 'chaos: every case passed' : `chaos: ${report.cases.filter((c) => !c.ok).length} case(s) failed, ${report.skipped.length} not run`);
  return out.join('\n');
}
