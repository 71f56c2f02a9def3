/**
 * Who the client is, behind proxies. `TRUSTED_PROXIES` names the proxies in front of a service:
 * comma-separated addresses/CIDRs (or proxy-addr's names `loopback`, `linklocal`,
 * `uniquelocal`), or a hop count. The client address is the first UNTRUSTED hop walking
 * X-Forwarded-For from the right (the peer of the socket first) — never the leftmost entry,
 * which the client writes itself. Every rate limiter and audit source address uses this: the
 * HTTP services through Fastify's `trustProxy` (request.ip), the edge's handshake through
 * `clientAddressOf`, both with the same trust function from here.
 *
 * Built on @fastify/proxy-addr (the algorithm Fastify and Express use). Fastify itself refuses a
 * bare hop count (it cannot tell a proxy from a direct client); a hop count here is an explicit
 * trust function, which is only correct when EVERY request arrives through exactly that many
 * proxies (e.g. a NetworkPolicy lets only the ingress reach the pods) — docs/security.md.
 */
import type { IncomingHttpHeaders } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import { ConfigError } from './config.js';

/** Trust function of proxy-addr: `i` is the hop index, 0 = the socket's peer. */
export type TrustFunction = (addr: string, i: number) => boolean;

export interface TrustedProxies {
  /** What was configured, for logs and docs. */
  readonly description: string;
  readonly trust: TrustFunction;
  /** false when no proxy is trusted (X-Forwarded-For is ignored entirely). */
  readonly enabled: boolean;
}

const HOPS_RE = /^\d+$/;
/** Longest hop count accepted; more is a typo, not a topology. */
export const MAX_TRUSTED_HOPS = 10;
/** Environment variable of the setting (named in config errors). */
export const TRUSTED_PROXIES_ENV = 'TRUSTED_PROXIES';

const NO_PROXY: TrustedProxies = Object.freeze({ description: 'none', trust: () => false, enabled: false });

/**
 * Parses a TRUSTED_PROXIES value. Empty/undefined/`none`/`0` = no proxy is trusted.
 * @throws ConfigError naming `env` when an entry is not an address, CIDR or hop count.
 */
export function parseTrustedProxies(text: string | readonly string[] | undefined, env = TRUSTED_PROXIES_ENV): TrustedProxies {
  const items = (typeof text === 'string' ? text.split(',') : [...(text ?? [])]).map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0 || (items.length === 1 && (items[0] === 'none' || items[0] === '0'))) return NO_PROXY;
  if (items.length === 1 && HOPS_RE.test(items[0]!)) {
    const hops = Number(items[0]);
    if (hops > MAX_TRUSTED_HOPS) {
      throw new ConfigError([{ key: 'trustedProxies', env, reason: `a hop count must be <= ${MAX_TRUSTED_HOPS} (got ${hops})` }]);
    }
    return Object.freeze({ description: `${hops} hop${hops === 1 ? '' : 's'}`, trust: (_addr: string, i: number) => i < hops, enabled: true });
  }
  let trust: TrustFunction;
  try {
    // A bare number is a hop count, and only alone; ipaddr.js would otherwise read `1` as 0.0.0.1.
    const number = items.find((i) => HOPS_RE.test(i));
    if (number !== undefined) throw new TypeError(`a hop count (${number}) cannot be combined with addresses`);
    trust = proxyAddr.compile(items);
  } catch (err) {
    throw new ConfigError([
      {
        key: 'trustedProxies',
        env,
        reason: `expected comma-separated addresses/CIDRs (or loopback, linklocal, uniquelocal) or one hop count: ${(err as Error).message}`,
      },
    ]);
  }
  return Object.freeze({ description: items.join(','), trust, enabled: true });
}

/** What `clientAddressOf` needs of a request (an IncomingMessage, or Socket.IO's handshake). */
export interface AddressSource {
  /** The socket's peer address. */
  remoteAddress: string | undefined;
  headers: IncomingHttpHeaders;
}

/**
 * The client's address: the first hop from the right of [peer, ...X-Forwarded-For reversed]
 * that is not a trusted proxy. Without trusted proxies, the peer address.
 */
export function clientAddressOf(source: AddressSource, proxies: TrustedProxies): string {
  const peer = source.remoteAddress ?? '';
  if (!proxies.enabled) return peer;
  // proxy-addr reads `socket.remoteAddress` and the x-forwarded-for header only.
  const req = { socket: { remoteAddress: peer }, connection: { remoteAddress: peer }, headers: source.headers };
  return proxyAddr(req as unknown as Parameters<typeof proxyAddr>[0], proxies.trust);
}
