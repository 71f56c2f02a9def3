/** Small, valid dashboards and rule files for tests, and prom-client registries like the services'. */
import { Registry } from 'prom-client';
import { parseDashboard, parseRules, type LoadedDashboard, type LoadedRule } from '../src/index.js';

export const DS = { type: 'prometheus', uid: '${datasource}' };

export interface PanelSpec {
  title: string;
  exprs: string[];
  type?: string;
  datasource?: unknown;
}

export function dashboardJson(uid: string, panels: PanelSpec[], variables: unknown[] = []): Record<string, unknown> {
  return {
    uid,
    title: `Test ${uid}`,
    schemaVersion: 39,
    templating: {
      list: [{ name: 'datasource', type: 'datasource', query: 'prometheus' }, ...variables],
    },
    panels: panels.map((p, i) => ({
      id: i + 1,
      type: p.type ?? 'timeseries',
      title: p.title,
      datasource: p.datasource ?? DS,
      targets: p.exprs.map((expr, j) => ({ refId: String.fromCharCode(65 + j), expr, datasource: p.datasource ?? DS })),
    })),
  };
}

export function dashboard(uid: string, panels: PanelSpec[], variables: unknown[] = []): LoadedDashboard {
  return parseDashboard(`${uid}.json`, JSON.stringify(dashboardJson(uid, panels, variables)));
}

export function rules(yaml: string, file = 'rules.yml'): LoadedRule[] {
  return parseRules(file, yaml);
}

/** A fresh registry with the `service` default label every Orderwire registry has. */
export function registry(service: string): Registry {
  const r = new Registry();
  r.setDefaultLabels({ service });
  return r;
}
