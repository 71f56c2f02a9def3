/**
 * Loads Grafana dashboard JSON files and checks what makes a panel show data: a query, and a
 * datasource that resolves through the `${datasource}` template variable.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckError, CheckErrorCode } from './errors.js';
import { extractSelectors, extractVariableSelectors } from './promql.js';

/** The datasource every panel and query must use (a template variable of type `datasource`). */
export const DATASOURCE_VARIABLE = 'datasource';
export const DATASOURCE_UID = '${datasource}';
/** The dashboard schema of Grafana 10.3+, the oldest we provision to. */
export const MIN_SCHEMA_VERSION = 39;
/** Panel types that carry no query by design. */
const QUERYLESS_PANEL_TYPES = new Set(['row', 'text', 'news', 'dashlist', 'annolist']);
const UID_RE = /^[a-z0-9][a-z0-9-]{0,39}$/;

export interface DatasourceRef {
  readonly type?: string;
  readonly uid?: string;
}

export interface DashboardQuery {
  readonly refId: string;
  readonly expr: string;
  readonly datasource: DatasourceRef | undefined;
  readonly hide: boolean;
}

export interface DashboardPanel {
  readonly id: number | undefined;
  readonly title: string;
  readonly type: string;
  readonly datasource: DatasourceRef | undefined;
  readonly queries: readonly DashboardQuery[];
}

export interface DashboardVariable {
  readonly name: string;
  readonly type: string;
  /** The query text of a `query` variable (string or `{ query }` form). */
  readonly query: string | undefined;
  readonly datasource: DatasourceRef | undefined;
}

export interface LoadedDashboard {
  /** File name inside the dashboards directory. */
  readonly file: string;
  readonly uid: string | undefined;
  readonly title: string;
  readonly schemaVersion: number | undefined;
  /** Every panel, rows' nested (collapsed) panels included; row panels themselves included. */
  readonly panels: readonly DashboardPanel[];
  readonly variables: readonly DashboardVariable[];
}

export interface DashboardProblem {
  readonly file: string;
  /** Panel title, or `variable <name>`; absent for dashboard-level problems. */
  readonly where?: string;
  readonly problem: string;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function datasourceOf(v: unknown): DatasourceRef | undefined {
  if (typeof v === 'string') return { uid: v };
  if (!isObject(v)) return undefined;
  return {
    ...(typeof v.type === 'string' ? { type: v.type } : {}),
    ...(typeof v.uid === 'string' ? { uid: v.uid } : {}),
  };
}

function panelOf(p: Json): DashboardPanel {
  const targets = Array.isArray(p.targets) ? p.targets.filter(isObject) : [];
  return {
    id: typeof p.id === 'number' ? p.id : undefined,
    title: typeof p.title === 'string' ? p.title : '',
    type: typeof p.type === 'string' ? p.type : '',
    datasource: datasourceOf(p.datasource),
    queries: targets.map((t) => ({
      refId: typeof t.refId === 'string' ? t.refId : '',
      expr: typeof t.expr === 'string' ? t.expr : '',
      datasource: datasourceOf(t.datasource),
      hide: t.hide === true,
    })),
  };
}

function collectPanels(list: unknown, out: DashboardPanel[]): void {
  if (!Array.isArray(list)) return;
  for (const p of list) {
    if (!isObject(p)) continue;
    out.push(panelOf(p));
    // A collapsed row keeps its panels inside it.
    collectPanels(p.panels, out);
  }
}

/** Parses one dashboard document; `file` names it in errors. */
export function parseDashboard(file: string, text: string): LoadedDashboard {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CheckError(CheckErrorCode.DashboardInvalid, `${file}: not valid JSON`, { cause: err });
  }
  if (!isObject(doc) || !Array.isArray(doc.panels)) {
    throw new CheckError(CheckErrorCode.DashboardInvalid, `${file}: not a Grafana dashboard (no "panels" array)`);
  }
  const panels: DashboardPanel[] = [];
  collectPanels(doc.panels, panels);
  const templating = isObject(doc.templating) && Array.isArray(doc.templating.list) ? doc.templating.list.filter(isObject) : [];
  const variables: DashboardVariable[] = templating.map((v) => {
    const q = v.query;
    const query = typeof q === 'string' ? q : isObject(q) && typeof q.query === 'string' ? q.query : undefined;
    return {
      name: typeof v.name === 'string' ? v.name : '',
      type: typeof v.type === 'string' ? v.type : '',
      query,
      datasource: datasourceOf(v.datasource),
    };
  });
  return {
    file,
    uid: typeof doc.uid === 'string' ? doc.uid : undefined,
    title: typeof doc.title === 'string' ? doc.title : '',
    schemaVersion: typeof doc.schemaVersion === 'number' ? doc.schemaVersion : undefined,
    panels,
    variables,
  };
}

/** Loads every `*.json` file of `dir` (not recursive), sorted by file name. */
export async function loadDashboards(dir: string): Promise<LoadedDashboard[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new CheckError(CheckErrorCode.NotFound, `dashboards directory ${dir} cannot be read`, { cause: err });
  }
  const files = names.filter((n) => n.endsWith('.json')).sort();
  return Promise.all(files.map(async (f) => parseDashboard(f, await readFile(join(dir, f), 'utf8'))));
}

function usesDatasourceVariable(ds: DatasourceRef | undefined): boolean {
  return ds?.uid === DATASOURCE_UID || ds?.uid === `$${DATASOURCE_VARIABLE}`;
}

/**
 * Everything that would leave a panel empty or unportable: no query, a query without a
 * metric or that does not tokenise, a datasource other than `${datasource}`, no datasource
 * variable, a missing/invalid/duplicate uid, an old schemaVersion, duplicate panel ids.
 */
export function validateDashboards(dashboards: readonly LoadedDashboard[]): DashboardProblem[] {
  const problems: DashboardProblem[] = [];
  const uids = new Map<string, string>();
  for (const d of dashboards) {
    const add = (problem: string, where?: string): void => {
      problems.push(where === undefined ? { file: d.file, problem } : { file: d.file, where, problem });
    };
    if (d.uid === undefined || !UID_RE.test(d.uid)) add(`uid ${JSON.stringify(d.uid)} is missing or not [a-z0-9-]{1,40}`);
    else if (uids.has(d.uid)) add(`uid ${d.uid} is also used by ${uids.get(d.uid)}`);
    else uids.set(d.uid, d.file);
    if (d.title === '') add('dashboard has no title');
    if (d.schemaVersion === undefined || d.schemaVersion < MIN_SCHEMA_VERSION) {
      add(`schemaVersion ${String(d.schemaVersion)} < ${MIN_SCHEMA_VERSION}`);
    }
    const dsVar = d.variables.find((v) => v.name === DATASOURCE_VARIABLE);
    if (dsVar === undefined || dsVar.type !== 'datasource' || dsVar.query !== 'prometheus') {
      add(`needs a template variable "${DATASOURCE_VARIABLE}" of type datasource with query "prometheus"`);
    }
    for (const v of d.variables) {
      if (v.type !== 'query') continue;
      const where = `variable ${v.name}`;
      if (!usesDatasourceVariable(v.datasource)) add(`datasource must be ${DATASOURCE_UID}`, where);
      if (v.query === undefined || v.query.trim() === '') add('query variable without a query', where);
      else {
        try {
          extractVariableSelectors(v.query);
        } catch (err) {
          add((err as Error).message, where);
        }
      }
    }
    const ids = new Set<number>();
    for (const p of d.panels) {
      const where = p.title === '' ? `panel id ${String(p.id)}` : p.title;
      if (p.id === undefined) add('panel without id', where);
      else if (ids.has(p.id)) add(`duplicate panel id ${p.id}`, where);
      else ids.add(p.id);
      if (QUERYLESS_PANEL_TYPES.has(p.type)) continue;
      if (p.title === '') add('panel without title', where);
      const queries = p.queries.filter((q) => !q.hide);
      if (queries.length === 0) {
        add('panel has no (visible) query', where);
        continue;
      }
      if (!usesDatasourceVariable(p.datasource)) add(`panel datasource must be ${DATASOURCE_UID}`, where);
      for (const q of queries) {
        const qWhere = `${where} [${q.refId || '?'}]`;
        if (q.refId === '') add('query without refId', qWhere);
        if (q.datasource !== undefined && !usesDatasourceVariable(q.datasource)) add(`query datasource must be ${DATASOURCE_UID}`, qWhere);
        if (q.expr.trim() === '') {
          add('query with an empty expr', qWhere);
          continue;
        }
        try {
          if (extractSelectors(q.expr).length === 0) add(`query reads no metric: ${q.expr}`, qWhere);
        } catch (err) {
          add((err as Error).message, qWhere);
        }
      }
    }
  }
  return problems;
}
