/**
 * A test double of the auth service's HTTP contract (enroll + refresh + revoke) on a real port:
 * rotating refresh tokens with reuse detection, JWT-shaped access tokens, and scripted faults.
 * The real service is exercised by auth-integration.test.ts; this double lets the SDK's own
 * behaviour (single flight, backoff, re-enroll) be pinned down precisely.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { status: number; body?: unknown; retryAfter?: string }
  /** Close the connection without an answer (a network error for the client). */
  | { destroy: true }
  /** Answer normally, but only after this delay. */
  | { delayMs: number };

export interface AuthDoubleOptions {
  /** Access-token lifetime in seconds. @default 300 */
  accessTtlSec?: number;
  /** Refresh-family lifetime in seconds, reported as refreshExpiresIn. @default 86_400 */
  refreshTtlSec?: number;
  /** Added to this server's clock when minting `iat`/`exp` (a skewed server). @default 0 */
  clockOffsetMs?: number;
  /** Mint opaque (non-JWT) access tokens, so clients must rely on expiresIn. @default false */
  opaqueTokens?: boolean;
  /** Report this `expiresIn` instead of the real lifetime. */
  reportedExpiresIn?: number;
  /** Delay every answer by this much (lets concurrent callers pile up). @default 0 */
  delayMs?: number;
  now?: () => number;
}

interface AccessRecord {
  displayId: string;
  family: string;
  exp: number;
}

interface RefreshRecord {
  displayId: string;
  family: string;
  spent: boolean;
}

export interface RequestLogEntry {
  path: string;
  body: unknown;
}

export class AuthDouble {
  readonly requests: RequestLogEntry[] = [];
  /** Faults applied, one per request, to the next requests of a path. */
  readonly faults = new Map<string, Fault[]>();
  readonly accessTokens = new Map<string, AccessRecord>();
  private readonly refreshTokens = new Map<string, RefreshRecord>();
  private readonly revokedFamilies = new Set<string>();
  private readonly enrollmentCodes = new Map<string, { displayId: string; used: boolean }>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private portValue = 0;

  constructor(readonly options: AuthDoubleOptions = {}) {}

  get url(): string {
    return `http://127.0.0.1:${this.portValue}`;
  }

  get port(): number {
    return this.portValue;
  }

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  get refreshCount(): number {
    return this.count('/v1/token/refresh');
  }

  addEnrollmentCode(code: string, displayId: string): void {
    this.enrollmentCodes.set(code, { displayId, used: false });
  }

  fail(path: string, ...faults: Fault[]): void {
    this.faults.set(path, [...(this.faults.get(path) ?? []), ...faults]);
  }

  isFamilyRevoked(family: string): boolean {
    return this.revokedFamilies.has(family);
  }

  /** What an edge would decide about this access token. */
  checkAccess(token: unknown): 'ok' | 'token_expired' | 'unauthorized' {
    if (typeof token !== 'string') return 'unauthorized';
    const record = this.accessTokens.get(token);
    if (record === undefined || this.revokedFamilies.has(record.family)) return 'unauthorized';
    if (record.exp * 1000 <= this.now()) return 'token_expired';
    return 'ok';
  }

  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(JSON.stringify({ error: { code: 'TEST_DOUBLE_FAILED', message: String(err) } }));
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.portValue = (server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening (clients get ECONNREFUSED) but keeps all token state for a restart. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async restart(): Promise<void> {
    await this.start(this.portValue);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const raw = await readBody(req);
    let body: unknown;
    try {
      body = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      body = undefined;
    }
    this.requests.push({ path, body });
    const fault = this.faults.get(path)?.shift();
    if (fault !== undefined && 'destroy' in fault) {
      req.socket.destroy();
      return;
    }
    const delay = (fault !== undefined && 'delayMs' in fault ? fault.delayMs : 0) + (this.options.delayMs ?? 0);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    if (fault !== undefined && 'status' in fault) {
      if (fault.retryAfter !== undefined) res.setHeader('retry-after', fault.retryAfter);
      send(res, fault.status, fault.body ?? { error: { code: 'TEST_FAULT', message: `injected ${fault.status}` } });
      return;
    }
    const b = (body ?? {}) as Record<string, unknown>;
    if (req.method !== 'POST') return send(res, 405, err('ORDERWIRE_ERR_NOT_FOUND', 'POST only'));
    switch (path) {
      case '/v1/displays/enroll': {
        const code = this.enrollmentCodes.get(String(b.enrollmentCode));
        if (code === undefined) return send(res, 400, err('ORDERWIRE_ERR_AUTH_ENROLLMENT_INVALID', 'enrollment code is not valid'));
        if (code.used) return send(res, 400, err('ORDERWIRE_ERR_AUTH_ENROLLMENT_USED', 'enrollment code has already been used'));
        code.used = true;
        return send(res, 200, { displayId: code.displayId, ...this.mint(code.displayId, randomUUID()) });
      }
      case '/v1/token/refresh': {
        if (typeof b.refreshToken !== 'string') return send(res, 400, err('ORDERWIRE_ERR_AUTH_VALIDATION', 'refreshToken required'));
        const record = this.refreshTokens.get(b.refreshToken);
        if (record === undefined) return send(res, 401, err('ORDERWIRE_ERR_AUTH_REFRESH_INVALID', 'refresh token is not valid'));
        if (this.revokedFamilies.has(record.family)) {
          return send(res, 401, err('ORDERWIRE_ERR_AUTH_REFRESH_REVOKED', 'refresh token family has been revoked'));
        }
        if (record.spent) {
          this.revokedFamilies.add(record.family);
          return send(res, 401, err('ORDERWIRE_ERR_AUTH_REFRESH_REUSED', 'refresh token was already used'));
        }
        record.spent = true;
        return send(res, 200, this.mint(record.displayId, record.family));
      }
      case '/v1/token/revoke': {
        const record = this.refreshTokens.get(String(b.refreshToken));
        if (record !== undefined) this.revokedFamilies.add(record.family);
        return send(res, 200, { revoked: record !== undefined });
      }
      default:
        return send(res, 404, err('ORDERWIRE_ERR_NOT_FOUND', `no route ${path}`));
    }
  }

  private mint(displayId: string, family: string): Record<string, unknown> {
    const ttl = this.options.accessTtlSec ?? 300;
    const iat = Math.floor((this.now() + (this.options.clockOffsetMs ?? 0)) / 1000);
    const exp = iat + ttl;
    const accessToken = this.options.opaqueTokens === true
      ? randomBytes(24).toString('base64url')
      : [
          b64({ alg: 'ES256', typ: 'JWT', kid: 'test' }),
          b64({ typ: 'display', sub: displayId, fam: family, aud: 'edge', iat, exp, jti: randomUUID() }),
          randomBytes(32).toString('base64url'),
        ].join('.');
    // The edge double judges by its own clock, so it records the unskewed expiry.
    this.accessTokens.set(accessToken, {
      displayId,
      family,
      exp: Math.floor(this.now() / 1000) + ttl,
    });
    const refreshToken = randomBytes(32).toString('base64url');
    this.refreshTokens.set(refreshToken, { displayId, family, spent: false });
    return {
      accessToken,
      refreshToken,
      expiresIn: this.options.reportedExpiresIn ?? ttl,
      refreshExpiresIn: this.options.refreshTtlSec ?? 86_400,
    };
  }
}

export async function startAuthDouble(options: AuthDoubleOptions = {}): Promise<AuthDouble> {
  return new AuthDouble(options).start();
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function err(code: string, message: string): unknown {
  return { error: { code, message } };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
