/**
 * k6 run settings from environment variables (`k6 run -e NAME=value` or the process env).
 * Pure: takes the env map, so vitest checks the defaults and the validation.
 */
import { validatePlan, type FleetPlan } from './plan.ts';

export interface K6Settings {
  authUrl: string;
  ingestUrl: string;
  edgeUrls: string[];
  /** Path of a credentials file shaped like `.data/dev-credentials.json`; read with k6's `open()`. */
  credentialsFile: string | undefined;
  upstream: { clientId: string; clientSecret: string } | undefined;
  operator: { clientId: string; clientSecret: string } | undefined;
  plan: FleetPlan;
  /** First display index this k6 instance simulates (split one fleet over several instances). */
  displayOffset: number;
  /** Orders per second at the plateau. */
  rate: number;
  rampMs: number;
  holdMs: number;
  /** Displays connecting per second (bounded ramp, as real stores power on). */
  connectRate: number;
  preAllocatedVus: number;
  maxVus: number;
  /** Extra time displays stay connected after the last order, to drain. */
  drainMs: number;
  p95Ms: number;
  errorRate: number;
  e2eP99Ms: number;
}

/** 100 orders/s */
export const DEFAULT_RATE = 100;
/** 100 displays */
export const DEFAULT_DISPLAYS = 100;
/** 4 stations per store */
export const DEFAULT_STATIONS_PER_STORE = 4;
/** 50 connections opened per second */
export const DEFAULT_CONNECT_RATE = 50;
/** The seed's p95 target for the ingest API */
export const DEFAULT_P95_MS = 250;
/** 0.1 % failed requests */
export const DEFAULT_ERROR_RATE = 0.001;
/** 100 ms accept → display-ack p99 */
export const DEFAULT_E2E_P99_MS = 100;

type Env = Readonly<Record<string, string | undefined>>;

export class SettingsError extends Error {
  readonly code = 'ORDERWIRE_ERR_LOADTEST_SETTINGS';
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

/** `500ms`, `30s`, `2m`, `1h` or plain milliseconds → ms. */
export function parseDurationMs(name: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (m === null) throw new SettingsError(`${name}=${value} is not a duration (e.g. 500ms, 30s, 2m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const factor = unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : unit === 's' ? 1000 : 1;
  return Math.round(n * factor);
}

/** ms → a k6 duration string. */
export function k6Duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v.trim() === '' ? fallback : v.trim();
}

function num(env: Env, name: string, fallback: number, opts: { integer?: boolean; min?: number } = {}): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || (opts.integer === true && !Number.isInteger(n)) || n < (opts.min ?? 0)) {
    throw new SettingsError(`${name}=${raw} must be a ${opts.integer === true ? 'whole ' : ''}number >= ${opts.min ?? 0}`);
  }
  return n;
}

function duration(env: Env, name: string, fallback: string): number {
  return parseDurationMs(name, str(env, name, fallback));
}

function pair(env: Env, idName: string, secretName: string): { clientId: string; clientSecret: string } | undefined {
  const clientId = env[idName];
  const clientSecret = env[secretName];
  if ((clientId === undefined) !== (clientSecret === undefined)) throw new SettingsError(`set both ${idName} and ${secretName}, or neither`);
  return clientId === undefined || clientSecret === undefined ? undefined : { clientId, clientSecret };
}

function httpUrl(name: string, value: string): string {
  if (!/^https?:\/\/[^/]+/.test(value)) throw new SettingsError(`${name}=${value} must be an http(s) URL`);
  return value.replace(/\/+$/, '');
}

export function readSettings(env: Env): K6Settings {
  const rate = num(env, 'RATE', DEFAULT_RATE, { min: 1 });
  const plan: FleetPlan = {
    runId: str(env, 'RUN_ID', 'k6'),
    displays: num(env, 'DISPLAYS', DEFAULT_DISPLAYS, { integer: true, min: 1 }),
    stationsPerStore: num(env, 'STATIONS_PER_STORE', DEFAULT_STATIONS_PER_STORE, { integer: true, min: 1 }),
    fanout: num(env, 'FANOUT', 1, { integer: true, min: 1 }),
  };
  try {
    validatePlan(plan);
  } catch (err) {
    throw new SettingsError(err instanceof Error ? err.message : String(err));
  }
  const preAllocatedVus = num(env, 'PRE_VUS', Math.max(10, Math.ceil(rate / 20)), { integer: true, min: 1 });
  const settings: K6Settings = {
    authUrl: httpUrl('AUTH_URL', str(env, 'AUTH_URL', 'http://127.0.0.1:3001')),
    ingestUrl: httpUrl('INGEST_URL', str(env, 'INGEST_URL', 'http://127.0.0.1:3002')),
    edgeUrls: str(env, 'EDGE_URLS', 'http://127.0.0.1:3003,http://127.0.0.1:3013')
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '')
      .map((u) => httpUrl('EDGE_URLS', u)),
    credentialsFile: env.CREDENTIALS === undefined || env.CREDENTIALS.trim() === '' ? undefined : env.CREDENTIALS.trim(),
    upstream: pair(env, 'UPSTREAM_CLIENT_ID', 'UPSTREAM_CLIENT_SECRET'),
    operator: pair(env, 'OPERATOR_CLIENT_ID', 'OPERATOR_CLIENT_SECRET'),
    plan,
    displayOffset: num(env, 'DISPLAY_OFFSET', 0, { integer: true, min: 0 }),
    rate,
    rampMs: duration(env, 'RAMP', '30s'),
    holdMs: duration(env, 'HOLD', '60s'),
    connectRate: num(env, 'CONNECT_RATE', DEFAULT_CONNECT_RATE, { min: 1 }),
    preAllocatedVus,
    maxVus: num(env, 'MAX_VUS', preAllocatedVus * 4, { integer: true, min: 1 }),
    drainMs: duration(env, 'DRAIN', '15s'),
    p95Ms: num(env, 'P95_MS', DEFAULT_P95_MS, { min: 1 }),
    errorRate: num(env, 'ERROR_RATE', DEFAULT_ERROR_RATE),
    e2eP99Ms: num(env, 'E2E_P99_MS', DEFAULT_E2E_P99_MS, { min: 1 }),
  };
  if (settings.edgeUrls.length === 0) throw new SettingsError('EDGE_URLS is empty');
  if (settings.maxVus < settings.preAllocatedVus) throw new SettingsError('MAX_VUS must be >= PRE_VUS');
  return settings;
}

/** The shape of `.data/dev-credentials.json` that the scripts use. */
export interface CredentialsFile {
  upstream: { clientId: string; clientSecret: string };
  operator: { clientId: string; clientSecret: string };
  urls?: Record<string, unknown>;
}

export function parseCredentials(text: string): CredentialsFile {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    throw new SettingsError('credentials file is not JSON');
  }
  const ok = (c: unknown): c is { clientId: string; clientSecret: string } =>
    typeof c === 'object' && c !== null && typeof (c as { clientId?: unknown }).clientId === 'string' && typeof (c as { clientSecret?: unknown }).clientSecret === 'string';
  const v = value as { upstream?: unknown; operator?: unknown; urls?: unknown };
  if (typeof value !== 'object' || value === null || !ok(v.upstream) || !ok(v.operator)) {
    throw new SettingsError('credentials file needs upstream and operator { clientId, clientSecret }');
  }
  return {
    upstream: v.upstream,
    operator: v.operator,
    ...(typeof v.urls === 'object' && v.urls !== null ? { urls: v.urls as Record<string, unknown> } : {}),
  };
}
