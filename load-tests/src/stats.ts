/** Latency samples and percentiles. Samples are kept (not bucketed): a run has at most a few million. */

export interface LatencySummary {
  count: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** A growable Float64Array of samples. */
export class Samples {
  private data: Float64Array;
  private n = 0;

  constructor(initialCapacity = 1024) {
    this.data = new Float64Array(Math.max(1, initialCapacity));
  }

  get count(): number {
    return this.n;
  }

  add(value: number): void {
    if (!Number.isFinite(value)) return;
    if (this.n === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.n++] = value;
  }

  values(): Float64Array {
    return this.data.subarray(0, this.n);
  }

  summary(): LatencySummary | undefined {
    return summarize(this.values());
  }
}

/** Nearest-rank percentile (`q` in 0..1) of sorted values. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (q <= 0) return sorted[0]!;
  if (q >= 1) return sorted[sorted.length - 1]!;
  return sorted[Math.ceil(q * sorted.length) - 1]!;
}

export function summarize(values: ArrayLike<number>): LatencySummary | undefined {
  if (values.length === 0) return undefined;
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    min: sorted[0]!,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1]!,
    mean: sum / sorted.length,
  };
}

/** Rounds for display: 3 significant decimals below 10, 1 above. */
export function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  return Math.abs(value) < 10 ? Math.round(value * 1000) / 1000 : Math.round(value * 10) / 10;
}

/** One window of {@link LatencyTimeline}: the orders scheduled in [fromS, toS). */
export interface LatencyWindow {
  fromS: number;
  toS: number;
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * Latency by when the order was scheduled (order `n` is due at n / rate seconds): tells a tail that
 * is spread over the run (steady queueing) from one made in a few seconds (a stall: a GC, a flush,
 * a fault).
 */
export class LatencyTimeline {
  private readonly windows: Samples[] = [];

  constructor(
    private readonly ordersPerSecond: number,
    readonly windowS: number,
  ) {
    if (!(ordersPerSecond > 0) || !(windowS > 0)) throw new RangeError('ordersPerSecond and windowS must be > 0');
  }

  add(orderNumber: number, value: number): void {
    const w = Math.floor(orderNumber / this.ordersPerSecond / this.windowS);
    if (!(w >= 0) || !Number.isFinite(w)) return;
    (this.windows[w] ??= new Samples(256)).add(value);
  }

  summary(): LatencyWindow[] {
    const out: LatencyWindow[] = [];
    this.windows.forEach((samples, w) => {
      const s = samples.summary();
      if (s !== undefined) out.push({ fromS: w * this.windowS, toS: (w + 1) * this.windowS, count: s.count, p50: s.p50, p99: s.p99, max: s.max });
    });
    return out;
  }
}
