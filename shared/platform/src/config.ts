/**
 * Typed, validated, frozen configuration from environment variables. A service declares a spec
 * once; `loadConfig` checks every variable, collects all problems and throws one ConfigError
 * naming each bad variable, so an operator fixes a deployment in one round instead of N.
 */
import { OrderwireError, PLATFORM_ERRORS } from './errors.js';
import { redactUrlCredentials } from './redact.js';

interface BaseVarSpec {
  /** Environment variable name. */
  env: string;
  /** @default true when the spec has no `default` */
  required?: boolean;
  /** Never printed: not in error messages, not in `describeConfig`, `redactConfig` masks it. */
  secret?: boolean;
  doc?: string;
}

export interface StringVarSpec extends BaseVarSpec {
  type: 'string';
  default?: string;
  /** The value must match this pattern (whole string; anchor it yourself). */
  pattern?: RegExp;
  minLength?: number;
}
export interface IntVarSpec extends BaseVarSpec {
  type: 'int';
  default?: number;
  min?: number;
  max?: number;
}
export interface NumberVarSpec extends BaseVarSpec {
  type: 'number';
  default?: number;
  min?: number;
  max?: number;
}
export interface BoolVarSpec extends BaseVarSpec {
  type: 'bool';
  default?: boolean;
}
export interface UrlVarSpec extends BaseVarSpec {
  type: 'url';
  default?: string;
  /** Allowed protocols without the colon, e.g. `['http', 'https']`. @default any */
  protocols?: readonly string[];
}
export interface EnumVarSpec<V extends readonly string[] = readonly string[]> extends BaseVarSpec {
  type: 'enum';
  values: V;
  default?: V[number];
}
export interface DurationVarSpec extends BaseVarSpec {
  type: 'duration';
  /** Milliseconds, or a duration string such as `30s`. */
  default?: number | string;
  /** Lower bound in ms (or a duration string). */
  min?: number | string;
  /** Upper bound in ms (or a duration string). */
  max?: number | string;
}
export interface ListVarSpec extends BaseVarSpec {
  type: 'list';
  default?: readonly string[];
  /** Each item must match this pattern. */
  itemPattern?: RegExp;
  /** Minimum number of items when set. */
  minItems?: number;
}

export type VarSpec =
  | StringVarSpec
  | IntVarSpec
  | NumberVarSpec
  | BoolVarSpec
  | UrlVarSpec
  | EnumVarSpec
  | DurationVarSpec
  | ListVarSpec;

export type VarType = VarSpec['type'];
export type ConfigSpec = Record<string, VarSpec>;

type BaseValue<V> = V extends { type: 'string' | 'url' }
  ? string
  : V extends { type: 'int' | 'number' | 'duration' }
    ? number
    : V extends { type: 'bool' }
      ? boolean
      : V extends { type: 'enum'; values: readonly (infer E)[] }
        ? E
        : V extends { type: 'list' }
          ? string[]
          : never;

type IsOptional<V> = V extends { default: unknown } ? false : V extends { required: false } ? true : false;

export type VarValue<V> = IsOptional<V> extends true ? BaseValue<V> | undefined : BaseValue<V>;

/** The typed, deep-frozen result of `loadConfig(spec)`. */
export type Config<S extends ConfigSpec> = { readonly [K in keyof S]: VarValue<S[K]> };

export interface ConfigProblem {
  key: string;
  env: string;
  reason: string;
}

export class ConfigError extends OrderwireError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) => `  - ${p.env}: ${p.reason}`);
    const summary = `${problems.length} problem${problems.length === 1 ? '' : 's'}\n${lines.join('\n')}`;
    const spec = PLATFORM_ERRORS.catalog.ORDERWIRE_ERR_CONFIG_INVALID;
    super('ORDERWIRE_ERR_CONFIG_INVALID', spec.message.replace('{summary}', summary), {
      statusCode: spec.status,
      details: problems,
    });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const DURATION_RE = /^(\d+)\s*(ms|s|m|h|d)?$/;
const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Parses `500ms`, `30s`, `5m`, `1h`, `7d` or a plain integer (ms). Returns undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (m === null) return undefined;
  const ms = Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']!;
  return Number.isSafeInteger(ms) ? ms : undefined;
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

type Parsed = { ok: true; value: unknown } | { ok: false; reason: string };

function shown(spec: VarSpec, raw: string): string {
  return spec.secret === true ? '' : `, got ${JSON.stringify(redactUrlCredentials(raw))}`;
}

function boundMs(bound: number | string | undefined): number | undefined {
  if (bound === undefined) return undefined;
  return typeof bound === 'number' ? bound : parseDuration(bound);
}

function checkRange(spec: VarSpec, value: number, min: number | undefined, max: number | undefined, unit = ''): Parsed {
  const s = spec.secret === true ? '' : ` (got ${value}${unit})`;
  if (min !== undefined && value < min) return { ok: false, reason: `must be >= ${min}${unit}${s}` };
  if (max !== undefined && value > max) return { ok: false, reason: `must be <= ${max}${unit}${s}` };
  return { ok: true, value };
}

/** Parses one raw (non-empty) string according to its spec. */
function parseRaw(spec: VarSpec, raw: string): Parsed {
  switch (spec.type) {
    case 'string': {
      if (spec.minLength !== undefined && raw.length < spec.minLength) {
        return { ok: false, reason: `must be at least ${spec.minLength} characters` };
      }
      if (spec.pattern !== undefined && !spec.pattern.test(raw)) {
        return { ok: false, reason: `must match ${String(spec.pattern)}${shown(spec, raw)}` };
      }
      return { ok: true, value: raw };
    }
    case 'int': {
      const t = raw.trim();
      if (!/^[+-]?\d+$/.test(t) || !Number.isSafeInteger(Number(t))) {
        return { ok: false, reason: `expected an integer${shown(spec, raw)}` };
      }
      return checkRange(spec, Number(t), spec.min, spec.max);
    }
    case 'number': {
      const n = Number(raw.trim());
      if (!Number.isFinite(n)) return { ok: false, reason: `expected a finite number${shown(spec, raw)}` };
      return checkRange(spec, n, spec.min, spec.max);
    }
    case 'bool': {
      const t = raw.trim().toLowerCase();
      if (TRUE_WORDS.has(t)) return { ok: true, value: true };
      if (FALSE_WORDS.has(t)) return { ok: true, value: false };
      return { ok: false, reason: `expected a boolean (true/false/1/0/yes/no/on/off)${shown(spec, raw)}` };
    }
    case 'url': {
      let url: URL;
      try {
        url = new URL(raw.trim());
      } catch {
        return { ok: false, reason: `expected an absolute URL${shown(spec, raw)}` };
      }
      const protocol = url.protocol.replace(/:$/, '');
      if (spec.protocols !== undefined && !spec.protocols.includes(protocol)) {
        return { ok: false, reason: `URL protocol must be one of ${spec.protocols.join(', ')} (got ${protocol})` };
      }
      return { ok: true, value: raw.trim() };
    }
    case 'enum': {
      const t = raw.trim();
      if (!spec.values.includes(t)) {
        return { ok: false, reason: `must be one of ${spec.values.join(', ')}${shown(spec, raw)}` };
      }
      return { ok: true, value: t };
    }
    case 'duration': {
      const ms = parseDuration(raw);
      if (ms === undefined) {
        return { ok: false, reason: `expected a duration like 500ms, 30s, 5m, 1h, 7d or integer ms${shown(spec, raw)}` };
      }
      return checkRange(spec, ms, boundMs(spec.min), boundMs(spec.max), 'ms');
    }
    case 'list': {
      const items = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      return checkList(spec, items);
    }
  }
}

function checkList(spec: ListVarSpec, items: readonly string[]): Parsed {
  if (spec.minItems !== undefined && items.length < spec.minItems) {
    return { ok: false, reason: `must list at least ${spec.minItems} item(s)` };
  }
  if (spec.itemPattern !== undefined) {
    const bad = items.filter((i) => !spec.itemPattern!.test(i));
    if (bad.length > 0) {
      const which = spec.secret === true ? `${bad.length} item(s)` : bad.map((b) => JSON.stringify(b)).join(', ');
      return { ok: false, reason: `items must match ${String(spec.itemPattern)}; bad: ${which}` };
    }
  }
  return { ok: true, value: [...items] };
}

/** Validates a default like an env value, so a bad default is caught the first time the service starts. */
function parseDefault(spec: VarSpec): Parsed {
  const d: unknown = spec.default;
  switch (spec.type) {
    case 'list':
      return checkList(spec, d as readonly string[]);
    case 'duration':
      return typeof d === 'number' ? checkRange(spec, d, boundMs(spec.min), boundMs(spec.max), 'ms') : parseRaw(spec, String(d));
    case 'bool':
      return { ok: true, value: d };
    case 'int':
    case 'number':
      return checkRange(spec, d as number, spec.min, spec.max);
    default:
      return parseRaw(spec, String(d));
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Reads and validates every variable of `spec` from `env`. An empty or whitespace-only value
 * counts as unset (so `FOO=` in a compose file falls back to the default).
 * @throws ConfigError (code ORDERWIRE_ERR_CONFIG_INVALID) listing every problem.
 */
export function loadConfig<const S extends ConfigSpec>(
  spec: S,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Config<S> {
  const out: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const [key, v] of Object.entries(spec)) {
    const raw = env[v.env];
    const isSet = raw !== undefined && raw.trim().length > 0;
    let parsed: Parsed;
    if (isSet) {
      parsed = parseRaw(v, raw);
    } else if (v.default !== undefined) {
      parsed = parseDefault(v);
      if (!parsed.ok) parsed = { ok: false, reason: `default value is invalid: ${parsed.reason}` };
    } else if (v.required ?? true) {
      parsed = { ok: false, reason: `is required but not set${v.doc === undefined ? '' : ` (${v.doc})`}` };
    } else {
      parsed = { ok: true, value: undefined };
    }
    if (parsed.ok) out[key] = parsed.value;
    else problems.push({ key, env: v.env, reason: parsed.reason });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(out) as Config<S>;
}

export interface ConfigVarDescription {
  key: string;
  env: string;
  type: VarType;
  required: boolean;
  secret: boolean;
  /** Human-readable default; secrets show `[REDACTED]`. */
  default?: string;
  doc?: string;
  values?: readonly string[];
  min?: number | string;
  max?: number | string;
}

function formatDefault(v: VarSpec): string | undefined {
  if (v.default === undefined) return undefined;
  if (v.secret === true) return '[REDACTED]';
  if (Array.isArray(v.default)) return (v.default as readonly string[]).join(',');
  if (v.type === 'duration' && typeof v.default === 'number') return `${v.default}ms`;
  return String(v.default);
}

/** Lists every variable of a spec (for README tables, `--help`, docs tests). */
export function describeConfig(spec: ConfigSpec): ConfigVarDescription[] {
  return Object.entries(spec).map(([key, v]) => {
    const d: ConfigVarDescription = {
      key,
      env: v.env,
      type: v.type,
      required: v.default === undefined && (v.required ?? true),
      secret: v.secret === true,
    };
    const def = formatDefault(v);
    if (def !== undefined) d.default = def;
    if (v.doc !== undefined) d.doc = v.doc;
    if (v.type === 'enum') d.values = v.values;
    if ((v.type === 'int' || v.type === 'number' || v.type === 'duration') && v.min !== undefined) d.min = v.min;
    if ((v.type === 'int' || v.type === 'number' || v.type === 'duration') && v.max !== undefined) d.max = v.max;
    return d;
  });
}

/**
 * A copy of a loaded config safe to log: secret values replaced by `[REDACTED]`, and the
 * credentials of any URL inside a value (`redis://:pw@…`, `nats://user:pw@…`) masked too.
 */
export function redactConfig<S extends ConfigSpec>(spec: S, config: Config<S>): Record<keyof S, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(spec)) {
    const value = (config as Record<string, unknown>)[key];
    if (v.secret === true && value !== undefined) out[key] = '[REDACTED]';
    else if (typeof value === 'string') out[key] = redactUrlCredentials(value);
    else if (Array.isArray(value)) out[key] = value.map((x: unknown) => (typeof x === 'string' ? redactUrlCredentials(x) : x));
    else out[key] = value;
  }
  return out as Record<keyof S, unknown>;
}
