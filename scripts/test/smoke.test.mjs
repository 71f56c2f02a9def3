// scripts/smoke.mjs against a fake of the deployed stack: one HTTP server answering the health
// endpoints, auth's token/register/enroll routes, ingest's order routes, and a real Socket.IO
// server playing the edge. Real sockets and HTTP; the fake's behaviour is switched per test to
// prove each check can fail and names what failed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Server } from 'socket.io';
import { REPO_ROOT } from '../lib/repo.mjs';
import { freePort } from './helpers.mjs';
import { parseSmokeArgs, runSmoke, UsageError } from '../smoke.mjs';

const ENV = { SMOKE_UPSTREAM_CLIENT_ID: 'pos', SMOKE_UPSTREAM_CLIENT_SECRET: 's1', SMOKE_OPS_CLIENT_ID: 'ops', SMOKE_OPS_CLIENT_SECRET: 's2' };
const SMOKE = join(REPO_ROOT, 'scripts', 'smoke.mjs');

/** The fake stack; `mode` changes one behaviour at a time. */
function fakeStack() {
  const state = { mode: 'ok', registered: new Set(), orders: new Map(), acked: [], sockets: new Map() };
  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = raw === '' ? {} : JSON.parse(raw);
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/healthz') return json(res, 200, { status: 'ok' });
      if (url.pathname === '/readyz') return state.mode === 'unready' ? json(res, 503, { status: 'not ready', checks: { nats: 'down' } }) : json(res, 200, { status: 'ready' });
      if (url.pathname === '/v1/oauth/token') {
        const ok = (body.client_id === 'pos' && body.client_secret === 's1') || (body.client_id === 'ops' && body.client_secret === 's2');
        return ok ? json(res, 200, { access_token: `tok-${body.client_id}`, token_type: 'Bearer', expires_in: 300, scope: body.scope }) : json(res, 401, { error: 'invalid_client' });
      }
      if (url.pathname === '/v1/displays' && req.method === 'POST') {
        if (req.headers.authorization !== 'Bearer tok-ops') return json(res, 403, { error: { code: 'FORBIDDEN' } });
        if (state.registered.has(body.displayId) && url.searchParams.get('reissue') !== 'true') return json(res, 409, { error: { code: 'ORDERWIRE_ERR_AUTH_DISPLAY_EXISTS' } });
        state.registered.add(body.displayId);
        return json(res, 201, { displayId: body.displayId, enrollmentCode: `code-${body.displayId}`, expiresIn: 600 });
      }
      if (url.pathname === '/v1/displays/enroll') return json(res, 200, { displayId: body.enrollmentCode.slice(5), accessToken: `display-${body.enrollmentCode.slice(5)}`, refreshToken: 'r', expiresIn: 300 });
      if (url.pathname === '/v1/orders' && req.method === 'POST') {
        const target = body.displayIds[0];
        state.orders.set(body.orderId, { target, status: 'pending' });
        const socket = state.sockets.get(target);
        if (state.mode !== 'lost' && socket !== undefined) {
          socket.emit('orders', [{ deliveryId: `d-${body.orderId}`, orderId: body.orderId, seq: 1, order: body }], (reply) => {
            state.acked.push(...reply.ack);
            if (state.mode !== 'undelivered' && reply.ack.includes(`d-${body.orderId}`)) state.orders.get(body.orderId).status = 'delivered';
          });
        }
        return json(res, 202, { orderId: body.orderId, duplicate: false });
      }
      const m = /^\/v1\/orders\/(.+)$/.exec(url.pathname);
      if (m !== null && req.method === 'GET') {
        const o = state.orders.get(decodeURIComponent(m[1]));
        return o === undefined ? json(res, 404, { error: { code: 'NOT_FOUND' } }) : json(res, 200, { orderId: m[1], displays: [{ displayId: o.target, status: o.status }] });
      }
      json(res, 404, { error: { code: 'NOT_FOUND' } });
    });
  });
  const ioServer = new Server(server, { path: '/socket.io', transports: ['websocket'] });
  ioServer.use((socket, next) => {
    const token = socket.handshake.auth?.token;
    if (typeof token !== 'string' || !token.startsWith('display-')) {
      const err = new Error('unauthorized');
      err.data = { reason: 'unauthorized' };
      return next(err);
    }
    next();
  });
  ioServer.on('connection', (socket) => {
    const id = socket.handshake.auth.token.slice('display-'.length);
    state.sockets.set(id, socket);
    socket.on('disconnect', () => state.sockets.delete(id));
  });
  return { server, ioServer, state };
}

describe('scripts/smoke.mjs', () => {
  let stack;
  let base;
  before(async () => {
    stack = fakeStack();
    await new Promise((r) => stack.server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${stack.server.address().port}`;
  });
  after(async () => {
    await new Promise((r) => stack.ioServer.close(() => r()));
  });

  const args = (extra = []) => [
    '--service', `auth=${base}`, '--service', `ingest=${base}`, '--service', `edge=${base}`, '--service', `dlq=${base}`,
    '--auth-url', base, '--ingest-url', base, '--edge-url', base, '--timeout', '3', ...extra,
  ];

  test('argument errors name the argument', () => {
    assert.throws(() => parseSmokeArgs([], ENV), (e) => e instanceof UsageError && /--service/.test(e.message));
    assert.throws(() => parseSmokeArgs(['--service', 'auth'], ENV), /not name=url/);
    assert.throws(() => parseSmokeArgs(['--service', 'auth=ftp://x'], ENV), /not an http\(s\) URL/);
    assert.throws(() => parseSmokeArgs(['--service', 'auth=http://x', '--timeout', '0', '--health-only'], ENV), /--timeout/);
    assert.throws(() => parseSmokeArgs(['--service', 'auth=http://x', '--display', 'a.b', '--health-only'], ENV), /--display: "a\.b"/);
    assert.throws(() => parseSmokeArgs(['--service', 'auth=http://x'], ENV), /--auth-url is required/);
    assert.throws(() => parseSmokeArgs(['--service', 'auth=http://x', '--auth-url', 'http://a', '--ingest-url', 'http://i', '--edge-url', 'http://e'], {}), /SMOKE_UPSTREAM_CLIENT_ID, SMOKE_UPSTREAM_CLIENT_SECRET, SMOKE_OPS_CLIENT_ID, SMOKE_OPS_CLIENT_SECRET/);
    assert.throws(() => parseSmokeArgs(['--bogus'], ENV), UsageError);
    const ok = parseSmokeArgs(['--service', 'auth=http://127.0.0.1:13001/', '--health-only'], {});
    assert.deepEqual(ok.services, [{ name: 'auth', url: 'http://127.0.0.1:13001' }]);
    assert.equal(ok.order, undefined);
  });

  test('a healthy stack passes every check, twice (the canary is re-issued on the second run)', async () => {
    stack.state.mode = 'ok';
    for (let run = 0; run < 2; run++) {
      const results = await runSmoke(parseSmokeArgs(args(), ENV));
      assert.deepEqual(results.map((r) => [r.check, r.ok]), [
        ['health auth', true],
        ['health ingest', true],
        ['health edge', true],
        ['health dlq', true],
        ['order to canary-display', true],
      ]);
      assert.match(results[4].detail, /^smoke-.* delivered$/);
    }
    assert.equal(stack.state.acked.length, 2);
  });

  test('an unready service fails its health check, naming the endpoint and the answer', async () => {
    stack.state.mode = 'unready';
    const results = await runSmoke(parseSmokeArgs(args(), ENV));
    const auth = results.find((r) => r.check === 'health auth');
    assert.equal(auth.ok, false);
    assert.match(auth.detail, /auth \/readyz: HTTP 503 \(expected 200\).*nats/);
  });

  test('an order that never reaches the canary display fails within the timeout', async () => {
    stack.state.mode = 'lost';
    const t0 = Date.now();
    const results = await runSmoke(parseSmokeArgs(args(), ENV));
    const order = results.at(-1);
    assert.equal(order.ok, false);
    assert.match(order.detail, /not received by the canary display within 3000 ms/);
    assert.ok(Date.now() - t0 < 10_000);
  });

  test('an order received but never reported delivered fails', async () => {
    stack.state.mode = 'undelivered';
    const order = (await runSmoke(parseSmokeArgs(args(), ENV))).at(-1);
    assert.equal(order.ok, false);
    assert.match(order.detail, /status for canary-display is pending, not delivered/);
  });

  test('wrong credentials and a refused socket are reported, not thrown', async () => {
    stack.state.mode = 'ok';
    const bad = (await runSmoke(parseSmokeArgs(args(), { ...ENV, SMOKE_OPS_CLIENT_SECRET: 'wrong' }))).at(-1);
    assert.match(bad.detail, /token \(displays:manage\): HTTP 401/);
    const closed = await freePort();
    const refused = (await runSmoke(parseSmokeArgs(args(['--edge-url', `http://127.0.0.1:${closed}`]), ENV))).at(-1);
    assert.equal(refused.ok, false);
    assert.match(refused.detail, new RegExp(`canary display connect to http://127\\.0\\.0\\.1:${closed}`));
  });

  test('the CLI exits 0 when all pass, 1 on a failed check, 2 on bad arguments', async () => {
    stack.state.mode = 'ok';
    const run = (a, env = ENV) =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [SMOKE, ...a], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (c) => (out += c));
        child.stderr.on('data', (c) => (out += c));
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
    const pass = await run(args());
    assert.equal(pass.code, 0, pass.out);
    assert.match(pass.out, /\[smoke\] PASS order to canary-display: smoke-.* delivered/);
    assert.match(pass.out, /all checks passed/);
    const closed = await freePort();
    const fail = await run(['--service', `auth=${base}`, '--service', `dlq=http://127.0.0.1:${closed}`, '--health-only']);
    assert.equal(fail.code, 1, fail.out);
    assert.match(fail.out, new RegExp(`FAIL health dlq: GET http://127\\.0\\.0\\.1:${closed}/healthz: ECONNREFUSED`));
    assert.match(fail.out, /1 of 2 checks failed/);
    const usage = await run(['--service', 'nope']);
    assert.equal(usage.code, 2);
    assert.match(usage.out, /\[smoke\] --service: "nope" is not name=url/);
  });
});
