/**
 * The Orderwire side of the k6 scenarios: tokens, display provisioning, one order POST, one
 * display session over a raw websocket. Imported by ingest.ts, displays.ts, combined.ts and
 * lib/scenarios.ts.
 */
import { check, fail, sleep } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Rate, Trend } from 'k6/metrics';
import ws from 'k6/ws';
import { handleOrders, displayMemory } from './deliveries.ts';
import { displayPlacement, orderBody, orderGroup } from './plan.ts';
import { parseCredentials, readSettings, type K6Settings } from './settings.ts';
import { PONG_FRAME, ackFrame, connectFrame, decodeFrame, eventFrame, websocketUrl } from './socketio.ts';

export const settings: K6Settings = readSettings(__ENV);

// `open()` works only in the init context, i.e. while this module loads.
const fileCredentials = settings.credentialsFile === undefined ? undefined : parseCredentials(open(settings.credentialsFile));

export const e2eLatency = new Trend('orderwire_e2e_ms', true);
export const deliveriesShown = new Counter('orderwire_deliveries_shown');
export const duplicatesOnWire = new Counter('orderwire_duplicates_on_wire');
export const malformedDeliveries = new Counter('orderwire_deliveries_malformed');
export const connectErrors = new Counter('orderwire_connect_errors');
export const sessionsEnded = new Counter('orderwire_session_end');
export const connected = new Rate('orderwire_connected');
export const ordersAccepted = new Counter('orderwire_orders_accepted');

const JSON_HEADERS = { 'content-type': 'application/json' };

function bodyText(body: string | ArrayBuffer | null): string {
  return typeof body === 'string' ? body.slice(0, 300) : '';
}

/** 5 attempts of a provisioning call on 429/5xx */
const PROVISION_ATTEMPTS = 5;
/** 10 s cap on one wait */
const PROVISION_WAIT_MAX_S = 10;

/** POST with bounded retries on 429 and 5xx, honouring Retry-After (auth rate-limits enrollment per IP). */
function postRetrying(url: string, body: string, params: { headers: Record<string, string>; tags: Record<string, string> }): ReturnType<typeof http.post> {
  let res = http.post(url, body, params);
  for (let attempt = 1; attempt < PROVISION_ATTEMPTS && (res.status === 429 || res.status >= 500 || res.status === 0); attempt++) {
    const retryAfter = Number(res.headers['Retry-After'] ?? res.headers['retry-after']);
    sleep(Math.min(PROVISION_WAIT_MAX_S, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : 0.5 * 2 ** attempt));
    res = http.post(url, body, params);
  }
  return res;
}

export interface SetupData {
  upstreamToken?: string;
  operatorToken?: string;
  /** Makes order ids unique across runs that reuse RUN_ID (ingest dedupes by order id). */
  stamp: string;
}

function credentials(kind: 'upstream' | 'operator'): { clientId: string; clientSecret: string } {
  const c = settings[kind] ?? fileCredentials?.[kind];
  if (c === undefined) {
    const prefix = kind.toUpperCase();
    return fail(`no ${kind} client: set ${prefix}_CLIENT_ID and ${prefix}_CLIENT_SECRET, or CREDENTIALS=<dev-credentials.json>`);
  }
  return c;
}

/** OAuth2 client credentials → access token. */
export function clientToken(kind: 'upstream' | 'operator', scope: string): string {
  const c = credentials(kind);
  const res = http.post(
    `${settings.authUrl}/v1/oauth/token`,
    JSON.stringify({ grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret, scope }),
    { headers: JSON_HEADERS, tags: { name: 'oauth_token' } },
  );
  const token = res.status === 200 ? (res.json('access_token') as string | null) : null;
  if (typeof token !== 'string') return fail(`token for ${kind} client: HTTP ${res.status} ${bodyText(res.body)}`);
  return token;
}

export function setupTokens(need: { upstream: boolean; operator: boolean }): SetupData {
  return {
    ...(need.upstream ? { upstreamToken: clientToken('upstream', 'orders:write') } : {}),
    ...(need.operator ? { operatorToken: clientToken('operator', 'displays:manage') } : {}),
    stamp: String(Date.now()),
  };
}

/** One `POST /v1/orders` to the station of the next display group. */
export function postOrder(data: SetupData): void {
  if (data.upstreamToken === undefined) fail('setup() did not fetch an upstream token');
  const n = exec.scenario.iterationInTest;
  const orderId = `${settings.plan.runId}-${data.stamp}-${n}`;
  const body = orderBody(settings.plan, orderId, orderGroup(settings.plan, n), new Date());
  const res = http.post(`${settings.ingestUrl}/v1/orders`, JSON.stringify(body), {
    headers: { ...JSON_HEADERS, authorization: `Bearer ${data.upstreamToken}` },
    tags: { name: 'post_order' },
  });
  if (check(res, { 'order accepted (202)': (r) => r.status === 202 })) ordersAccepted.add(1);
}

export interface DisplayTokens {
  displayId: string;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

function readTokens(res: { status: number; json: (selector?: string) => unknown }, displayId: string): DisplayTokens | undefined {
  if (res.status !== 200) return undefined;
  const accessToken = res.json('accessToken');
  const refreshToken = res.json('refreshToken');
  const expiresIn = res.json('expiresIn');
  if (typeof accessToken !== 'string' || typeof refreshToken !== 'string') return undefined;
  return { displayId, accessToken, refreshToken, expiresIn: typeof expiresIn === 'number' ? expiresIn : 900 };
}

/** Registers (or re-issues the code of) display `index` and enrolls it. */
export function provisionDisplay(data: SetupData, index: number): DisplayTokens {
  if (data.operatorToken === undefined) fail('setup() did not fetch an operator token');
  const p = displayPlacement(settings.plan, index);
  // reissue=true: re-running with the same RUN_ID gets a fresh code instead of a conflict.
  const reg = postRetrying(
    `${settings.authUrl}/v1/displays?reissue=true`,
    JSON.stringify({ displayId: p.displayId, storeId: p.storeId, stations: [p.station] }),
    { headers: { ...JSON_HEADERS, authorization: `Bearer ${data.operatorToken}` }, tags: { name: 'register_display' } },
  );
  const code = reg.status === 201 ? (reg.json('enrollmentCode') as string | null) : null;
  if (typeof code !== 'string') return fail(`register ${p.displayId}: HTTP ${reg.status} ${bodyText(reg.body)}`);
  const enr = postRetrying(`${settings.authUrl}/v1/displays/enroll`, JSON.stringify({ enrollmentCode: code }), {
    headers: JSON_HEADERS,
    tags: { name: 'enroll_display' },
  });
  const tokens = readTokens(enr, p.displayId);
  if (tokens === undefined) return fail(`enroll ${p.displayId}: HTTP ${enr.status} ${bodyText(enr.body)}`);
  return tokens;
}

/** Rotates the display's refresh token (`POST /v1/token/refresh`); undefined when refused. */
export function refreshDisplay(tokens: DisplayTokens): DisplayTokens | undefined {
  const res = http.post(`${settings.authUrl}/v1/token/refresh`, JSON.stringify({ refreshToken: tokens.refreshToken }), {
    headers: JSON_HEADERS,
    tags: { name: 'refresh_token' },
  });
  return readTokens(res, tokens.displayId);
}

/** Decommissions every display of the plan this instance owns (teardown). */
export function decommissionDisplays(data: SetupData, count: number): void {
  if (data.operatorToken === undefined) return;
  const BATCH = 50;
  for (let start = 0; start < count; start += BATCH) {
    const reqs: Array<['DELETE', string, null, { headers: Record<string, string>; tags: Record<string, string> }]> = [];
    for (let i = start; i < Math.min(count, start + BATCH); i++) {
      const { displayId } = displayPlacement(settings.plan, settings.displayOffset + i);
      reqs.push(['DELETE', `${settings.authUrl}/v1/displays/${displayId}`, null, { headers: { authorization: `Bearer ${data.operatorToken}` }, tags: { name: 'delete_display' } }]);
    }
    http.batch(reqs);
  }
}

/**
 * One display until `untilMs` after its iteration started: connect to an edge (rotating through
 * EDGE_URLS), answer pings, ack every delivery, refresh its token in-band, reconnect when the
 * edge ends the session with `reconnect: true` or the socket drops; give up on a final refusal.
 */
export function displaySession(data: SetupData, untilMs: number): void {
  const started = Date.now();
  const local = exec.scenario.iterationInTest;
  const index = settings.displayOffset + local;
  // Bounded connection ramp: display i starts at i / connectRate seconds.
  sleep(local / settings.connectRate);
  let tokens = provisionDisplay(data, index);
  const memory = displayMemory();
  const deadline = started + untilMs;
  let attempt = 0;
  let failures = 0;
  let final = false;
  let requestId = 0;

  while (!final && Date.now() < deadline) {
    const edge = settings.edgeUrls[(index + attempt) % settings.edgeUrls.length]!;
    attempt++;
    let reconnectNow = false;
    const res = ws.connect(websocketUrl(edge), { tags: { name: 'edge_socket' } }, (socket) => {
      socket.on('message', (frame: string) => {
        let f: ReturnType<typeof decodeFrame>;
        try {
          f = decodeFrame(frame);
        } catch {
          // A frame this display cannot read (binary, unknown type) is counted, not fatal.
          malformedDeliveries.add(1);
          return;
        }
        if (f.layer === 'engine') {
          if (f.packet.type === 'open') socket.send(connectFrame({ token: tokens.accessToken }));
          else if (f.packet.type === 'ping') socket.send(PONG_FRAME);
          else if (f.packet.type === 'close') socket.close();
          return;
        }
        const p = f.packet;
        switch (p.type) {
          case 'connect':
            connected.add(true);
            failures = 0;
            return;
          case 'connect_error': {
            const reason = reasonOf(p.data.data);
            connected.add(false);
            connectErrors.add(1, { reason });
            final = reason === 'display_decommissioned' || reason === 'forbidden_origin';
            if (reason === 'token_expired' || reason === 'unauthorized') {
              // As the SDK: one refresh, then the next attempt uses the fresh access token.
              const next = refreshDisplay(tokens);
              if (next !== undefined) tokens = next;
            }
            socket.close();
            return;
          }
          case 'disconnect':
            reconnectNow = true;
            socket.close();
            return;
          case 'event':
            if (p.name === 'orders' && p.id !== undefined) {
              const out = handleOrders(p.args, memory, Date.now());
              socket.send(ackFrame(p.id, [out.answer]));
              for (const ms of out.latenciesMs) e2eLatency.add(ms);
              deliveriesShown.add(out.fresh.length);
              duplicatesOnWire.add(out.duplicates);
              malformedDeliveries.add(out.malformed);
            } else if (p.name === 'session:end') {
              const info = p.args[0] as { reason?: string; reconnect?: boolean } | undefined;
              sessionsEnded.add(1, { reason: info?.reason ?? 'unknown' });
              reconnectNow = info?.reconnect === true;
              final = info?.reconnect === false;
              socket.close();
            }
            return;
          default:
            return;
        }
      });
      // In-band refresh at 80 % of the token's life keeps long soak runs connected.
      socket.setInterval(() => {
        const next = refreshDisplay(tokens);
        if (next === undefined) return;
        tokens = next;
        socket.send(eventFrame('auth:refresh', [{ token: tokens.accessToken }], ++requestId));
      }, Math.max(10_000, tokens.expiresIn * 800));
      socket.setTimeout(() => socket.close(), Math.max(0, deadline - Date.now()));
    });
    if (res.status !== 101) connected.add(false);
    if (!reconnectNow && !final && Date.now() < deadline) {
      failures++;
      // Backoff grows with consecutive failures, capped, as the SDK does.
      sleep(Math.min(10, 0.5 * 2 ** Math.min(failures, 5)) * (0.5 + Math.random() / 2));
    }
  }
}

function reasonOf(data: unknown): string {
  return typeof data === 'object' && data !== null && typeof (data as { reason?: unknown }).reason === 'string'
    ? (data as { reason: string }).reason
    : 'unknown';
}
