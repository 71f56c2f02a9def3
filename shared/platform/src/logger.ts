/**
 * One pino logger per process, JSON lines with `service`, `version`, `instance` and ISO time.
 * Secrets are redacted at the logger, so a careless `log.info({ body })` cannot leak a token.
 */
import { hostname } from 'node:os';
import { pino, stdTimeFunctions, type DestinationStream, type Level, type Logger } from 'pino';

/** Keys whose values are secrets wherever they appear (top level, one and two levels deep). */
export const SECRET_KEYS = [
  'token',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'client_secret',
  'clientSecret',
  'password',
  'secret',
  'enrollmentCode',
] as const;

/** Censor written in place of a redacted value. */
export const REDACTED = '[REDACTED]';

/** Paths pino redacts (fast-redact syntax). */
export const REDACT_PATHS: readonly string[] = Object.freeze([
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  // ioredis errors carry the failed command: for AUTH that is the Redis password.
  'err.command.args',
  '*.err.command.args',
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
  // ioredis errors carry the failed command: for AUTH, its args are the password.
  'command.args',
  '*.command.args',
]);

export type LogLevel = Level | 'silent';

export interface CreateLoggerOptions {
  service: string;
  version: string;
  /** @default `${hostname()}-${process.pid}` */
  instance?: string;
  /** @default 'info' */
  level?: LogLevel;
  /** Where JSON lines go. @default stdout (pino's synchronous-safe destination) */
  destination?: DestinationStream;
}

export type { Logger };

export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}`;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const opts = {
    level: options.level ?? 'info',
    base: {
      service: options.service,
      version: options.version,
      instance: options.instance ?? defaultInstanceId(),
    },
    timestamp: stdTimeFunctions.isoTime,
    // Level as a label ("info"), so log queries do not need pino's numeric mapping.
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
  };
  return options.destination === undefined ? pino(opts) : pino(opts, options.destination);
}
