/**
 * Which metrics `docs/metrics.md` documents: the backticked name in the first cell of a table
 * row (`| \`orderwire_x_total\` | counter | ... |`). A name ending in `*` documents a family by
 * prefix (`orderwire_node_*` for the default Node.js metrics).
 */
import type { ExpectedMetrics } from './expected.js';

export interface DocumentedMetrics {
  readonly names: ReadonlySet<string>;
  readonly prefixes: readonly string[];
}

export function documentedMetrics(markdown: string): DocumentedMetrics {
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const line of markdown.split('\n')) {
    const row = /^\s*\|([^|]*)\|/.exec(line);
    if (!row) continue;
    for (const m of row[1]!.matchAll(/`([A-Za-z_:][A-Za-z0-9_:]*\*?)`/g)) {
      const name = m[1]!;
      if (name.endsWith('*')) prefixes.push(name.slice(0, -1));
      else names.add(name);
    }
  }
  return { names, prefixes };
}

/** Expected service metrics that `docs/metrics.md` does not document, sorted. */
export function undocumentedMetrics(expected: ExpectedMetrics, markdown: string): string[] {
  const docs = documentedMetrics(markdown);
  return expected.metrics
    .map((m) => m.name)
    .filter((n) => !docs.names.has(n) && !docs.prefixes.some((p) => n.startsWith(p)))
    .sort();
}
