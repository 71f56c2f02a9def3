/**
 * A display at the protocol level: the same wire conversation as the display SDK (and as the k6
 * scripts), on a plain `ws` socket with the framing of ./socketio.ts, without socket.io-client.
 *
 * Why it exists: the bench's display clients share two cores with the system they measure. Per
 * connection socket.io-client's Manager / engine.io Socket / ws stack costs about twice a plain
 * ws socket's CPU (docs/benchmarks.md round 11), and global fetch more than undici's pool, so
 * at 10,000 displays the harness's own clients were a third of all the CPU spent enrolling.
 * `--client protocol` runs the fleet on this; `--client sdk` (the default) on the real SDK.
 *
 * What it does, as the SDK does: enrolls with its code (retries on transport errors, 5xx and
 * 429), connects with the access token in the CONNECT packet, answers pings, shows and acks each
 * `orders` batch (dedupe by delivery and order id: ./deliveries.ts), acks `orders:expired`,
 * refreshes its token in-band before it expires, and reconnects with the SDK's backoff — the
 * next edge after a dropped transport, at once (with jitter) after a `session:end` that says
 * reconnect, through a token refresh after `token_expired`; it stops on a final refusal.
 */
import WebSocket from 'ws';
import { retryAfterMs, type HttpClient, type HttpResponse } from '../http.js';
import { displayMemory, handleOrders, type DisplayMemory, type WireDelivery } from './deliveries.js';
import { PONG_FRAME, ackFrame, connectFrame, decodeFrame, eventFrame, websocketUrl, type Frame } from './socketio.js';

/** The SDK's defaults (display-sdk DEFAULT_CONNECT_TIMEOUT_MS, reconnect backoff, DEFAULT_ENROLL_MAX_ATTEMPTS). */
export const PROTOCOL_DEFAULTS = { connectTimeoutMs: 10_000, backoff: { baseMs: 500, maxMs: 30_000 }, enrollMaxAttempts: 3 } as const;

const ENROLL_PATH = '/v1/displays/enroll';
const REFRESH_PATH = '/v1/token/refresh';
/** Refused handshakes no retry can change (the SDK stops on them too). */
const FINAL_REFUSALS = new Set(['forbidden_origin', 'display_decommissioned']);
const TOKEN_REFUSALS = new Set(['token_expired', 'unauthorized', 'token_revoked']);

export interface DisplayTokens {
  accessToken: string;
  refreshToken: string;
  /** Access token lifetime in seconds, as the auth service answered. */
  expiresInS: number;
}

/** A failure of the protocol display, with a stable code and, when the server named one, its reason. */
export class ProtocolDisplayError extends Error {
  readonly code: 'ORDERWIRE_ERR_BENCH_DISPLAY_ENROLL' | 'ORDERWIRE_ERR_BENCH_DISPLAY_REFRESH' | 'ORDERWIRE_ERR_BENCH_DISPLAY_CONNECT' | 'ORDERWIRE_ERR_BENCH_DISPLAY_FRAME';
  readonly reason: string | undefined;
  /** A transport failure, a 5xx or a 429: worth another try later. */
  readonly retryable: boolean;
  constructor(code: ProtocolDisplayError['code'], message: string, reason?: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options);
    this.name = 'ProtocolDisplayError';
    this.code = code;
    this.reason = reason;
    this.retryable = options?.retryable ?? false;
  }
}

function backoffDelay(failures: number, policy: { baseMs: number; maxMs: number }, random: () => number): number {
  // display-sdk timing.ts backoffDelay: exponential, half of it jittered.
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

function readTokens(res: HttpResponse): DisplayTokens | undefined {
  const body = res.body as { accessToken?: unknown; refreshToken?: unknown; expiresIn?: unknown } | undefined;
  if (typeof body?.accessToken !== 'string' || typeof body.refreshToken !== 'string') return undefined;
  return { accessToken: body.accessToken, refreshToken: body.refreshToken, expiresInS: typeof body.expiresIn === 'number' ? body.expiresIn : 900 };
}

/** The error code of an Orderwire error body (`{ error: { code, message } }`). */
function serverCode(res: HttpResponse): string | undefined {
  const code = (res.body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' ? code : undefined;
}

/** POST with the SDK's retries: transport failures, 5xx and 429 (after its Retry-After when given). */
async function postTokens(
  http: HttpClient,
  url: string,
  body: unknown,
  attempts: number,
  code: 'ORDERWIRE_ERR_BENCH_DISPLAY_ENROLL' | 'ORDERWIRE_ERR_BENCH_DISPLAY_REFRESH',
  random: () => number,
): Promise<DisplayTokens> {
  let last: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let res: HttpResponse | undefined;
    try {
      res = await http.request('POST', url, { body });
    } catch (err) {
      last = err;
    }
    if (res !== undefined) {
      if (res.status >= 200 && res.status < 300) {
        const tokens = readTokens(res);
        if (tokens === undefined) throw new ProtocolDisplayError(code, `${url}: ${res.status} without tokens`, 'malformed_answer');
        return tokens;
      }
      if (res.status < 500 && res.status !== 429) throw new ProtocolDisplayError(code, `${url}: ${res.status} ${res.text.slice(0, 200)}`, serverCode(res) ?? String(res.status));
      last = new ProtocolDisplayError(code, `${url}: ${res.status}`, serverCode(res) ?? String(res.status), { retryable: true });
    }
    if (attempt < attempts) {
      const wait = (res === undefined ? undefined : retryAfterMs(res.headers)) ?? backoffDelay(attempt, PROTOCOL_DEFAULTS.backoff, random);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  if (last instanceof ProtocolDisplayError) throw last;
  throw new ProtocolDisplayError(code, `${url}: ${last instanceof Error ? last.message : String(last)}`, 'transport', { cause: last, retryable: true });
}

/** Exchanges a one-time enrollment code for the display's tokens. */
export function enrollDisplay(http: HttpClient, authUrl: string, enrollmentCode: string, random: () => number = Math.random): Promise<DisplayTokens> {
  return postTokens(http, `${authUrl}${ENROLL_PATH}`, { enrollmentCode }, PROTOCOL_DEFAULTS.enrollMaxAttempts, 'ORDERWIRE_ERR_BENCH_DISPLAY_ENROLL', random);
}

export interface ProtocolDisplayStats {
  received: number;
  shown: number;
  duplicatesOnWire: number;
  acked: number;
  rejected: number;
}

export interface ProtocolDisplayOptions {
  authUrl: string;
  /** Edge base URLs in the order this display tries them. */
  edgeUrls: readonly string[];
  http: HttpClient;
  tokens: DisplayTokens;
  /** Epoch ms on the same clock as ingest's acceptedAt. */
  now: () => number;
  onShown: (delivery: WireDelivery, latencyMs: number) => void;
  onConnected: () => void;
  onDisconnected: () => void;
  onError: (err: ProtocolDisplayError) => void;
  random?: () => number;
  connectTimeoutMs?: number;
  backoff?: { baseMs: number; maxMs: number };
}

export class ProtocolDisplay {
  private readonly o: ProtocolDisplayOptions;
  private readonly random: () => number;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly memory: DisplayMemory = displayMemory();
  private readonly counts: ProtocolDisplayStats = { received: 0, shown: 0, duplicatesOnWire: 0, acked: 0, rejected: 0 };
  private tokens: DisplayTokens;
  private ws: WebSocket | undefined;
  private connected = false;
  private running = false;
  private failures = 0;
  private edge = 0;
  /** The token in use was just refreshed: a second refusal of it is not retried by refreshing again. */
  private freshToken = false;
  private requestId = 0;
  private timer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(options: ProtocolDisplayOptions) {
    if (options.edgeUrls.length === 0) throw new RangeError('edgeUrls must not be empty');
    this.o = options;
    this.tokens = options.tokens;
    this.random = options.random ?? Math.random;
    this.backoff = options.backoff ?? PROTOCOL_DEFAULTS.backoff;
  }

  get url(): string {
    return this.o.edgeUrls[this.edge % this.o.edgeUrls.length]!;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  stats(): ProtocolDisplayStats {
    return { ...this.counts };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.failures = 0;
    this.open();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    clearTimeout(this.refreshTimer);
    this.drop();
  }

  private open(): void {
    clearTimeout(this.timer);
    if (!this.running) return;
    const ws = new WebSocket(websocketUrl(this.url), { perMessageDeflate: false, handshakeTimeout: this.o.connectTimeoutMs ?? PROTOCOL_DEFAULTS.connectTimeoutMs });
    this.ws = ws;
    // The Socket.IO CONNECT must be answered in time too, not only the HTTP upgrade.
    this.timer = setTimeout(() => {
      if (this.ws !== ws || this.connected) return;
      this.o.onError(new ProtocolDisplayError('ORDERWIRE_ERR_BENCH_DISPLAY_CONNECT', `${this.url}: no CONNECT answer in time`, 'connect_timeout'));
      this.retry(true);
    }, this.o.connectTimeoutMs ?? PROTOCOL_DEFAULTS.connectTimeoutMs);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.ws !== ws) return;
      if (isBinary) {
        this.o.onError(new ProtocolDisplayError('ORDERWIRE_ERR_BENCH_DISPLAY_FRAME', 'binary frame', 'binary'));
        return;
      }
      this.onFrame(ws, data.toString());
    });
    ws.on('error', (err) => {
      if (this.ws === ws) this.o.onError(new ProtocolDisplayError('ORDERWIRE_ERR_BENCH_DISPLAY_CONNECT', `${this.url}: ${err.message}`, 'transport_error', { cause: err }));
    });
    ws.on('close', () => {
      if (this.ws !== ws) return;
      // The transport dropped (the edge went away): the next edge, after the backoff.
      this.retry(true);
    });
  }

  /** Forgets the current socket (its late events are ignored) and closes it. */
  private drop(): void {
    const ws = this.ws;
    this.ws = undefined;
    clearTimeout(this.refreshTimer);
    if (this.connected) {
      this.connected = false;
      this.o.onDisconnected();
    }
    if (ws !== undefined && ws.readyState !== WebSocket.CLOSED) ws.terminate();
  }

  private retry(rotate: boolean, delayMs?: number): void {
    this.drop();
    if (!this.running) return;
    if (rotate) this.edge++;
    this.failures++;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delayMs ?? backoffDelay(this.failures, this.backoff, this.random));
  }

  private send(ws: WebSocket, frame: string): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(frame);
  }

  private onFrame(ws: WebSocket, text: string): void {
    let f: Frame;
    try {
      f = decodeFrame(text);
    } catch (err) {
      this.o.onError(new ProtocolDisplayError('ORDERWIRE_ERR_BENCH_DISPLAY_FRAME', err instanceof Error ? err.message : String(err), 'malformed_frame', { cause: err }));
      return;
    }
    if (f.layer === 'engine') {
      if (f.packet.type === 'open') this.send(ws, connectFrame({ token: this.tokens.accessToken }));
      else if (f.packet.type === 'ping') this.send(ws, PONG_FRAME);
      else if (f.packet.type === 'close') this.retry(true);
      return;
    }
    const p = f.packet;
    switch (p.type) {
      case 'connect':
        clearTimeout(this.timer);
        this.connected = true;
        this.failures = 0;
        this.freshToken = false;
        this.scheduleRefresh(ws);
        this.o.onConnected();
        return;
      case 'connect_error': {
        const data = p.data.data as { reason?: unknown } | undefined;
        const reason = typeof data?.reason === 'string' ? data.reason : p.data.message;
        this.o.onError(new ProtocolDisplayError('ORDERWIRE_ERR_BENCH_DISPLAY_CONNECT', `${this.url}: ${p.data.message}`, reason));
        if (FINAL_REFUSALS.has(reason)) return this.stop();
        if (TOKEN_REFUSALS.has(reason)) {
          if (!this.freshToken) return void this.refreshThenOpen();
          if (reason !== 'token_expired') return this.stop(); // the SDK asks to enroll again
        }
        return this.retry(true);
      }
      case 'disconnect':
        // The server ended the namespace without a session:end: same node again.
        return this.retry(false);
      case 'event':
        return this.onEvent(ws, p.name, p.args, p.id);
      case 'ack': {
        // The answer to an in-band auth:refresh: a refused token ends this socket, as the SDK does.
        const answer = p.args[0] as { ok?: unknown } | undefined;
        if (answer?.ok === false) this.retry(false, 0);
        return;
      }
    }
  }

  private onEvent(ws: WebSocket, name: string, args: unknown[], id: number | undefined): void {
    if (name === 'orders') {
      const out = handleOrders(args, this.memory, this.o.now());
      this.counts.received += out.fresh.length + out.duplicates + out.malformed;
      this.counts.duplicatesOnWire += out.duplicates;
      this.counts.acked += out.answer.ack.length;
      this.counts.rejected += out.answer.reject?.length ?? 0;
      for (let i = 0; i < out.fresh.length; i++) {
        this.counts.shown++;
        this.o.onShown(out.fresh[i]!, out.latenciesMs[i]!);
      }
      // Shown first, then the ack: the edge acks JetStream only after this.
      if (id !== undefined) this.send(ws, ackFrame(id, [out.answer]));
      return;
    }
    if (name === 'orders:expired') {
      if (id !== undefined) this.send(ws, ackFrame(id, [{ ok: true }]));
      return;
    }
    if (name === 'session:end') {
      const info = (args[0] ?? {}) as { reason?: unknown; reconnect?: unknown };
      if (info.reconnect !== true) return this.stop();
      if (info.reason === 'token_expired') {
        this.drop();
        return void this.refreshThenOpen();
      }
      // A draining node: the next one at once, spread over a short jitter.
      this.failures = 0;
      this.retry(true, Math.round(this.random() * this.backoff.baseMs));
    }
  }

  private scheduleRefresh(ws: WebSocket): void {
    clearTimeout(this.refreshTimer);
    // As the k6 display: in-band refresh at 80 % of the token's life.
    this.refreshTimer = setTimeout(() => {
      void this.refresh().then(
        () => {
          if (this.ws === ws && this.connected) {
            this.send(ws, eventFrame('auth:refresh', [{ token: this.tokens.accessToken }], ++this.requestId));
            this.scheduleRefresh(ws);
          }
        },
        (err: unknown) => this.o.onError(err as ProtocolDisplayError),
      );
    }, Math.max(10_000, this.tokens.expiresInS * 800));
  }

  /** Rotates the refresh token; the new pair replaces the old one. */
  private async refresh(): Promise<void> {
    this.tokens = await postTokens(
      this.o.http,
      `${this.o.authUrl}${REFRESH_PATH}`,
      { refreshToken: this.tokens.refreshToken },
      PROTOCOL_DEFAULTS.enrollMaxAttempts,
      'ORDERWIRE_ERR_BENCH_DISPLAY_REFRESH',
      this.random,
    );
  }

  private async refreshThenOpen(): Promise<void> {
    try {
      await this.refresh();
    } catch (err) {
      this.o.onError(err as ProtocolDisplayError);
      // A refused refresh token (the family is dead) ends the display, as the SDK's re-enroll signal.
      if (!(err instanceof ProtocolDisplayError) || !err.retryable) return this.stop();
      return this.retry(false);
    }
    if (!this.running) return;
    this.freshToken = true;
    this.open();
  }
}
