/**
 * Does a process grow? The soak samples RSS, heap, open file descriptors and event-loop delay per
 * process; after a warm-up, the least-squares slope of each series, scaled to an hour and taken
 * relative to the series' mean, is its growth. Pure, unit-tested.
 */

export interface Point {
  /** ms since the soak started */
  t: number;
  v: number;
}

/** Growth of a series after `warmupMs`, in % of its mean per hour; undefined with fewer than 3 points. */
export function growthPerHour(points: readonly Point[], warmupMs: number): number | undefined {
  const after = points.filter((p) => p.t >= warmupMs);
  if (after.length < 3) return undefined;
  const n = after.length;
  const meanT = after.reduce((s, p) => s + p.t, 0) / n;
  const meanV = after.reduce((s, p) => s + p.v, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of after) {
    num += (p.t - meanT) * (p.v - meanV);
    den += (p.t - meanT) ** 2;
  }
  if (den === 0 || meanV === 0) return 0;
  const slopePerMs = num / den;
  return ((slopePerMs * 3_600_000) / meanV) * 100;
}

/** Span of the series after warm-up, ms. */
export function spanAfter(points: readonly Point[], warmupMs: number): number {
  const after = points.filter((p) => p.t >= warmupMs);
  return after.length < 2 ? 0 : after[after.length - 1]!.t - after[0]!.t;
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Values of a Prometheus text exposition by metric name (first sample of each, labels ignored). */
export function scrapeValues(text: string, names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const [, name, value] = m;
    if (name !== undefined && names.includes(name) && out[name] === undefined) {
      const v = Number(value);
      if (Number.isFinite(v)) out[name] = v;
    }
  }
  return out;
}
