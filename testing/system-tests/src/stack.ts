/**
 * The whole Orderwire system as real processes, for cross-service tests: NATS (JetStream) and
 * Redis from @orderwire/test-harness, then every service's built `dist/main.js` spawned on a free
 * loopback port (auth → seed-dev → ingest → edge × N → dlq), and helpers that act as an upstream
 * system, an operator and enrolled displays running the real display SDK.
 *
 * Services are never imported: they are spawned, exactly as `npm start` runs them.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Delivery, Order, OrderAccepted, Scope } from '@orderwire/contracts';
import {
  createDisplayClient,
  createTokenManager,
  type DisplayClient,
  type DisplaySdkError,
  type FetchFn,
  type ReenrollInfo,
  type StoredTokens,
  type TokenManager,
  type TokenStore,
} from '@orderwire/display-sdk';
import {
  findRepoRoot,
  runBeforeStart,
  startNats,
  startRedis,
  startServiceProcess,
  waitFor,
  type NatsServerHandle,
  type NatsServerOptions,
  type RedisServerHandle,
  type RedisServerOptions,
  type ServiceProcessHandle,
} from '@orderwire/test-harness';
import { io as socketIo, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';

/** 60 s for a service to answer /readyz (auth generates keys, dlq reads its index). */
export const SERVICE_START_TIMEOUT_MS = 60_000;
/** 30 s for one admin CLI command. */
export const CLI_TIMEOUT_MS = 30_000;
/** 10 s per HTTP request a helper makes. */
export const HTTP_TIMEOUT_MS = 10_000;
/** 20 000 log lines kept per service: the log tests read whole runs. */
export const SERVICE_LOG_LINES = 20_000;
/** 5 s SIGTERM grace of every service: tests stop them right after use. */
export const STACK_SHUTDOWN_GRACE = '5s';
/** Renew a cached client token this long before it expires. */
const CLIENT_TOKEN_RENEW_MARGIN_MS = 30_000;

/**
 * Limits raised so tests measure behaviour, not throttling: every test display enrolls and
 * refreshes from one loopback address, and fault tests post hundreds of orders per second.
 */
export const STACK_LIMITS: Readonly<Record<string, string>> = Object.freeze({
  INGEST_RATE_LIMIT_MAX: '100000000',
  AUTH_RATE_LIMIT_ENROLL_PER_IP: '100000000',
  AUTH_RATE_LIMIT_TOKEN_PER_IP: '100000000',
  AUTH_RATE_LIMIT_TOKEN_PER_CLIENT: '100000000',
  AUTH_RATE_LIMIT_REFRESH_PER_IP: '100000000',
  // Per-address edge limits: every test display connects from 127.0.0.1 (per-socket limits stay on).
  EDGE_HANDSHAKE_RATE: '0',
  EDGE_MAX_CONNECTIONS_PER_ADDRESS: '0',
  AUTH_RATE_LIMIT_DISPLAYS_PER_IP: '100000000',
  // Every test process calls from 127.0.0.1; refused-token tests must not close the address.
  AUTH_FAILURE_MAX: '100000000',
  INGEST_TENANT_ORDERS_PER_MINUTE: '100000000',
  AUTH_TENANT_MAX_DISPLAYS: '100000000',
  // scrypt at 2^12 keeps seeding fast; the cost is a production concern, not a system-test one.
  AUTH_SCRYPT_LOG_N: '12',
});

export type ServiceName = 'auth' | 'ingest' | 'edge' | 'dlq' | 'webhooks';
export type Env = Record<string, string>;

export interface StackOptions {
  /** Edge processes. @default 2 */
  edges?: number;
  /** Start the DLQ service. @default true */
  dlq?: boolean;
  /** Start the webhooks dispatcher. @default false */
  webhooks?: boolean;
  /**
   * Environment overrides: `all` for every service, then per service (edge: every edge);
   * `topology` on top of auth's for `orderwire-auth topology apply` (e.g. its own NATS identity).
   */
  env?: Partial<Record<ServiceName | 'all' | 'topology', Env>>;
  /** @default 'info' */
  logLevel?: string;
  /** Options of the NATS server (e.g. an `authorization` block as `config`). @default none */
  nats?: NatsServerOptions;
  /** Options of the Redis server (e.g. `requirePass`). @default none */
  redis?: RedisServerOptions;
  /** Runs once NATS and Redis are up, before any service starts (e.g. applying the topology). */
  beforeServices?: (servers: { nats: NatsServerHandle; redis: RedisServerHandle }) => Promise<void>;
}

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  scopes?: string[] | string;
}

/** What `auth seed-dev --out` writes (docs/auth.md). */
export interface DevCredentials {
  tenant: string;
  upstream: ClientCredentials;
  operator: ClientCredentials;
  urls?: Record<string, unknown>;
}

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** An order as an upstream system sends it (defaults are applied by ingest). */
export type OrderInput = Pick<Order, 'orderId' | 'storeId' | 'station' | 'items'> & Partial<Omit<Order, 'orderId'>>;

export interface ShownOrder {
  orderId: string;
  deliveryId: string;
  seq: number;
  deliveryCount: number;
  late: boolean;
  replay: boolean;
  /** Edge URL the display was connected to. */
  url: string;
  at: number;
}

export interface RefusedDelivery {
  orderId: string;
  deliveryId: string;
  seq: number;
  deliveryCount: number;
  at: number;
}

export type DisplayEvent =
  | { type: 'connected'; url: string; at: number; socketId: string | undefined }
  | { type: 'disconnected'; url: string; reason: string; at: number }
  | { type: 'session_end'; url: string; reason: string; reconnect: boolean; at: number }
  | { type: 'orders_expired'; url: string; orderIds: string[]; total: number; at: number }
  | { type: 'reenroll_required'; reason: string; at: number; source: 'client' | 'tokens' }
  | { type: 'error'; code: string; serverCode: string | undefined; message: string; at: number }
  | { type: 'tokens'; at: number };

export interface NewDisplayOptions {
  displayId: string;
  storeId: string;
  stations: string[];
  /** Edge URLs in the SDK's rotation order. @default every edge of the stack */
  edgeUrls?: string[];
  /** Start the DisplayClient and wait for its first connection. @default true */
  connect?: boolean;
  /** Reconnect backoff. @default { baseMs: 100, maxMs: 1000 } */
  reconnect?: { baseMs?: number; maxMs?: number };
  /** Refresh retry backoff. @default { baseMs: 100, maxMs: 1000 } */
  retry?: { baseMs?: number; maxMs?: number; maxAttempts?: number };
  /** How long the `order` handler takes per delivery. @default 0 */
  showDelayMs?: number;
  /** Operator client that registers it (another tenant's). @default the seeded operator */
  operator?: ClientCredentials;
}

export interface TestDisplay {
  readonly displayId: string;
  readonly tokens: TokenManager;
  /** The current DisplayClient (replaced by `restartClient`). */
  readonly client: DisplayClient<Order>;
  /** Stops the client and starts a new one with the same tokens (an app restart: empty dedupe memory). */
  restartClient(edgeUrls?: string[]): void;
  /** Every delivery the app was handed (i.e. shown), in order. */
  readonly shown: ShownOrder[];
  /** Deliveries the handler refused (see `rejectWhen`), in order. */
  readonly refused: RefusedDelivery[];
  /** SDK events with timestamps, in order. */
  readonly events: DisplayEvent[];
  /** Every access/refresh token pair the TokenManager stored, oldest first. */
  readonly tokenHistory: StoredTokens[];
  shownIds(): Set<string>;
  /** Refuse deliveries for which `predicate` is true (the handler throws `reason`). */
  rejectWhen(predicate: ((delivery: Delivery<Order>) => boolean) | undefined, reason?: string): void;
  /** HTTP calls of the TokenManager to `/v1/token/refresh`. */
  refreshCalls(): number;
  /** While blocked, refreshes fail like a network outage (the SDK retries). */
  blockRefresh(blocked: boolean): void;
  /** Socket.IO sockets the client opened, oldest first. */
  sockets(): Socket[];
  /** Socket id of the live connection. */
  socketId(): string | undefined;
  count(type: DisplayEvent['type']): number;
  /** Waits for the client to be connected (optionally to a given edge URL). */
  waitConnected(options?: { url?: string; timeoutMs?: number }): Promise<void>;
  close(): void;
}

export interface PostOrderOptions {
  token?: string;
  idempotencyKey?: string;
  traceparent?: string;
}

export interface Stack {
  readonly nats: NatsServerHandle;
  readonly redis: RedisServerHandle;
  readonly auth: ServiceProcessHandle;
  readonly ingest: ServiceProcessHandle;
  readonly edges: readonly ServiceProcessHandle[];
  readonly dlq: ServiceProcessHandle | undefined;
  readonly webhooks: ServiceProcessHandle | undefined;
  readonly edgeUrls: readonly string[];
  readonly credentials: DevCredentials;
  readonly tenant: string;
  /** The environment every service got (NATS, Redis, KEK, issuer, JWKS, limits). */
  readonly env: Readonly<Env>;
  /** Every secret the stack handed out so far (client secrets, tokens, codes, KEK). */
  secrets(): string[];
  /** Runs `node services/auth/dist/cli.js <args>` with the stack's env; parsed JSON stdout. */
  authCli(args: string[]): Promise<unknown>;
  /** Client-credentials token with exactly these scopes (cached until near expiry). */
  clientToken(scopes: Scope[], client?: ClientCredentials): Promise<string>;
  /** Registers a display through the operator API; returns its enrollment code. */
  registerDisplay(display: { displayId: string; storeId: string; stations: string[] }, operator?: ClientCredentials): Promise<string>;
  /** `POST /v1/displays/enroll` without the SDK (for raw-socket tests). */
  enroll(code: string): Promise<{ displayId: string; accessToken: string; refreshToken: string; expiresIn: number }>;
  newDisplay(options: NewDisplayOptions): Promise<TestDisplay>;
  postOrder(order: OrderInput, options?: PostOrderOptions): Promise<HttpResult<OrderAccepted & { error?: { code: string } }>>;
  orderStatus(orderId: string, token?: string): Promise<HttpResult<OrderStatus>>;
  /** JSON request to a service URL with a bearer token. */
  request<T = unknown>(method: string, url: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<HttpResult<T>>;
  /** `GET /metrics` of every running service. */
  scrape(): Promise<{ service: string; name: string; text: string }[]>;
  /** Running service handles: auth, ingest, edges, dlq, webhooks. */
  services(): ServiceProcessHandle[];
  /** Log tails of every process, for failure messages. */
  tails(lines?: number): string;
  dispose(): Promise<void>;
}

export interface OrderStatus {
  orderId: string;
  status: 'accepted';
  acceptedAt?: number;
  targetCount: number;
  summary: Record<string, number>;
  displays: { displayId: string; status: string; at: number; seq: number; stream?: string; edge?: string; deliveryCount?: number; reason?: string }[];
}

function repoRoot(): string {
  const root = findRepoRoot();
  if (root === undefined) throw new Error('ORDERWIRE_ERR_SYSTEM_TESTS_NO_REPO: repository root (turbo.json) not found');
  return root;
}

/** A minimal valid order. */
export function makeOrder(orderId: string, storeId: string, station: string, extra: Partial<OrderInput> = {}): OrderInput {
  return {
    orderId,
    storeId,
    station,
    items: [{ name: 'Cheeseburger', qty: 1 }],
    createdAt: new Date().toISOString(),
    ...extra,
  };
}

export async function httpJson<T = unknown>(
  method: string,
  url: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string>; form?: boolean } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

function runNode(main: string, args: string[], env: Env, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [main, ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err !== null) {
          reject(new Error(`${main} ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-2000)}`, { cause: err }));
          return;
        }
        resolve(stdout);
      },
    );
  });
}

/** Keeps every token pair the TokenManager saves, so tests can replay a spent refresh token. */
function recordingStore(history: StoredTokens[], onSave: (tokens: StoredTokens) => void): TokenStore {
  let value: StoredTokens | undefined;
  return {
    load: async () => (value === undefined ? undefined : { ...value }),
    save: async (tokens) => {
      value = { ...tokens };
      history.push({ ...tokens });
      onSave(tokens);
    },
    clear: async () => {
      value = undefined;
    },
  };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const root = repoRoot();
  const edgeCount = options.edges ?? 2;
  const withDlq = options.dlq ?? true;
  const withWebhooks = options.webhooks ?? false;
  const overrides = options.env ?? {};
  const mains = {
    auth: 'services/auth/dist/main.js',
    authCli: join(root, 'services/auth/dist/cli.js'),
    ingest: 'services/ingest/dist/main.js',
    edge: 'services/edge/dist/main.js',
    dlq: 'services/dlq/dist/main.js',
    webhooks: 'services/webhooks/dist/main.js',
  };

  const dir = await mkdtemp(join(tmpdir(), 'orderwire-system-'));
  const handles: ServiceProcessHandle[] = [];
  const secrets = new Set<string>();
  const displays: TestDisplay[] = [];
  let nats: NatsServerHandle | undefined;
  let redis: RedisServerHandle | undefined;

  const dispose = async (): Promise<void> => {
    for (const d of displays.splice(0)) d.close();
    // Reverse start order; then the servers.
    for (const h of [...handles].reverse()) await h.dispose().catch(() => undefined);
    await redis?.dispose();
    await nats?.dispose();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    [nats, redis] = await Promise.all([startNats(options.nats), startRedis(options.redis)]);
    await options.beforeServices?.({ nats, redis });
    const kek = randomBytes(32).toString('base64');
    secrets.add(kek);
    const common: Env = {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      AUTH_KEK: kek,
      AUTH_ISSUER: 'orderwire-auth-system-tests',
      LOG_LEVEL: options.logLevel ?? 'info',
      SHUTDOWN_GRACE: STACK_SHUTDOWN_GRACE,
      ...STACK_LIMITS,
      ...overrides.all,
    };
    const envFor = (service: ServiceName, name: string): Env => {
      // Only auth may hold the KEK: a secret in a process that does not need it is a leak.
      const base = service === 'auth' ? common : Object.fromEntries(Object.entries(common).filter(([k]) => k !== 'AUTH_KEK'));
      return { ...base, INSTANCE_ID: name, ...overrides[service] };
    };
    const spawnService = async (service: ServiceName, name: string, main: string, env: Env): Promise<ServiceProcessHandle> => {
      const h = await startServiceProcess({ name, main, env, startTimeoutMs: SERVICE_START_TIMEOUT_MS, logLines: SERVICE_LOG_LINES });
      handles.push(h);
      return h;
    };

    // Auth first: everyone else needs its JWKS URL. Its own URL is known only once it runs.
    const authEnvBase = envFor('auth', 'auth');
    // Before any service, as npm start does: the topology owner applies every stream and bucket
    // (with auth's settings, so bucket TTLs follow e.g. an AUTH_REFRESH_TTL override).
    await runBeforeStart({ ...authEnvBase, LOG_LEVEL: 'warn', ...overrides.topology }, { root });
    const auth = await startServiceProcess({
      name: 'auth',
      main: mains.auth,
      env: { ...authEnvBase },
      startTimeoutMs: SERVICE_START_TIMEOUT_MS,
      logLines: SERVICE_LOG_LINES,
    });
    handles.push(auth);
    const jwksUrl = `${auth.url}/.well-known/jwks.json`;
    common.AUTH_JWKS_URL = jwksUrl;
    const cliEnv: Env = { ...authEnvBase, AUTH_JWKS_URL: jwksUrl, LOG_LEVEL: 'warn' };

    // Everything after auth needs only its JWKS URL: seed and start the rest side by side.
    const credsFile = join(dir, 'dev-credentials.json');
    const [, ingest, dlq, webhooks, ...edges] = await Promise.all([
      runNode(mains.authCli, ['seed-dev', '--out', credsFile], cliEnv, CLI_TIMEOUT_MS),
      spawnService('ingest', 'ingest', mains.ingest, envFor('ingest', 'ingest')),
      withDlq ? spawnService('dlq', 'dlq', mains.dlq, envFor('dlq', 'dlq')) : Promise.resolve(undefined),
      withWebhooks ? spawnService('webhooks', 'webhooks', mains.webhooks, envFor('webhooks', 'webhooks')) : Promise.resolve(undefined),
      ...Array.from({ length: edgeCount }, (_, i) => spawnService('edge', `edge-${i + 1}`, mains.edge, envFor('edge', `edge-${i + 1}`))),
    ]);
    const credentials = JSON.parse(await readFile(credsFile, 'utf8')) as DevCredentials;
    secrets.add(credentials.upstream.clientSecret);
    secrets.add(credentials.operator.clientSecret);
    const edgeUrls = edges.map((e) => e.url);

    const tokenCache = new Map<string, { token: string; expiresAt: number }>();
    const clientFor = (scopes: Scope[]): ClientCredentials => {
      const upstreamScopes = new Set(['orders:write', 'orders:read', 'webhooks:manage']);
      return scopes.every((s) => upstreamScopes.has(s)) ? credentials.upstream : credentials.operator;
    };

    const stack: Stack = {
      nats,
      redis,
      auth,
      ingest,
      edges,
      dlq,
      webhooks,
      edgeUrls,
      credentials,
      tenant: credentials.tenant,
      env: { ...common },
      secrets: () => [...secrets],

      async authCli(args) {
        const out = await runNode(mains.authCli, args, cliEnv, CLI_TIMEOUT_MS);
        const parsed: unknown = JSON.parse(out);
        collectSecrets(parsed, secrets);
        return parsed;
      },

      async clientToken(scopes, client) {
        const creds = client ?? clientFor(scopes);
        const key = `${creds.clientId} ${[...scopes].sort().join(' ')}`;
        const cached = tokenCache.get(key);
        if (cached !== undefined && cached.expiresAt - CLIENT_TOKEN_RENEW_MARGIN_MS > Date.now()) return cached.token;
        const res = await httpJson<{ access_token: string; expires_in: number }>('POST', `${auth.url}/v1/oauth/token`, {
          body: { grant_type: 'client_credentials', client_id: creds.clientId, client_secret: creds.clientSecret, scope: scopes.join(' ') },
        });
        if (res.status !== 200) throw new Error(`client token for ${scopes.join(' ')}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
        secrets.add(res.body.access_token);
        tokenCache.set(key, { token: res.body.access_token, expiresAt: Date.now() + res.body.expires_in * 1000 });
        return res.body.access_token;
      },

      async registerDisplay(display, operator) {
        const token = await stack.clientToken(['displays:manage'], operator);
        const res = await httpJson<{ enrollmentCode: string }>('POST', `${auth.url}/v1/displays`, { token, body: display });
        if (res.status !== 201) throw new Error(`register ${display.displayId}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
        secrets.add(res.body.enrollmentCode);
        return res.body.enrollmentCode;
      },

      async enroll(code) {
        const res = await httpJson<{ displayId: string; accessToken: string; refreshToken: string; expiresIn: number }>(
          'POST',
          `${auth.url}/v1/displays/enroll`,
          { body: { enrollmentCode: code } },
        );
        if (res.status !== 200) throw new Error(`enroll: HTTP ${res.status} ${JSON.stringify(res.body)}`);
        secrets.add(res.body.accessToken);
        secrets.add(res.body.refreshToken);
        return res.body;
      },

      async newDisplay(opts) {
        const code = await stack.registerDisplay({ displayId: opts.displayId, storeId: opts.storeId, stations: opts.stations }, opts.operator);
        const display = createTestDisplay({
          authUrl: auth.url,
          edgeUrls: opts.edgeUrls ?? edgeUrls,
          options: opts,
          onTokens: (t) => {
            secrets.add(t.accessToken);
            secrets.add(t.refreshToken);
          },
        });
        displays.push(display);
        await display.tokens.enroll(code);
        if (opts.connect ?? true) {
          display.client.start();
          await display.waitConnected();
        }
        return display;
      },

      async postOrder(order, opts = {}) {
        const token = opts.token ?? (await stack.clientToken(['orders:write']));
        const headers: Record<string, string> = {};
        if (opts.idempotencyKey !== undefined) headers['idempotency-key'] = opts.idempotencyKey;
        if (opts.traceparent !== undefined) headers.traceparent = opts.traceparent;
        return httpJson('POST', `${ingest.url}/v1/orders`, { token, body: order, headers });
      },

      async orderStatus(orderId, token) {
        const t = token ?? (await stack.clientToken(['orders:read']));
        return httpJson('GET', `${ingest.url}/v1/orders/${encodeURIComponent(orderId)}`, { token: t });
      },

      request: (method, url, opts = {}) => httpJson(method, url, opts),

      async scrape() {
        const running = stack.services().filter((h) => h.running);
        return Promise.all(
          running.map(async (h) => {
            const res = await fetch(`${h.url}/metrics`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
            const text = await res.text();
            if (res.status !== 200) throw new Error(`${h.name} /metrics: HTTP ${res.status}`);
            return { service: h.name.replace(/-\d+$/, ''), name: h.name, text };
          }),
        );
      },

      services: () => [auth, ingest, ...edges, ...(dlq === undefined ? [] : [dlq]), ...(webhooks === undefined ? [] : [webhooks])],

      tails(lines = 40) {
        const all: { name: string; logs(): string }[] = [...stack.services(), nats!, redis!];
        return all
          .map((h) => {
            const text = h.logs().split('\n');
            return `----- ${h.name}\n${text.slice(-lines).join('\n')}`;
          })
          .join('\n');
      },

      dispose,
    };
    return stack;
  } catch (err) {
    const tails = handles.map((h) => `----- ${h.name}\n${h.logs().split('\n').slice(-30).join('\n')}`).join('\n');
    await dispose().catch(() => undefined);
    throw new Error(`ORDERWIRE_ERR_SYSTEM_TESTS_STACK_START: ${err instanceof Error ? err.message : String(err)}\n${tails}`, { cause: err });
  }
}

/** Any `clientSecret` / token-looking field in CLI output is a secret for the leak test. */
function collectSecrets(value: unknown, into: Set<string>): void {
  if (typeof value !== 'object' || value === null) return;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string' && /secret|token|code/i.test(k) && v.length >= 16) into.add(v);
    else collectSecrets(v, into);
  }
}

function createTestDisplay(args: {
  authUrl: string;
  edgeUrls: string[];
  options: NewDisplayOptions;
  onTokens: (t: StoredTokens) => void;
}): TestDisplay {
  const { options } = args;
  const shown: ShownOrder[] = [];
  const refused: RefusedDelivery[] = [];
  const events: DisplayEvent[] = [];
  const tokenHistory: StoredTokens[] = [];
  const sockets: Socket[] = [];
  let refreshCalls = 0;
  let refreshBlocked = false;
  let reject: { predicate: (d: Delivery<Order>) => boolean; reason: string } | undefined;

  const store = recordingStore(tokenHistory, args.onTokens);
  const countingFetch: FetchFn = async (input, init) => {
    if (input.endsWith('/v1/token/refresh')) {
      refreshCalls++;
      // A TypeError is what fetch throws on a network failure: the SDK retries it.
      if (refreshBlocked) throw new TypeError('fetch failed (refresh blocked by the test)');
    }
    return fetch(input, init);
  };
  const tokens = createTokenManager({
    // The stack runs on plain http on 127.0.0.1.
    development: true,
    authUrl: args.authUrl,
    store,
    fetch: countingFetch,
    retry: { baseMs: 100, maxMs: 1_000, ...options.retry },
  });
  const io = (uri: string, opts: Partial<ManagerOptions & SocketOptions>): Socket => {
    const s = socketIo(uri, opts);
    sockets.push(s);
    return s;
  };
  const now = (): number => Date.now();

  /** A DisplayClient with the test's listeners; replaced by `restartClient` (an app restart). */
  const makeClient = (edgeUrls: string[]): DisplayClient<Order> => {
    const c = createDisplayClient<Order>({
      development: true,
      edgeUrls,
      tokens,
      io,
      reconnect: { baseMs: 100, maxMs: 1_000, ...options.reconnect },
      connectTimeoutMs: 5_000,
      authRefreshTimeoutMs: 5_000,
    });
    c.on('order', async (delivery, info) => {
      if (reject?.predicate(delivery) === true) {
        refused.push({ orderId: delivery.orderId, deliveryId: delivery.deliveryId, seq: delivery.seq, deliveryCount: delivery.deliveryCount, at: now() });
        throw new Error(reject.reason);
      }
      if (options.showDelayMs !== undefined && options.showDelayMs > 0) {
        await new Promise((r) => setTimeout(r, options.showDelayMs));
      }
      shown.push({
        orderId: delivery.orderId,
        deliveryId: delivery.deliveryId,
        seq: delivery.seq,
        deliveryCount: delivery.deliveryCount,
        late: info.late,
        replay: delivery.replay === true,
        url: c.url,
        at: now(),
      });
    });
    c.on('connected', ({ url }) => events.push({ type: 'connected', url, at: now(), socketId: sockets.at(-1)?.id }));
    c.on('disconnected', ({ url, reason }) => events.push({ type: 'disconnected', url, reason, at: now() }));
    c.on('session_end', ({ url, reason, reconnect }) => events.push({ type: 'session_end', url, reason, reconnect, at: now() }));
    c.on('orders_expired', ({ url, orders, total }) =>
      events.push({ type: 'orders_expired', url, orderIds: orders.map((o) => o.orderId), total, at: now() }),
    );
    c.on('reenroll_required', (info: ReenrollInfo) => events.push({ type: 'reenroll_required', reason: info.reason, at: now(), source: 'client' }));
    c.on('error', (err: DisplaySdkError) =>
      events.push({ type: 'error', code: err.code, serverCode: err.serverCode, message: err.message, at: now() }),
    );
    return c;
  };
  let client = makeClient(args.edgeUrls);
  tokens.on('tokens', () => events.push({ type: 'tokens', at: now() }));
  tokens.on('reenroll_required', (info) => events.push({ type: 'reenroll_required', reason: info.reason, at: now(), source: 'tokens' }));
  tokens.on('error', (err) => events.push({ type: 'error', code: err.code, serverCode: err.serverCode, message: err.message, at: now() }));

  return {
    displayId: options.displayId,
    tokens,
    get client() {
      return client;
    },
    restartClient(edgeUrls = args.edgeUrls) {
      client.stop();
      client = makeClient(edgeUrls);
      client.start();
    },
    shown,
    refused,
    events,
    tokenHistory,
    shownIds: () => new Set(shown.map((s) => s.orderId)),
    rejectWhen(predicate, reason = 'rejected by the test display') {
      reject = predicate === undefined ? undefined : { predicate, reason };
    },
    refreshCalls: () => refreshCalls,
    blockRefresh(blocked) {
      refreshBlocked = blocked;
    },
    sockets: () => [...sockets],
    socketId: () => (client.state === 'connected' ? sockets.at(-1)?.id : undefined),
    count: (type) => events.filter((e) => e.type === type).length,
    async waitConnected(opts = {}) {
      await waitFor(() => client.state === 'connected' && (opts.url === undefined || client.url === opts.url), {
        timeoutMs: opts.timeoutMs ?? 15_000,
        message: () =>
          `display ${options.displayId} connected${opts.url === undefined ? '' : ` to ${opts.url}`} (state ${client.state} at ${client.url}; ` +
          `last events ${JSON.stringify(events.slice(-5))})`,
      });
    },
    close() {
      client.stop();
      tokens.close();
      for (const s of sockets) s.disconnect();
    },
  };
}

/** Order ids accepted (202) but never shown by any of `displays`: must be empty. */
export function lostOrders(accepted: Iterable<string>, displays: readonly TestDisplay[]): string[] {
  const shown = new Set<string>();
  for (const d of displays) for (const id of d.shownIds()) shown.add(id);
  return [...accepted].filter((id) => !shown.has(id));
}

/** Ids shown more than once by one display (exactly-once on screen must hold). */
export function shownTwice(display: TestDisplay): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const s of display.shown) {
    if (seen.has(s.orderId)) twice.add(s.orderId);
    seen.add(s.orderId);
  }
  return [...twice];
}

/** Sum of a counter/gauge's samples matching `labels` in a Prometheus text exposition. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labelText = m[3] ?? '';
    const ok = Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`));
    if (ok) sum += Number(m[4]);
  }
  return sum;
}

export interface RawSocket {
  readonly socket: Socket;
  /** `session:end` payloads and `disconnect` / `connect_error` reasons, with timestamps. */
  readonly events: { type: 'connect' | 'session:end' | 'disconnect' | 'connect_error'; at: number; detail: unknown }[];
  /** Resolves once connected; rejects with the handshake's `connect_error` data. */
  connected: Promise<void>;
  close(): void;
}

/**
 * A bare Socket.IO connection with `auth: { token }` and nothing else: no refresh, no reconnect —
 * to observe exactly what the edge does to a socket on its own.
 */
export function rawSocket(url: string, token: string): RawSocket {
  const events: RawSocket['events'] = [];
  const socket = socketIo(url, { path: '/socket.io', transports: ['websocket'], reconnection: false, forceNew: true, auth: { token } });
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err: Error & { data?: unknown }) => reject(Object.assign(new Error(err.message), { data: err.data })));
  });
  // A refused handshake is an expected outcome in these tests; the promise is awaited there.
  connected.catch(() => undefined);
  socket.on('connect', () => events.push({ type: 'connect', at: Date.now(), detail: socket.id }));
  socket.on('session:end', (info: unknown) => events.push({ type: 'session:end', at: Date.now(), detail: info }));
  socket.on('disconnect', (reason) => events.push({ type: 'disconnect', at: Date.now(), detail: reason }));
  socket.on('connect_error', (err: Error & { data?: unknown }) => events.push({ type: 'connect_error', at: Date.now(), detail: err.data ?? err.message }));
  // Deliveries are answered so the edge does not time them out; this socket shows nothing.
  socket.on('orders', (batch: { deliveryId: string }[], ack: (a: { ack: string[] }) => void) => ack({ ack: batch.map((d) => d.deliveryId) }));
  return { socket, events, connected, close: () => socket.disconnect() };
}

/** `waitFor` for a value: resolves with the first non-nullish, truthy result. */
export async function waitValue<T>(
  fn: () => T | undefined | Promise<T | undefined>,
  options: { timeoutMs?: number; intervalMs?: number; message?: string | (() => string) },
): Promise<NonNullable<T>> {
  return (await waitFor(fn, options)) as NonNullable<T>;
}
