/** The auth calls the harness makes as an operator and as an upstream system. */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchError } from './errors.js';
import { retryAfterMs, type HttpClient, type HttpResponse } from './http.js';
import type { Placement } from './plan.js';

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** `.data/dev-credentials.json` (written by `auth seed-dev`). */
export interface DevCredentials {
  tenant: string;
  upstream: ClientCredentials;
  operator: ClientCredentials;
  urls?: { auth?: string; ingest?: string; edge?: string[]; dlq?: string; jwks?: string; nats?: string };
}

/** 5 attempts on 429/5xx for setup calls (token, register, delete) */
export const SETUP_ATTEMPTS = 5;
/** 2 s cap on one backoff of a setup call */
const SETUP_BACKOFF_MAX_MS = 2_000;

function isCreds(v: unknown): v is ClientCredentials {
  return typeof v === 'object' && v !== null && typeof (v as ClientCredentials).clientId === 'string' && typeof (v as ClientCredentials).clientSecret === 'string';
}

export async function readCredentials(file: string): Promise<DevCredentials> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (err) {
    throw new BenchError('ORDERWIRE_ERR_BENCH_CREDENTIALS', `cannot read ${file} (is \`npm start\` running?)`, { cause: err });
  }
  const c = parsed as Partial<DevCredentials>;
  if (typeof c !== 'object' || c === null || !isCreds(c.upstream) || !isCreds(c.operator)) {
    throw new BenchError('ORDERWIRE_ERR_BENCH_CREDENTIALS', `${file} lacks upstream/operator { clientId, clientSecret }`);
  }
  return c as DevCredentials;
}

/** Retries 429 and 5xx (honouring Retry-After) a bounded number of times. */
async function withRetry(what: string, call: () => Promise<HttpResponse>): Promise<HttpResponse> {
  let last: HttpResponse | undefined;
  for (let attempt = 1; attempt <= SETUP_ATTEMPTS; attempt++) {
    last = await call();
    if (last.status !== 429 && last.status < 500) return last;
    if (attempt < SETUP_ATTEMPTS) await sleep(Math.min(SETUP_BACKOFF_MAX_MS, retryAfterMs(last.headers) ?? 100 * 2 ** attempt));
  }
  throw new BenchError('ORDERWIRE_ERR_BENCH_HTTP', `${what}: HTTP ${last?.status} after ${SETUP_ATTEMPTS} attempts: ${last?.text.slice(0, 300)}`);
}

export async function clientToken(http: HttpClient, authUrl: string, creds: ClientCredentials, scope: string): Promise<string> {
  const res = await withRetry('client credentials token', () =>
    http.request('POST', `${authUrl}/v1/oauth/token`, {
      body: { grant_type: 'client_credentials', client_id: creds.clientId, client_secret: creds.clientSecret, scope },
    }),
  );
  const token = (res.body as { access_token?: unknown } | undefined)?.access_token;
  if (res.status !== 200 || typeof token !== 'string') {
    throw new BenchError('ORDERWIRE_ERR_BENCH_CREDENTIALS', `token for ${scope}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  }
  return token;
}

/** Registers a display (or re-issues its code) → enrollment code. */
export async function registerDisplay(http: HttpClient, authUrl: string, operatorToken: string, p: Placement): Promise<string> {
  const res = await withRetry(`register ${p.displayId}`, () =>
    http.request('POST', `${authUrl}/v1/displays?reissue=true`, {
      body: { displayId: p.displayId, storeId: p.storeId, stations: [p.station] },
      headers: { authorization: `Bearer ${operatorToken}` },
      timeoutMs: 30_000,
    }),
  );
  const code = (res.body as { enrollmentCode?: unknown } | undefined)?.enrollmentCode;
  if (res.status !== 201 || typeof code !== 'string') {
    throw new BenchError('ORDERWIRE_ERR_BENCH_PROVISION', `register ${p.displayId}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  }
  return code;
}

/** Decommissions a display (deletes its consumer). A 404 counts as done. */
export async function deleteDisplay(http: HttpClient, authUrl: string, operatorToken: string, displayId: string): Promise<boolean> {
  const res = await withRetry(`delete ${displayId}`, () =>
    http.request('DELETE', `${authUrl}/v1/displays/${displayId}`, { headers: { authorization: `Bearer ${operatorToken}` }, timeoutMs: 30_000 }),
  );
  return res.status < 300 || res.status === 404;
}
