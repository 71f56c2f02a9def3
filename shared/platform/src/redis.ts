/**
 * What every ioredis client of a service needs beyond its own tuning: TLS with the operator's CA
 * for a `rediss:` URL (the password travels in the URL, which ioredis reads itself), and a clear
 * line when Redis refuses the credentials — a wrong password is a configuration error an operator
 * must fix, not an outage to wait out, even though Redis only ever holds what can be lost.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { PLATFORM_ERRORS } from './errors.js';

/** The Redis variables of `redisConfig()` as a loaded config holds them. */
export interface RedisClientConfig {
  readonly redisUrl: string;
  readonly redisTlsCaFile?: string | undefined;
}

/**
 * Options to spread into `new Redis(config.redisUrl, { ...redisTlsOptions(config), ... })`.
 * `rediss:` → TLS, verified against REDIS_TLS_CA_FILE when set (else the system CAs).
 * @throws OrderwireError ORDERWIRE_ERR_CONFIG_INVALID when the CA file is set without `rediss:` or unreadable.
 */
export function redisTlsOptions(config: RedisClientConfig): { tls?: ConnectionOptions } {
  const tls = new URL(config.redisUrl).protocol === 'rediss:';
  const invalid = (reason: string, cause?: unknown): Error =>
    PLATFORM_ERRORS.create('ORDERWIRE_ERR_CONFIG_INVALID', { summary: `REDIS_TLS_CA_FILE: ${reason}` }, cause === undefined ? {} : { cause });
  if (config.redisTlsCaFile === undefined) return tls ? { tls: {} } : {};
  if (!tls) throw invalid('is set but REDIS_URL does not use rediss:');
  try {
    return { tls: { ca: readFileSync(config.redisTlsCaFile) } };
  } catch (err) {
    throw invalid(`cannot read ${config.redisTlsCaFile}`, err);
  }
}

/** True for the replies Redis gives to bad or missing credentials (`WRONGPASS`, `NOAUTH`, an AUTH without a password set). */
export function isRedisAuthError(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /^(WRONGPASS|NOAUTH)\b|AUTH <password> called without any password configured|invalid password/i.test(message);
}

/** One sentence for logs and readiness details: says "authentication failed" for credential errors. */
export function describeRedisError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return isRedisAuthError(err) ? `authentication failed (check the password in REDIS_URL): ${message}` : message;
}
