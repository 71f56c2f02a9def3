/**
 * Tokens already verified, by their exact string, so a caller presenting the same token on every
 * request (an upstream system's client token) costs one signature check per `maxTtlMs`, not one
 * per request (an ES256 WebCrypto verify was 12 % of ingest's CPU).
 *
 * Trade-off: a cached token keeps verifying without its key being looked up again. A key
 * withdrawn from the JWKS (or a JWKS refetched with other keys) therefore keeps accepting tokens
 * verified before, for at most `maxTtlMs`. `exp` and `nbf` are still checked on every hit, and
 * an entry never outlives its token's `exp`. Only successes are cached.
 */
import type { JWTPayload } from 'jose';
import { TokenError } from './errors.js';

export interface VerifiedCacheOptions {
  maxTtlMs: number;
  maxEntries: number;
  clockToleranceSec: number;
}

export interface VerifiedCache {
  /**
   * The payload of a cached token, or undefined (not cached, or its cache time is over).
   * @throws EXPIRED / NOT_YET_VALID when the cached token fails the time checks now
   */
  get(token: string, nowMs: number): JWTPayload | undefined;
  /** Remembers a fully verified token (signature, issuer, audience, times and claim shapes). */
  set(token: string, payload: JWTPayload, nowMs: number): void;
  readonly size: number;
}

interface Entry {
  payload: JWTPayload;
  /** Epoch ms after which the token is verified in full again. */
  until: number;
}

/** Undefined when caching is off (`maxTtlMs` or `maxEntries` 0). */
export function createVerifiedCache(options: VerifiedCacheOptions): VerifiedCache | undefined {
  const { maxTtlMs, maxEntries, clockToleranceSec } = options;
  if (maxTtlMs === 0 || maxEntries === 0) return undefined;
  // Insertion order is age: the first key is the oldest entry.
  const entries = new Map<string, Entry>();

  return {
    get(token, nowMs) {
      const e = entries.get(token);
      if (e === undefined) return undefined;
      if (nowMs >= e.until) {
        entries.delete(token);
        return undefined;
      }
      // The same checks and the same whole-second clock as jose's jwtVerify.
      const now = Math.floor(nowMs / 1000);
      const { exp, nbf } = e.payload;
      if (typeof exp === 'number' && exp <= now - clockToleranceSec) {
        entries.delete(token);
        throw new TokenError('ORDERWIRE_ERR_TOKEN_EXPIRED');
      }
      if (typeof nbf === 'number' && nbf > now + clockToleranceSec) throw new TokenError('ORDERWIRE_ERR_TOKEN_NOT_YET_VALID');
      return e.payload;
    },
    set(token, payload, nowMs) {
      // Every verified token has a numeric exp (a required claim); without one it is not cached.
      if (typeof payload.exp !== 'number') return;
      const until = Math.min(payload.exp * 1000, nowMs + maxTtlMs);
      if (until <= nowMs) return;
      entries.delete(token);
      while (entries.size >= maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done === true) break;
        entries.delete(oldest.value);
      }
      entries.set(token, { payload, until });
    },
    get size() {
      return entries.size;
    },
  };
}
