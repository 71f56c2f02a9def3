/**
 * Parser for the Prometheus text exposition format (what prom-client's `/metrics` serves):
 * `# HELP`, `# TYPE` and sample lines. Only what the checks need is kept — per metric family
 * its type, how many samples it has, the label names seen, the `le` bounds of a histogram and
 * the values of the `service` label.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped' | 'info' | 'stateset' | 'gaugehistogram';

export interface MetricFamily {
  readonly name: string;
  type: MetricType;
  help: string | undefined;
  /** Number of sample lines. 0 when only `# HELP` / `# TYPE` were served (no series yet). */
  samples: number;
  readonly labelNames: Set<string>;
  /** `le` bounds of histogram buckets, as numbers (`+Inf` → Infinity). */
  readonly buckets: Set<number>;
  /** Values of the `service` label on its samples. */
  readonly services: Set<string>;
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly families: ReadonlyMap<string, MetricFamily>;
  readonly samples: readonly Sample[];
}

/** Suffixes of sample names that belong to a family of another name, by family type. */
const FAMILY_SUFFIXES: ReadonlyArray<readonly [string, readonly MetricType[]]> = [
  ['_bucket', ['histogram', 'gaugehistogram']],
  ['_sum', ['histogram', 'summary']],
  ['_count', ['histogram', 'summary']],
  ['_total', ['counter']],
  ['_created', ['counter', 'histogram', 'summary']],
  ['_info', ['info']],
  ['_gcount', ['gaugehistogram']],
  ['_gsum', ['gaugehistogram']],
];

function family(map: Map<string, MetricFamily>, name: string): MetricFamily {
  let f = map.get(name);
  if (f === undefined) {
    f = { name, type: 'untyped', help: undefined, samples: 0, labelNames: new Set(), buckets: new Set(), services: new Set() };
    map.set(name, f);
  }
  return f;
}

function parseLabels(text: string, start: number, line: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (text[i] === '}') return { labels, end: i + 1 };
    const nameMatch = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (!nameMatch) throw new Error(`bad label name in: ${line}`);
    const name = nameMatch[0];
    i += name.length;
    while (text[i] === ' ') i++;
    if (text[i] !== '=' || text[i + 1] !== '"') throw new Error(`bad label ${name} in: ${line}`);
    i += 2;
    let value = '';
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') {
        const n = text[i + 1];
        value += n === 'n' ? '\n' : (n ?? '');
        i += 2;
      } else {
        value += text[i];
        i++;
      }
    }
    if (i >= text.length) throw new Error(`unterminated label value in: ${line}`);
    labels[name] = value;
    i++;
  }
}

/** Go and prom-client spell the special values differently (`+Inf`, `Nan`); compare case-insensitively. */
function parseNumber(s: string): number {
  const lower = s.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  return s.trim() === '' ? NaN : Number(s);
}

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(families: Map<string, MetricFamily>, sampleName: string): string {
  if (families.has(sampleName)) {
    const f = families.get(sampleName)!;
    // prom-client declares counters with their `_total`; OpenMetrics declares them without.
    if (f.type !== 'untyped' || f.help !== undefined) return sampleName;
  }
  for (const [suffix, types] of FAMILY_SUFFIXES) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = sampleName.slice(0, -suffix.length);
    const f = families.get(base);
    if (f !== undefined && types.includes(f.type)) return base;
  }
  return sampleName;
}

/**
 * Parses exposition text. Lines that are not HELP/TYPE comments or samples are ignored;
 * a malformed sample line throws with the line in the message.
 */
export function parseExposition(text: string): Exposition {
  const families = new Map<string, MetricFamily>();
  const samples: Sample[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+([A-Za-z_:][A-Za-z0-9_:]*)(?:\s+(.*))?$/.exec(line);
      if (!m) continue;
      const f = family(families, m[2]!);
      if (m[1] === 'HELP') f.help = m[3] ?? '';
      else f.type = (m[3]?.trim() ?? 'untyped') as MetricType;
      continue;
    }
    const nameMatch = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line);
    if (!nameMatch) throw new Error(`bad sample line: ${line}`);
    const name = nameMatch[0];
    let rest = name.length;
    let labels: Record<string, string> = {};
    if (line[rest] === '{') {
      const parsed = parseLabels(line, rest, line);
      labels = parsed.labels;
      rest = parsed.end;
    }
    const valueText = line.slice(rest).trim().split(/\s+/)[0] ?? '';
    const value = parseNumber(valueText);
    if (Number.isNaN(value) && valueText.toLowerCase() !== 'nan') throw new Error(`bad sample value in: ${line}`);
    samples.push({ name, labels, value });
    const f = family(families, familyOf(families, name));
    f.samples++;
    for (const l of Object.keys(labels)) f.labelNames.add(l);
    if (labels.le !== undefined && name.endsWith('_bucket')) f.buckets.add(parseNumber(labels.le));
    if (labels.service !== undefined) f.services.add(labels.service);
  }
  return { families, samples };
}

/** The most frequent value of the `service` label among the samples, if any. */
export function dominantService(exposition: Exposition): string | undefined {
  const counts = new Map<string, number>();
  for (const s of exposition.samples) {
    const v = s.labels.service;
    if (v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  let best: string | undefined;
  let bestCount = 0;
  for (const [v, c] of counts) {
    if (c > bestCount) {
      best = v;
      bestCount = c;
    }
  }
  return best;
}
