#!/usr/bin/env node
// Post-deploy smoke (release.yml's deploy job; docs/release.md). Exits 0 only when every check
// passed, 1 when one failed (the workflow then rolls back), 2 on bad arguments. Checks:
//   1. health of every service given with --service name=url: GET /healthz and GET /readyz → 200;
//   2. one synthetic order to the canary display, end to end: client-credentials tokens (auth),
//      the canary display registered (or its code re-issued) and enrolled (auth), connected to an
//      edge over Socket.IO (websocket), an order targeted at it accepted (ingest, 202), received
//      on the socket and acknowledged, and `GET /v1/orders/:id` saying `delivered` for it.
//
//   node scripts/smoke.mjs --service auth=http://127.0.0.1:13001 [--service …] \
//     --auth-url URL --ingest-url URL --edge-url URL [--store canary-store] [--station canary] \
//     [--display canary-display] [--timeout 60] [--health-only]
//
// Credentials from the environment (never arguments: they would show in `ps` and logs):
// SMOKE_UPSTREAM_CLIENT_ID/SECRET (scopes orders:write orders:read) and SMOKE_OPS_CLIENT_ID/SECRET
// (displays:manage), clients of the tenant the canary display belongs to.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { io } from 'socket.io-client';
import { callJson } from './lib/http.mjs';

const P = '[smoke]';
/** 10 s per HTTP call */
/** 500 ms between delivery-status polls */
const POLL_MS = 500;
const CREDENTIAL_VARS = ['SMOKE_UPSTREAM_CLIENT_ID', 'SMOKE_UPSTREAM_CLIENT_SECRET', 'SMOKE_OPS_CLIENT_ID', 'SMOKE_OPS_CLIENT_SECRET'];

export class UsageError extends Error {}

/** The smoke's configuration from argv and env; throws UsageError naming what is wrong. */
export function parseSmokeArgs(argv, env = process.env) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        service: { type: 'string', multiple: true, default: [] },
        'auth-url': { type: 'string' },
        'ingest-url': { type: 'string' },
        'edge-url': { type: 'string' },
        store: { type: 'string', default: 'canary-store' },
        station: { type: 'string', default: 'canary' },
        display: { type: 'string', default: 'canary-display' },
        timeout: { type: 'string', default: '60' },
        'health-only': { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError(err.message);
  }
  const url = (name, value) => {
    try {
      const u = new URL(value);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
      return u.href.replace(/\/$/, '');
    } catch {
      throw new UsageError(`${name}: "${value}" is not an http(s) URL`);
    }
  };
  const services = values.service.map((s) => {
    const i = s.indexOf('=');
    if (i <= 0) throw new UsageError(`--service: "${s}" is not name=url`);
    return { name: s.slice(0, i), url: url(`--service ${s.slice(0, i)}`, s.slice(i + 1)) };
  });
  if (services.length === 0) throw new UsageError('--service: give at least one name=url to health-check');
  const timeoutS = Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0 || timeoutS > 600) throw new UsageError(`--timeout: "${values.timeout}" is not a number of seconds in (0, 600]`);
  // Subject tokens (docs/api.md): a bad id would be refused by ingest anyway; say it here first.
  for (const key of ['store', 'station', 'display']) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(values[key])) throw new UsageError(`--${key}: "${values[key]}" is not a valid identifier ([A-Za-z0-9_-], 1–64)`);
  }
  const config = { services, timeoutMs: timeoutS * 1000, healthOnly: values['health-only'], order: undefined };
  if (config.healthOnly) return config;
  for (const key of ['auth-url', 'ingest-url', 'edge-url']) {
    if (values[key] === undefined) throw new UsageError(`--${key} is required for the synthetic order (or --health-only)`);
  }
  const missing = CREDENTIAL_VARS.filter((v) => !env[v]);
  if (missing.length > 0) throw new UsageError(`missing credentials in the environment: ${missing.join(', ')}`);
  config.order = {
    authUrl: url('--auth-url', values['auth-url']),
    ingestUrl: url('--ingest-url', values['ingest-url']),
    edgeUrl: url('--edge-url', values['edge-url']),
    store: values.store,
    station: values.station,
    display: values.display,
    upstream: { id: env.SMOKE_UPSTREAM_CLIENT_ID, secret: env.SMOKE_UPSTREAM_CLIENT_SECRET },
    ops: { id: env.SMOKE_OPS_CLIENT_ID, secret: env.SMOKE_OPS_CLIENT_SECRET },
  };
  return config;
}


function expectStatus(what, res, status) {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} (expected ${status}) ${JSON.stringify(res.body).slice(0, 300)}`);
  return res.body;
}

/** GET /healthz and /readyz of one service; the error names the endpoint and the answer. */
export async function checkHealth({ name, url }) {
  for (const path of ['/healthz', '/readyz']) expectStatus(`${name} ${path}`, await callJson('GET', `${url}${path}`), 200);
}

async function clientToken(authUrl, client, scope) {
  const body = expectStatus(`token (${scope})`, await callJson('POST', `${authUrl}/v1/oauth/token`, { body: { grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret, scope } }), 200);
  return body.access_token;
}

function connectDisplay(edgeUrl, token, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = io(edgeUrl, { path: '/socket.io', transports: ['websocket'], auth: { token }, reconnection: false, timeout: timeoutMs });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(new Error(`canary display connect to ${edgeUrl}: ${err.message}${err.data ? ` ${JSON.stringify(err.data)}` : ''}`));
    });
  });
}

/** The synthetic order's end-to-end path; resolves with its orderId, rejects naming the failed step. */
export async function syntheticOrder(o, timeoutMs, log = () => {}) {
  const deadline = Date.now() + timeoutMs;
  const [ops, upstream] = await Promise.all([clientToken(o.authUrl, o.ops, 'displays:manage'), clientToken(o.authUrl, o.upstream, 'orders:write orders:read')]);
  const reg = { displayId: o.display, storeId: o.store, stations: [o.station] };
  let res = await callJson('POST', `${o.authUrl}/v1/displays`, { token: ops, body: reg });
  // The canary exists from the previous release: a fresh code for it (its mailbox is kept).
  if (res.status === 409) res = await callJson('POST', `${o.authUrl}/v1/displays?reissue=true`, { token: ops, body: reg });
  const { enrollmentCode } = expectStatus(`register canary display ${o.display}`, res, 201);
  const { accessToken } = expectStatus('enroll canary display', await callJson('POST', `${o.authUrl}/v1/displays/enroll`, { body: { enrollmentCode } }), 200);
  const socket = await connectDisplay(o.edgeUrl, accessToken, Math.max(1000, deadline - Date.now()));
  log(`canary display ${o.display} connected to ${o.edgeUrl}`);
  try {
    const orderId = `smoke-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    let timer;
    const received = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`order ${orderId} not received by the canary display within ${timeoutMs} ms`)), Math.max(0, deadline - Date.now()));
      socket.on('orders', (batch, ack) => {
        // Everything is acknowledged: a leftover from an earlier smoke must not stay in the mailbox.
        const list = Array.isArray(batch) ? batch : [];
        if (typeof ack === 'function') ack({ ack: list.map((d) => d.deliveryId) });
        if (list.some((d) => d.orderId === orderId)) resolve();
      });
      socket.on('disconnect', (reason) => reject(new Error(`canary display disconnected before the order arrived (${reason})`)));
    });
    // Handled here so a rejection while the POST is in flight is never unhandled.
    const outcome = received.then(
      () => undefined,
      (err) => err,
    );
    const order = { orderId, storeId: o.store, station: o.station, displayIds: [o.display], items: [{ name: 'Smoke test', qty: 1 }] };
    expectStatus(`POST /v1/orders ${orderId}`, await callJson('POST', `${o.ingestUrl}/v1/orders`, { token: upstream, body: order }), 202);
    log(`order ${orderId} accepted`);
    const err = await outcome;
    clearTimeout(timer);
    if (err !== undefined) throw err;
    log(`order ${orderId} received and acknowledged on the socket`);
    for (;;) {
      const status = expectStatus(`GET /v1/orders/${orderId}`, await callJson('GET', `${o.ingestUrl}/v1/orders/${encodeURIComponent(orderId)}`, { token: upstream }), 200);
      const mine = status.displays?.find((d) => d.displayId === o.display);
      if (mine?.status === 'delivered') return orderId;
      if (Date.now() >= deadline) throw new Error(`order ${orderId}: status for ${o.display} is ${mine?.status ?? 'missing'}, not delivered, after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    socket.close();
  }
}

/** Every check, each with ok/detail; never throws. */
export async function runSmoke(config, log = () => {}) {
  const results = [];
  for (const svc of config.services) {
    try {
      await checkHealth(svc);
      results.push({ check: `health ${svc.name}`, ok: true, detail: '/healthz, /readyz: 200' });
    } catch (err) {
      results.push({ check: `health ${svc.name}`, ok: false, detail: err.message });
    }
  }
  if (config.order !== undefined) {
    try {
      const orderId = await syntheticOrder(config.order, config.timeoutMs, log);
      results.push({ check: `order to ${config.order.display}`, ok: true, detail: `${orderId} delivered` });
    } catch (err) {
      results.push({ check: `order to ${config.order.display}`, ok: false, detail: err.message });
    }
  }
  return results;
}

async function main() {
  let config;
  try {
    config = parseSmokeArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${P} ${err.message}`);
    process.exit(2);
  }
  const results = await runSmoke(config, (m) => console.log(`${P} ${m}`));
  for (const r of results) console.log(`${P} ${r.ok ? 'PASS' : 'FAIL'} ${r.check}: ${r.detail}`);
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${P} ${failed === 0 ? 'all checks passed' : `${failed} of ${results.length} checks failed`}`);
  process.exit(failed === 0 ? 0 : 1);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
