/**
 * The one owner of a display's tokens on the client: enrollment, storage, proactive and
 * single-flight refresh with backoff, and the re-enroll signal. Nothing else in the SDK or in an
 * app reads the auth endpoints or the store; they call `getAccessToken()`.
 */
import { DisplaySdkError, describeError, isDisplaySdkError } from './errors.js';
import { EventHub } from './emitter.js';
import type { Subscribable } from './emitter.js';
import { TransportFailure, errorOf, postJson } from './http.js';
import type { FetchFn, HttpAnswer } from './http.js';
import { decodeJwtPayload } from './jwt.js';
import { backoffDelay, clampDelay, systemNow, systemTimers, unrefTimer } from './timing.js';
import type { Timers } from './timing.js';
import { memoryTokenStore } from './token-store.js';
import type { StoredTokens, TokenStore } from './token-store.js';

/** Refresh at least this long before the access token expires. */
export const DEFAULT_REFRESH_SKEW_MS = 60_000;
/** And at least this fraction of the token's lifetime before expiry. */
export const REFRESH_LIFETIME_FRACTION = 0.2;
/**
 * But never earlier than half the lifetime, so a skew longer than a short-lived token cannot turn
 * into a refresh loop.
 */
export const MAX_REFRESH_LIFETIME_FRACTION = 0.5;
/** A token this close to expiry is not handed out (it could expire in flight). */
export const EXPIRY_MARGIN_MS = 5_000;
/** The margin above never exceeds this fraction of the token's lifetime. */
export const EXPIRY_MARGIN_FRACTION = 0.1;
/** First retry delay of a failed auth call; doubles per attempt (with jitter) up to the max below. */
export const DEFAULT_RETRY_BASE_MS = 500;
/** Longest retry delay of an auth call. */
export const DEFAULT_RETRY_MAX_MS = 30_000;
/** A display keeps trying until the auth service is back. */
export const DEFAULT_RETRY_MAX_ATTEMPTS = Number.POSITIVE_INFINITY;
/** Enrollment is interactive; the person at the display should hear back quickly. */
export const DEFAULT_ENROLL_MAX_ATTEMPTS = 3;
/** Per HTTP request to the auth service. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export interface RetryOptions {
  /** First backoff delay. @default 500 */
  baseMs?: number;
  /** Largest backoff delay (also caps a server's Retry-After). @default 30_000 */
  maxMs?: number;
  /** Attempts per refresh, including the first. @default Infinity */
  maxAttempts?: number;
}

export interface TokenManagerOptions {
  /** Base URL of the auth service, e.g. `https://auth.example.com` (`http:` needs `development`). */
  authUrl: string;
  /**
   * Allow a plain `http:` auth URL. Enrollment codes and refresh tokens travel on it, so only
   * local development (npm start, tests) may say so. @default false — `https:` only
   */
  development?: boolean;
  /** @default memoryTokenStore() */
  store?: TokenStore;
  /** @default globalThis.fetch */
  fetch?: FetchFn;
  /** @default 60_000 */
  refreshSkewMs?: number;
  retry?: RetryOptions;
  /** @default 3 */
  enrollMaxAttempts?: number;
  /** @default 10_000 */
  requestTimeoutMs?: number;
  /** @default Date.now */
  now?: () => number;
  /** @default globalThis.setTimeout / clearTimeout */
  timers?: Timers;
  /** Jitter source in [0, 1). @default Math.random */
  random?: () => number;
}

/** What apps may know about the current tokens — never the tokens themselves. */
export interface TokenInfo {
  displayId: string;
  /** Epoch ms (local clock) when the access token expires. */
  accessExpiresAt: number;
  /** Epoch ms (local clock) when the proactive refresh is due. */
  refreshAt: number;
  /** Epoch ms (local clock) when the refresh-token family expires, if known. */
  refreshExpiresAt?: number;
}

export interface ReenrollInfo {
  /** Why: the auth service's error code (e.g. `ORDERWIRE_ERR_AUTH_REFRESH_REUSED`) or the edge's reason. */
  reason: string;
  message: string;
}

export interface RetryInfo {
  operation: 'enroll' | 'refresh' | 'revoke';
  /** The attempt that just failed (1-based). */
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface TokenManagerEvents {
  /** New tokens are in place (enrollment, refresh, or adopted from the store). */
  tokens: (info: TokenInfo) => void;
  /** The refresh-token family is dead; tokens were cleared from the store. Enroll again. */
  reenroll_required: (info: ReenrollInfo) => void;
  /** An auth request failed and will be retried after `delayMs`. */
  retrying: (info: RetryInfo) => void;
  error: (err: DisplaySdkError) => void;
}

export interface TokenManager extends Subscribable<TokenManagerEvents> {
  /** Exchanges a one-time enrollment code for tokens and stores them. */
  enroll(enrollmentCode: string): Promise<TokenInfo>;
  /**
   * A usable access token. An expired (or nearly expired) token is refreshed first; one that is
   * merely due for its proactive refresh is returned at once while the refresh runs.
   */
  getAccessToken(): Promise<string>;
  /** Refreshes now. Concurrent calls share one HTTP request and its result. */
  refresh(): Promise<TokenInfo>;
  /** Current token metadata, `undefined` when not enrolled. */
  info(): Promise<TokenInfo | undefined>;
  /** Revokes the refresh-token family at the auth service and clears the store. */
  revoke(): Promise<void>;
  /** Stops timers and aborts requests in flight; the manager cannot be used afterwards. */
  close(): void;
}

const ENROLL_PATH = '/v1/displays/enroll';
const REFRESH_PATH = '/v1/token/refresh';
const REVOKE_PATH = '/v1/token/revoke';

export function createTokenManager(options: TokenManagerOptions): TokenManager {
  return new TokenManagerImpl(options);
}

class TokenManagerImpl implements TokenManager {
  private readonly hub = new EventHub<TokenManagerEvents>();
  private readonly authUrl: string;
  private readonly store: TokenStore;
  private readonly fetchFn: FetchFn;
  private readonly refreshSkewMs: number;
  private readonly retry: Required<RetryOptions>;
  private readonly enrollMaxAttempts: number;
  private readonly requestTimeoutMs: number;
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly random: () => number;

  private tokens: StoredTokens | undefined;
  private loaded = false;
  private loading: Promise<void> | undefined;
  /** Bumped whenever the identity changes (enroll, clear): late refresh answers for the old one are dropped. */
  private generation = 0;
  private inflight: Promise<StoredTokens> | undefined;
  private timer: unknown;
  private closed = false;
  private readonly closeController = new AbortController();
  private readonly sleepers = new Set<() => void>();

  constructor(options: TokenManagerOptions) {
    this.authUrl = validateAuthUrl(options.authUrl, options.development === true);
    this.store = options.store ?? memoryTokenStore();
    if (options.fetch === undefined && typeof globalThis.fetch !== 'function') {
      invalid('no global fetch: pass options.fetch');
    }
    // Bound so a browser's fetch is not called with a foreign `this`.
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.refreshSkewMs = nonNegative('refreshSkewMs', options.refreshSkewMs ?? DEFAULT_REFRESH_SKEW_MS);
    this.retry = {
      baseMs: positive('retry.baseMs', options.retry?.baseMs ?? DEFAULT_RETRY_BASE_MS),
      maxMs: positive('retry.maxMs', options.retry?.maxMs ?? DEFAULT_RETRY_MAX_MS),
      maxAttempts: attempts('retry.maxAttempts', options.retry?.maxAttempts ?? DEFAULT_RETRY_MAX_ATTEMPTS),
    };
    this.enrollMaxAttempts = attempts('enrollMaxAttempts', options.enrollMaxAttempts ?? DEFAULT_ENROLL_MAX_ATTEMPTS);
    this.requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    this.now = options.now ?? systemNow;
    this.timers = options.timers ?? systemTimers;
    this.random = options.random ?? Math.random;
  }

  on<K extends keyof TokenManagerEvents>(event: K, listener: TokenManagerEvents[K]): () => void {
    return this.hub.on(event, listener);
  }

  off<K extends keyof TokenManagerEvents>(event: K, listener: TokenManagerEvents[K]): void {
    this.hub.off(event, listener);
  }

  async enroll(enrollmentCode: string): Promise<TokenInfo> {
    this.assertOpen();
    if (typeof enrollmentCode !== 'string' || enrollmentCode.trim() === '') {
      invalid('enrollmentCode must be a non-empty string');
    }
    const answer = await this.request('enroll', ENROLL_PATH, { enrollmentCode }, this.enrollMaxAttempts);
    if (!isSuccess(answer.status)) {
      const err = errorOf(answer.body);
      throw new DisplaySdkError(
        'ORDERWIRE_ERR_SDK_ENROLL_FAILED',
        { status: answer.status, serverCode: err.code, serverMessage: err.message },
        { status: answer.status, serverCode: err.code },
      );
    }
    const tokens = this.toStoredTokens(answer, undefined);
    this.generation++;
    return this.commit(tokens);
  }

  async getAccessToken(): Promise<string> {
    await this.ensureLoaded();
    const current = this.tokens;
    if (current === undefined) throw notEnrolled();
    const now = this.now();
    if (now >= current.accessExpiresAt - expiryMargin(current)) {
      return (await this.refreshTokens()).accessToken;
    }
    if (now >= this.refreshAtOf(current)) this.refreshInBackground();
    return current.accessToken;
  }

  async refresh(): Promise<TokenInfo> {
    return this.toInfo(await this.refreshTokens());
  }

  async info(): Promise<TokenInfo | undefined> {
    await this.ensureLoaded();
    return this.tokens === undefined ? undefined : this.toInfo(this.tokens);
  }

  async revoke(): Promise<void> {
    await this.ensureLoaded();
    const current = this.tokens;
    if (current === undefined) return;
    try {
      const answer = await this.request('revoke', REVOKE_PATH, { refreshToken: current.refreshToken }, this.enrollMaxAttempts);
      // 401: the family is already dead, which is what was asked for.
      if (!isSuccess(answer.status) && answer.status !== 401) {
        const err = errorOf(answer.body);
        throw new DisplaySdkError(
          'ORDERWIRE_ERR_SDK_REFRESH_FAILED',
          { operation: 'revoke', status: answer.status, serverCode: err.code, serverMessage: err.message },
          { status: answer.status, serverCode: err.code },
        );
      }
    } finally {
      // Forget the tokens locally even when the server could not be told.
      await this.forget();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelTimer();
    this.closeController.abort();
    for (const cancel of [...this.sleepers]) cancel();
  }

  // --- internals -------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new DisplaySdkError('ORDERWIRE_ERR_SDK_CLOSED');
  }

  private async ensureLoaded(): Promise<void> {
    this.assertOpen();
    if (this.loaded) return;
    this.loading ??= this.loadFromStore().finally(() => {
      this.loading = undefined;
    });
    await this.loading;
  }

  private async loadFromStore(): Promise<void> {
    const generation = this.generation;
    const stored = await this.loadStore();
    // An enrollment that finished while the store was read wins.
    if (this.loaded || generation !== this.generation) return;
    this.tokens = stored;
    this.loaded = true;
    if (stored !== undefined) this.schedule(stored);
  }

  private async loadStore(): Promise<StoredTokens | undefined> {
    try {
      return await this.store.load();
    } catch (err) {
      throw storeFailed('load', err);
    }
  }

  /** Single flight: every caller while a refresh runs gets that refresh's outcome. */
  private refreshTokens(): Promise<StoredTokens> {
    if (this.closed) return Promise.reject(new DisplaySdkError('ORDERWIRE_ERR_SDK_CLOSED'));
    this.inflight ??= this.runRefresh().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async runRefresh(): Promise<StoredTokens> {
    await this.ensureLoaded();
    if (await this.adoptRotatedFromStore()) {
      const adopted = this.tokens!;
      if (this.now() < this.refreshAtOf(adopted)) return adopted;
    }
    const current = this.tokens;
    if (current === undefined) throw notEnrolled();
    const generation = this.generation;
    const answer = await this.request('refresh', REFRESH_PATH, { refreshToken: current.refreshToken }, this.retry.maxAttempts);
    if (generation !== this.generation) {
      // Re-enrolled or cleared meanwhile: this answer belongs to an identity that is gone.
      if (this.tokens !== undefined) return this.tokens;
      throw notEnrolled();
    }
    if (answer.status === 401) {
      // Any 401 from the refresh endpoint (reused, revoked, invalid, expired family) is final:
      // retrying cannot revive the family, only a new enrollment can.
      const err = errorOf(answer.body);
      await this.forget();
      this.hub.emit('reenroll_required', { reason: err.code, message: err.message });
      throw new DisplaySdkError(
        'ORDERWIRE_ERR_SDK_REENROLL_REQUIRED',
        { serverCode: err.code },
        { status: answer.status, serverCode: err.code },
      );
    }
    if (!isSuccess(answer.status)) {
      const err = errorOf(answer.body);
      throw new DisplaySdkError(
        'ORDERWIRE_ERR_SDK_REFRESH_FAILED',
        { operation: 'refresh', status: answer.status, serverCode: err.code, serverMessage: err.message },
        { status: answer.status, serverCode: err.code },
      );
    }
    const next = this.toStoredTokens(answer, current.displayId);
    await this.commit(next);
    return next;
  }

  /**
   * Another holder of the same store (a second browser tab) may have rotated the family since we
   * loaded it; our refresh token is then spent and presenting it would revoke the family.
   */
  private async adoptRotatedFromStore(): Promise<boolean> {
    const current = this.tokens;
    if (current === undefined) return false;
    let stored: StoredTokens | undefined;
    try {
      stored = await this.store.load();
    } catch (err) {
      this.hub.emitError(storeFailed('load', err));
      return false;
    }
    if (
      stored === undefined ||
      this.tokens !== current ||
      stored.displayId !== current.displayId ||
      stored.refreshToken === current.refreshToken ||
      stored.obtainedAt <= current.obtainedAt
    ) {
      return false;
    }
    this.tokens = stored;
    this.schedule(stored);
    this.hub.emit('tokens', this.toInfo(stored));
    return true;
  }

  private refreshInBackground(): void {
    if (this.inflight !== undefined || this.closed) return;
    this.refreshTokens().then(undefined, (err: unknown) => this.backgroundRefreshFailed(err));
  }

  private backgroundRefreshFailed(err: unknown): void {
    if (this.closed || isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_CLOSED')) return;
    // Re-enrollment was announced on its own event; a missing enrollment is the app's to handle.
    if (isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_REENROLL_REQUIRED')) return;
    if (isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_NOT_ENROLLED')) return;
    this.hub.emitError(
      isDisplaySdkError(err)
        ? err
        : new DisplaySdkError(
            'ORDERWIRE_ERR_SDK_INTERNAL',
            { operation: 'background refresh', reason: describeError(err) },
            { cause: err },
          ),
    );
    // Only finite retry policies get here; try again later rather than let the token lapse.
    if (this.tokens !== undefined && this.timer === undefined) {
      this.timer = this.timers.setTimeout(() => {
        this.timer = undefined;
        this.refreshInBackground();
      }, clampDelay(this.retry.maxMs));
      unrefTimer(this.timer);
    }
  }

  private async commit(tokens: StoredTokens): Promise<TokenInfo> {
    // In memory first: concurrent getAccessToken() callers see the new token at once.
    this.tokens = tokens;
    this.loaded = true;
    this.schedule(tokens);
    try {
      await this.store.save(tokens);
    } catch (err) {
      // The tokens are valid; only a restart would lose them. Say so loudly and carry on.
      this.hub.emitError(storeFailed('save', err));
    }
    const info = this.toInfo(tokens);
    this.hub.emit('tokens', info);
    return info;
  }

  private async forget(): Promise<void> {
    this.generation++;
    this.tokens = undefined;
    this.loaded = true;
    this.cancelTimer();
    try {
      await this.store.clear();
    } catch (err) {
      this.hub.emitError(storeFailed('clear', err));
    }
  }

  private schedule(tokens: StoredTokens): void {
    this.cancelTimer();
    if (this.closed) return;
    const delay = clampDelay(this.refreshAtOf(tokens) - this.now());
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.refreshInBackground();
    }, delay);
    // The proactive refresh alone must not keep a Node process alive.
    unrefTimer(this.timer);
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) {
      this.timers.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private refreshAtOf(tokens: StoredTokens): number {
    const lifetime = Math.max(0, tokens.accessExpiresAt - tokens.obtainedAt);
    const lead = Math.min(
      Math.max(this.refreshSkewMs, lifetime * REFRESH_LIFETIME_FRACTION),
      lifetime * MAX_REFRESH_LIFETIME_FRACTION,
    );
    return tokens.accessExpiresAt - lead;
  }

  private toInfo(tokens: StoredTokens): TokenInfo {
    const info: TokenInfo = {
      displayId: tokens.displayId,
      accessExpiresAt: tokens.accessExpiresAt,
      refreshAt: this.refreshAtOf(tokens),
    };
    if (tokens.refreshExpiresAt !== undefined) info.refreshExpiresAt = tokens.refreshExpiresAt;
    return info;
  }

  private toStoredTokens(answer: HttpAnswer, knownDisplayId: string | undefined): StoredTokens {
    const body = answer.body as Record<string, unknown> | undefined;
    const bad = (reason: string): DisplaySdkError =>
      new DisplaySdkError('ORDERWIRE_ERR_SDK_BAD_RESPONSE', { status: answer.status, reason }, { status: answer.status });
    if (typeof body !== 'object' || body === null) throw bad('not a JSON object');
    const { accessToken, refreshToken, expiresIn, refreshExpiresIn } = body;
    if (typeof accessToken !== 'string' || accessToken === '') throw bad('accessToken missing');
    if (typeof refreshToken !== 'string' || refreshToken === '') throw bad('refreshToken missing');
    const now = this.now();
    const payload = decodeJwtPayload(accessToken);
    const accessExpiresAt = accessExpiry(payload, typeof expiresIn === 'number' ? expiresIn : undefined, now);
    if (accessExpiresAt === undefined) throw bad('neither a JWT exp nor expiresIn');
    if (accessExpiresAt <= now) throw bad('access token is already expired');
    const displayId =
      typeof body.displayId === 'string'
        ? body.displayId
        : (knownDisplayId ?? (typeof payload?.sub === 'string' ? payload.sub : undefined));
    if (displayId === undefined) throw bad('displayId missing');
    const tokens: StoredTokens = { displayId, accessToken, refreshToken, accessExpiresAt, obtainedAt: now };
    if (typeof refreshExpiresIn === 'number' && refreshExpiresIn > 0) {
      tokens.refreshExpiresAt = now + refreshExpiresIn * 1000;
    }
    return tokens;
  }

  /** POST with retries on transport failures, 5xx and 429; any other answer is returned. */
  private async request(
    operation: RetryInfo['operation'],
    path: string,
    body: unknown,
    maxAttempts: number,
  ): Promise<HttpAnswer> {
    for (let attempt = 1; ; attempt++) {
      this.assertOpen();
      let answer: HttpAnswer | undefined;
      let reason: string;
      let cause: unknown;
      try {
        answer = await postJson(this.fetchFn, this.authUrl + path, body, {
          timeoutMs: this.requestTimeoutMs,
          timers: this.timers,
          signal: this.closeController.signal,
          now: this.now,
        });
        if (!isRetryableStatus(answer.status)) return answer;
        reason = `HTTP ${answer.status} (${errorOf(answer.body).code})`;
      } catch (err) {
        if (this.closed) throw new DisplaySdkError('ORDERWIRE_ERR_SDK_CLOSED', {}, { cause: err });
        if (!(err instanceof TransportFailure)) throw err;
        reason = err.message;
        cause = err;
      }
      if (attempt >= maxAttempts) {
        throw new DisplaySdkError(
          'ORDERWIRE_ERR_SDK_AUTH_UNAVAILABLE',
          { attempts: attempt, reason },
          answer === undefined ? { cause } : { status: answer.status, serverCode: errorOf(answer.body).code },
        );
      }
      const delayMs = Math.max(
        backoffDelay(attempt, this.retry, this.random),
        Math.min(answer?.retryAfterMs ?? 0, this.retry.maxMs),
      );
      this.hub.emit('retrying', { operation, attempt, delayMs, reason });
      await this.sleep(delayMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cancel = (): void => {
        this.timers.clearTimeout(handle);
        this.sleepers.delete(cancel);
        reject(new DisplaySdkError('ORDERWIRE_ERR_SDK_CLOSED'));
      };
      const handle = this.timers.setTimeout(() => {
        this.sleepers.delete(cancel);
        resolve();
      }, clampDelay(ms));
      this.sleepers.add(cancel);
    });
  }
}

/**
 * Local-clock expiry of an access token. The JWT's `exp` is shifted by the clock offset measured
 * with its `iat`, so a display whose clock is off still refreshes in time; `expiresIn` is the
 * fallback, and when both exist the earlier wins.
 */
function accessExpiry(payload: Record<string, unknown> | undefined, expiresIn: number | undefined, now: number): number | undefined {
  const candidates: number[] = [];
  if (expiresIn !== undefined && Number.isFinite(expiresIn) && expiresIn > 0) candidates.push(now + expiresIn * 1000);
  const exp = payload?.exp;
  if (typeof exp === 'number' && Number.isFinite(exp)) {
    const iat = payload?.iat;
    const serverAhead = typeof iat === 'number' && Number.isFinite(iat) ? iat * 1000 - now : 0;
    candidates.push(exp * 1000 - serverAhead);
  }
  return candidates.length === 0 ? undefined : Math.min(...candidates);
}

function expiryMargin(tokens: StoredTokens): number {
  const lifetime = Math.max(0, tokens.accessExpiresAt - tokens.obtainedAt);
  return Math.min(EXPIRY_MARGIN_MS, lifetime * EXPIRY_MARGIN_FRACTION);
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function isRetryableStatus(status: number): boolean {
  // 429 is a 4xx but transient by definition: the rate limit lifts.
  return status >= 500 || status === 429;
}

function notEnrolled(): DisplaySdkError {
  return new DisplaySdkError('ORDERWIRE_ERR_SDK_NOT_ENROLLED');
}

function storeFailed(operation: string, cause: unknown): DisplaySdkError {
  return new DisplaySdkError('ORDERWIRE_ERR_SDK_STORE_FAILED', { operation, reason: describeError(cause) }, { cause });
}

function invalid(reason: string): never {
  throw new DisplaySdkError('ORDERWIRE_ERR_SDK_INVALID_OPTIONS', { reason });
}

function validateAuthUrl(value: unknown, development: boolean): string {
  if (typeof value !== 'string') invalid('authUrl must be a string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    invalid(`authUrl ${value} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') invalid('authUrl must be http(s)');
  if (url.protocol === 'http:' && !development) {
    invalid(`authUrl ${value} is not encrypted; use https:, or pass development: true for local development`);
  }
  return value.replace(/\/+$/, '');
}

function positive(name: string, value: number): number {
  if (!(typeof value === 'number' && value > 0 && Number.isFinite(value))) invalid(`${name} must be a positive number`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!(typeof value === 'number' && value >= 0 && Number.isFinite(value))) invalid(`${name} must be a number ≥ 0`);
  return value;
}

function attempts(name: string, value: number): number {
  if (!(value === Number.POSITIVE_INFINITY || (Number.isInteger(value) && value >= 1))) {
    invalid(`${name} must be an integer ≥ 1 or Infinity`);
  }
  return value;
}
