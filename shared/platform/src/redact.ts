/**
 * Credentials inside connection URLs (`redis://:pw@host`, `nats://user:pw@host`,
 * `nats://token@host`) must never reach a log line or an error message. One function does it
 * for every place that prints a URL: the start-up config line, NATS connect errors, Redis errors.
 */
import { REDACTED } from './logger.js';

/**
 * scheme://userinfo@ — userinfo up to the first `@` that precedes the host. Userinfo cannot
 * contain `/`, whitespace or `,` in the URLs we accept (NATS_URL is a comma-separated list).
 */
const URL_USERINFO_RE = /([a-z][a-z0-9+.-]*:\/\/)([^\s/@,]*)@/gi;

/**
 * Replaces the credentials of every URL in `text`: `user:password@` becomes `user:[REDACTED]@`;
 * a lone userinfo (a NATS token, a Redis password given as the user) becomes `[REDACTED]@`.
 */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO_RE, (_m: string, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    if (colon < 0) return `${scheme}${REDACTED}@`;
    const user = userinfo.slice(0, colon);
    return `${scheme}${user}:${REDACTED}@`;
  });
}

/** True when `text` carries URL credentials that `redactUrlCredentials` would hide. */
export function hasUrlCredentials(text: string): boolean {
  URL_USERINFO_RE.lastIndex = 0;
  const found = URL_USERINFO_RE.test(text);
  URL_USERINFO_RE.lastIndex = 0;
  return found;
}
