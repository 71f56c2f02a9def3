/**
 * Finds the metric names a PromQL expression reads. Not a full parser: a tokenizer plus the few
 * grammar facts that decide whether an identifier is a metric — functions and aggregations are
 * followed by `(`, keywords are a closed set, label names only occur inside `{...}` or in the
 * label lists of `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`, and `[...]` holds
 * durations. Grafana variables (`$__rate_interval`, `${datasource}`, `[[var]]`) are skipped.
 */
import { CheckError, CheckErrorCode } from './errors.js';

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  readonly name: string;
  readonly op: MatchOp;
  readonly value: string;
}

export interface ExtractedMetric {
  /** The identifier as written, e.g. `orderwire_edge_ack_latency_seconds_bucket`. */
  readonly raw: string;
  /**
   * The name a service registers: `raw` without a histogram/summary series suffix
   * (`_bucket`, `_sum`, `_count`). Equal to `raw` when there is no such suffix.
   */
  readonly base: string;
}

export interface ExtractedSelector extends ExtractedMetric {
  /** Label matchers of this selector, without the one naming the metric (`__name__`). */
  readonly matchers: readonly LabelMatcher[];
}

/** Series suffixes a histogram or summary adds to its registered name. */
export const SERIES_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/** Aggregation operators: keywords, never metric names, whether or not `(` follows directly. */
const AGGREGATORS = new Set([
  'sum',
  'avg',
  'count',
  'min',
  'max',
  'group',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'limitk',
  'limit_ratio',
]);

/** Keywords followed by a parenthesised list of label names. */
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/** Other keywords and literals. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan']);

type Token =
  | { kind: 'ident'; value: string; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'number'; value: string; pos: number }
  | { kind: 'var'; value: string; pos: number }
  | { kind: 'punct'; value: string; pos: number };

const IDENT_START = /[A-Za-z_:]/;
const IDENT_CHAR = /[A-Za-z0-9_:]/;
/** Numbers, hex, exponents and durations such as `5m`, `1h30m`, `250ms`. */
const NUMBER_RE = /^(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:[a-zA-Z]+\d*)*)/;
const PUNCT = ['=~', '!~', '!=', '==', '>=', '<=', '(', ')', '{', '}', '[', ']', ',', '=', '<', '>', '+', '-', '*', '/', '%', '^', '@', ':'];

function syntax(expr: string, pos: number, what: string): CheckError {
  return new CheckError(CheckErrorCode.PromqlSyntax, `${what} at offset ${pos} in: ${expr}`);
}

function readString(expr: string, start: number): { value: string; end: number } {
  const quote = expr[start]!;
  let value = '';
  let i = start + 1;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === quote) return { value, end: i + 1 };
    if (c === '\\' && quote !== '`') {
      const next = expr[i + 1];
      if (next === undefined) break;
      value += next === 'n' ? '\n' : next === 't' ? '\t' : next;
      i += 2;
      continue;
    }
    value += c;
    i++;
  }
  throw syntax(expr, start, 'unterminated string');
}

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < expr.length && expr[i] !== '\n') i++;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      const s = readString(expr, i);
      tokens.push({ kind: 'string', value: s.value, pos: i });
      i = s.end;
      continue;
    }
    if (c === '$') {
      const start = i;
      if (expr[i + 1] === '{') {
        const close = expr.indexOf('}', i);
        if (close < 0) throw syntax(expr, i, 'unterminated ${...} variable');
        i = close + 1;
      } else {
        i++;
        while (i < expr.length && /[A-Za-z0-9_]/.test(expr[i]!)) i++;
      }
      tokens.push({ kind: 'var', value: expr.slice(start, i), pos: start });
      continue;
    }
    if (c === '[' && expr[i + 1] === '[') {
      // Grafana's deprecated [[var]] syntax; a PromQL range never starts with `[[`.
      const close = expr.indexOf(']]', i);
      if (close < 0) throw syntax(expr, i, 'unterminated [[...]] variable');
      tokens.push({ kind: 'var', value: expr.slice(i, close + 2), pos: i });
      i = close + 2;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(expr[i + 1] ?? ''))) {
      const m = NUMBER_RE.exec(expr.slice(i));
      const text = m?.[0] ?? c;
      tokens.push({ kind: 'number', value: text, pos: i });
      i += text.length;
      continue;
    }
    if (IDENT_START.test(c)) {
      const start = i;
      i++;
      while (i < expr.length && IDENT_CHAR.test(expr[i]!)) i++;
      tokens.push({ kind: 'ident', value: expr.slice(start, i), pos: start });
      continue;
    }
    const p = PUNCT.find((q) => expr.startsWith(q, i));
    if (p === undefined) throw syntax(expr, i, `unexpected character ${JSON.stringify(c)}`);
    tokens.push({ kind: 'punct', value: p, pos: i });
    i += p.length;
  }
  checkBalanced(expr, tokens);
  return tokens;
}

const CLOSERS: Readonly<Record<string, string>> = { '(': ')', '{': '}', '[': ']' };

function checkBalanced(expr: string, tokens: readonly Token[]): void {
  const open: Token[] = [];
  for (const t of tokens) {
    if (t.kind !== 'punct') continue;
    if (CLOSERS[t.value] !== undefined) open.push(t);
    else if (t.value === ')' || t.value === '}' || t.value === ']') {
      const o = open.pop();
      if (o === undefined || CLOSERS[o.value] !== t.value) throw syntax(expr, t.pos, `unexpected ${t.value}`);
    }
  }
  const unclosed = open.pop();
  if (unclosed !== undefined) throw syntax(expr, unclosed.pos, `unbalanced ${unclosed.value}`);
}

function isPunct(t: Token | undefined, value: string): boolean {
  return t !== undefined && t.kind === 'punct' && t.value === value;
}

/** Index just after the bracket closing the one at `open`. */
function skipBalanced(expr: string, tokens: Token[], open: number, openCh: string, closeCh: string): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (isPunct(tokens[i], openCh)) depth++;
    else if (isPunct(tokens[i], closeCh)) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  throw syntax(expr, tokens[open]!.pos, `unbalanced ${openCh}`);
}

interface ParsedBlock {
  end: number;
  matchers: LabelMatcher[];
  /** A metric named inside the braces: `{__name__="x"}` or PromQL 3's quoted `{"x"}`. */
  name: string | undefined;
}

/** Parses `{ ... }` starting at the `{` token. */
function parseMatchers(expr: string, tokens: Token[], open: number): ParsedBlock {
  const matchers: LabelMatcher[] = [];
  let name: string | undefined;
  let i = open + 1;
  for (;;) {
    const t = tokens[i];
    if (t === undefined) throw syntax(expr, tokens[open]!.pos, 'unbalanced {');
    if (isPunct(t, '}')) return { end: i + 1, matchers, name };
    if (isPunct(t, ',')) {
      i++;
      continue;
    }
    const op = tokens[i + 1];
    const isOp = op?.kind === 'punct' && (op.value === '=' || op.value === '!=' || op.value === '=~' || op.value === '!~');
    if ((t.kind === 'ident' || t.kind === 'string') && isOp) {
      const value = tokens[i + 2];
      if (value === undefined || (value.kind !== 'string' && value.kind !== 'var')) {
        throw syntax(expr, op.pos, 'label matcher without a string value');
      }
      const m: LabelMatcher = { name: t.value, op: op.value as MatchOp, value: value.value };
      if (m.name === '__name__' && m.op === '=') name = m.value;
      else matchers.push(m);
      i += 3;
      continue;
    }
    if (t.kind === 'string') {
      // PromQL 3: a bare quoted string in braces is the metric name.
      name = t.value;
      i++;
      continue;
    }
    throw syntax(expr, t.pos, 'unexpected token in label matchers');
  }
}

function baseName(raw: string): string {
  for (const suffix of SERIES_SUFFIXES) {
    if (raw.endsWith(suffix) && raw.length > suffix.length) return raw.slice(0, -suffix.length);
  }
  return raw;
}

/**
 * Every vector selector of `expr`, in order of appearance (repeats kept, so each carries its
 * own matchers). Throws {@link CheckError} `ORDERWIRE_ERR_OBSCHECK_PROMQL_SYNTAX` on input
 * that cannot be tokenised.
 */
export function extractSelectors(expr: string): ExtractedSelector[] {
  const tokens = tokenize(expr);
  const out: ExtractedSelector[] = [];
  const push = (raw: string, matchers: LabelMatcher[]): void => {
    out.push({ raw, base: baseName(raw), matchers });
  };
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i]!;
    if (t.kind === 'punct' && t.value === '[') {
      // Range or subquery: durations, variables and `:` only.
      i = skipBalanced(expr, tokens, i, '[', ']');
      continue;
    }
    if (t.kind === 'punct' && t.value === '{') {
      const block = parseMatchers(expr, tokens, i);
      if (block.name !== undefined) push(block.name, block.matchers);
      i = block.end;
      continue;
    }
    if (t.kind !== 'ident') {
      i++;
      continue;
    }
    const lower = t.value.toLowerCase();
    const next = tokens[i + 1];
    if (LABEL_LIST_KEYWORDS.has(lower)) {
      i = isPunct(next, '(') ? skipBalanced(expr, tokens, i + 1, '(', ')') : i + 1;
      continue;
    }
    if (AGGREGATORS.has(lower) || KEYWORDS.has(lower) || isPunct(next, '(')) {
      // Aggregation, keyword, or function call: the arguments are scanned as usual.
      i++;
      continue;
    }
    if (isPunct(next, '{')) {
      const block = parseMatchers(expr, tokens, i + 1);
      push(t.value, block.matchers);
      i = block.end;
      continue;
    }
    push(t.value, []);
    i++;
  }
  return out;
}

/**
 * The distinct metric names `expr` reads, each with its registered base name
 * (`foo_bucket` → `foo`). Recording-rule names (with `:`) are returned like any other name.
 */
export function extractMetricNames(expr: string): ExtractedMetric[] {
  const seen = new Map<string, ExtractedMetric>();
  for (const s of extractSelectors(expr)) {
    if (!seen.has(s.raw)) seen.set(s.raw, { raw: s.raw, base: s.base });
  }
  return [...seen.values()];
}

/**
 * The metric selectors of a Grafana template-variable query. Grafana's own functions
 * (`label_values(sel, label)`, `query_result(expr)`, `label_names()`, `metrics(re)`) are
 * not PromQL: only the selector or expression inside them is.
 */
export function extractVariableSelectors(query: string): ExtractedSelector[] {
  const q = query.trim();
  const labelValues = /^label_values\s*\(([\s\S]*)\)$/.exec(q);
  if (labelValues) {
    const args = labelValues[1]!;
    // The label is the last argument; with a single argument there is no selector.
    const comma = lastTopLevelComma(args);
    if (comma >= 0) return extractSelectors(args.slice(0, comma));
    extractSelectors(args); // a lone label name: nothing to return, but it must still tokenise
    return [];
  }
  const queryResult = /^query_result\s*\(([\s\S]*)\)$/.exec(q);
  if (queryResult) return extractSelectors(queryResult[1]!);
  if (/^(?:label_names|metrics)\s*\(/.test(q)) return [];
  return extractSelectors(q);
}

function lastTopLevelComma(s: string): number {
  let depth = 0;
  let quote: string | undefined;
  let last = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 0) last = i;
  }
  return last;
}
