/**
 * Static checks of the Alertmanager configuration beyond `amtool check-config`: no secret is
 * written inline (only the `*_file` variants are allowed, so secrets are mounted, never
 * committed), and every alert name an inhibition or route matches on exists in the rules.
 */
import { parse } from 'yaml';
import { CheckError, CheckErrorCode } from './errors.js';

/** Keys that carry a secret; each has a `<key>_file` variant in Alertmanager's config. */
export const INLINE_SECRET_KEYS: ReadonlySet<string> = new Set([
  'api_url',
  'slack_api_url',
  'auth_password',
  'smtp_auth_password',
  'auth_secret',
  'smtp_auth_secret',
  'password',
  'credentials',
  'bearer_token',
  'routing_key',
  'service_key',
  'api_key',
  'bot_token',
  'token',
  'url_secret',
]);

export interface AlertmanagerProblem {
  /** Dotted path in the document, e.g. `receivers[0].slack_configs[0].api_url`. */
  readonly path: string;
  readonly problem: string;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `alertname=~"A|B"` → the names it can match, when it is a plain alternation. */
function alertNamesIn(matcher: string): string[] | undefined {
  const m = /^\s*alertname\s*(=~|=)\s*"?([^"]*)"?\s*$/.exec(matcher);
  if (!m) return undefined;
  if (m[1] === '=') return [m[2]!];
  return /^[A-Za-z0-9_]+(?:\|[A-Za-z0-9_]+)*$/.test(m[2]!) ? m[2]!.split('|') : undefined;
}

export function validateAlertmanager(text: string, alertNames: ReadonlySet<string>): AlertmanagerProblem[] {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new CheckError(CheckErrorCode.RulesInvalid, 'alertmanager config is not valid YAML', { cause: err });
  }
  const problems: AlertmanagerProblem[] = [];
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`));
      return;
    }
    if (!isObject(v)) return;
    for (const [k, x] of Object.entries(v)) {
      const p = path === '' ? k : `${path}.${k}`;
      if (INLINE_SECRET_KEYS.has(k) && x !== null && x !== undefined && x !== '') {
        problems.push({ path: p, problem: `secret written inline; use ${k}_file and mount the secret` });
      }
      const matcherList = k === 'matchers' || k === 'source_matchers' || k === 'target_matchers';
      if (matcherList && Array.isArray(x)) {
        x.forEach((m, i) => {
          if (typeof m !== 'string') return;
          for (const name of alertNamesIn(m) ?? []) {
            if (!alertNames.has(name)) problems.push({ path: `${p}[${i}]`, problem: `matches alertname ${name}, which no rule defines` });
          }
        });
      }
      walk(x, p);
    }
  };
  walk(doc, '');
  return problems;
}
