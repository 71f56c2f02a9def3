/**
 * Loads Prometheus rule files and checks the metadata every Orderwire alert carries: a
 * `severity` the Alertmanager routes on, the `service` it concerns, and annotations that tell
 * the on-call what happened and where the runbook section is.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CheckError, CheckErrorCode } from './errors.js';

/** Severities Alertmanager routes: `page` wakes someone, `ticket` waits for office hours. */
export const SEVERITIES = ['page', 'ticket'] as const;
export const REQUIRED_ANNOTATIONS = ['summary', 'description', 'runbook_url'] as const;
/** Every `runbook_url` points into this document. */
export const RUNBOOK_PATH = 'docs/runbook.md';

export interface LoadedRule {
  readonly file: string;
  readonly group: string;
  readonly kind: 'alert' | 'record';
  /** Alert name or recorded metric name. */
  readonly name: string;
  readonly expr: string;
  readonly for: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface RuleProblem {
  readonly file: string;
  readonly rule: string;
  readonly problem: string;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(v)) return out;
  for (const [k, val] of Object.entries(v)) out[k] = typeof val === 'string' ? val : String(val);
  return out;
}

/** Parses one rule file (`groups: [{ name, rules: [...] }]`); `file` names it in errors. */
export function parseRules(file: string, text: string): LoadedRule[] {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new CheckError(CheckErrorCode.RulesInvalid, `${file}: not valid YAML`, { cause: err });
  }
  if (!isObject(doc) || !Array.isArray(doc.groups)) {
    throw new CheckError(CheckErrorCode.RulesInvalid, `${file}: not a Prometheus rule file (no "groups" list)`);
  }
  const rules: LoadedRule[] = [];
  for (const g of doc.groups) {
    if (!isObject(g) || typeof g.name !== 'string' || !Array.isArray(g.rules)) {
      throw new CheckError(CheckErrorCode.RulesInvalid, `${file}: every group needs a name and a rules list`);
    }
    for (const r of g.rules) {
      if (!isObject(r) || typeof r.expr !== 'string') {
        throw new CheckError(CheckErrorCode.RulesInvalid, `${file}: group ${g.name} has a rule without an expr`);
      }
      const alert = typeof r.alert === 'string' ? r.alert : undefined;
      const record = typeof r.record === 'string' ? r.record : undefined;
      if ((alert === undefined) === (record === undefined)) {
        throw new CheckError(CheckErrorCode.RulesInvalid, `${file}: group ${g.name} has a rule that is not exactly one of alert/record`);
      }
      rules.push({
        file,
        group: g.name,
        kind: alert !== undefined ? 'alert' : 'record',
        name: alert ?? record!,
        expr: r.expr,
        for: typeof r.for === 'string' ? r.for : undefined,
        labels: stringMap(r.labels),
        annotations: stringMap(r.annotations),
      });
    }
  }
  return rules;
}

/** Loads every `*.yml` / `*.yaml` rule file of `dir` (not recursive), sorted by file name. */
export async function loadRules(dir: string): Promise<LoadedRule[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new CheckError(CheckErrorCode.NotFound, `rules directory ${dir} cannot be read`, { cause: err });
  }
  const files = names.filter((n) => /\.ya?ml$/.test(n)).sort();
  const parsed = await Promise.all(files.map(async (f) => parseRules(f, await readFile(join(dir, f), 'utf8'))));
  return parsed.flat();
}

/**
 * GitHub's heading anchors for a markdown document: lower case, punctuation other than `-`
 * and `_` dropped, spaces to `-`, repeats numbered `-1`, `-2`. Explicit `<a id="...">` /
 * `<a name="...">` anchors count too. Headings inside fenced code are ignored.
 */
export function markdownAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const text = h[1]!
      .replace(/<[^>]+>/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/`/g, '');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = counts.get(slug) ?? 0;
    counts.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** The `#anchor` of a runbook_url that points into {@link RUNBOOK_PATH}, or undefined. */
export function runbookAnchor(url: string): string | undefined {
  const m = /(?:^|\/)docs\/runbook\.md#([^#\s]+)$/.exec(url);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

/**
 * Alert metadata problems: severity not in {@link SEVERITIES}, no `service` label, a missing
 * annotation, a runbook_url that does not point at `docs/runbook.md#<anchor>` or whose anchor
 * the runbook lacks. Also: two rules with the same alert name, a recording rule whose name is
 * not `level:metric:operations` (contains no colon).
 */
export function validateRules(rules: readonly LoadedRule[], runbookMarkdown: string): RuleProblem[] {
  const anchors = markdownAnchors(runbookMarkdown);
  const problems: RuleProblem[] = [];
  const alertNames = new Set<string>();
  for (const r of rules) {
    const add = (problem: string): void => {
      problems.push({ file: r.file, rule: r.name, problem });
    };
    if (r.kind === 'record') {
      if (!r.name.includes(':')) add('recording rule name should be level:metric:operations (no colon found)');
      continue;
    }
    if (alertNames.has(r.name)) add('alert name used twice');
    alertNames.add(r.name);
    const severity = r.labels.severity;
    if (severity === undefined || !(SEVERITIES as readonly string[]).includes(severity)) {
      add(`severity label must be one of ${SEVERITIES.join(', ')} (is ${String(severity)})`);
    }
    if (r.labels.service === undefined || r.labels.service.trim() === '') add('service label missing');
    for (const a of REQUIRED_ANNOTATIONS) {
      if (r.annotations[a] === undefined || r.annotations[a].trim() === '') add(`annotation ${a} missing`);
    }
    const url = r.annotations.runbook_url;
    if (url !== undefined) {
      const anchor = runbookAnchor(url);
      if (anchor === undefined) add(`runbook_url ${url} does not point at ${RUNBOOK_PATH}#<anchor>`);
      else if (!anchors.has(anchor)) add(`runbook anchor #${anchor} does not exist in ${RUNBOOK_PATH}`);
    }
  }
  return problems;
}
