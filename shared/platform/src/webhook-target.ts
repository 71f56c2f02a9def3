/**
 * Where webhooks may be sent (SSRF protection), decided once for both users: ingest checks a URL
 * when an endpoint is created or changed (early, clear refusal), the webhooks dispatcher checks
 * every address it is about to connect to (the check that counts: it runs on the address the
 * socket really connects to, so a DNS answer that changes between the two — rebinding — cannot
 * slip through).
 *
 * Refused unless `WEBHOOKS_ALLOWED_CIDRS` names them: loopback, private (RFC 1918), shared
 * (CGNAT, where some clouds put their metadata service), link-local (169.254.169.254 is the
 * cloud metadata service), documentation/benchmark/reserved ranges, multicast, IPv6 ULA
 * (fd00:ec2::254 is AWS's IPv6 metadata address), link-local and the IPv6 forms that embed an
 * IPv4 address (mapped, NAT64, 6to4, Teredo) — those are judged by what they embed or refused.
 */
import { BlockList, isIP } from 'node:net';
import { ConfigError } from './config.js';

const BLOCKED_V4: ReadonlyArray<readonly [string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local / metadata'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];
const BLOCKED_V6: ReadonlyArray<readonly [string, number, string]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::ffff:0:0', 96, 'IPv4-mapped'],
  ['64:ff9b::', 96, 'NAT64'],
  ['64:ff9b:1::', 48, 'NAT64'],
  ['100::', 64, 'discard'],
  ['2001::', 23, 'IETF protocol assignments (Teredo)'],
  ['2001:db8::', 32, 'documentation'],
  ['2002::', 16, '6to4'],
  ['fc00::', 7, 'unique local (ULA)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];

/** A CIDR: an IPv4 or IPv6 address, `/`, a prefix length (validated by `createAddressPolicy`). */
export const CIDR_PATTERN = /^[0-9A-Fa-f:.]+\/\d{1,3}$/;

export type AddressVerdict = { ok: true } | { ok: false; reason: string };

export interface AddressPolicy {
  /** Whether a webhook may connect to `address` (an IP literal). */
  check(address: string): AddressVerdict;
}

function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const slash = cidr.lastIndexOf('/');
  const address = cidr.slice(0, slash);
  const prefix = Number(cidr.slice(slash + 1));
  const v = isIP(address);
  const max = v === 4 ? 32 : 128;
  if (slash < 0 || v === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new RangeError(`not a CIDR: ${JSON.stringify(cidr)}`);
  }
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d` / `::ffff:7f00:1`) carries. */
function mappedV4(address: string): string | undefined {
  const m = /^::ffff:(?:0:)?(.+)$/i.exec(address);
  if (m === null) return undefined;
  const tail = m[1]!;
  if (isIP(tail) === 4) return tail;
  const parts = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(tail);
  if (parts === null) return undefined;
  const hi = parseInt(parts[1]!, 16);
  const lo = parseInt(parts[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * @param allowedCidrs ranges that are allowed although they fall in a refused range (e.g.
 *   `127.0.0.1/32` for the local stack); they never refuse anything.
 * @throws RangeError on a malformed CIDR (config validation reports it first)
 */
export function createAddressPolicy(allowedCidrs: readonly string[]): AddressPolicy {
  const allowed = new BlockList();
  for (const c of allowedCidrs) {
    const { address, prefix, family } = parseCidr(c);
    allowed.addSubnet(address, prefix, family);
  }
  const rules = [...BLOCKED_V4.map(([a, p, why]) => ({ a, p, why, f: 'ipv4' as const })), ...BLOCKED_V6.map(([a, p, why]) => ({ a, p, why, f: 'ipv6' as const }))].map(
    (r) => {
      const list = new BlockList();
      list.addSubnet(r.a, r.p, r.f);
      return { list, family: r.f, why: r.why, range: `${r.a}/${r.p}` };
    },
  );

  function check(address: string): AddressVerdict {
    const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    const v = isIP(bare);
    if (v === 0) return { ok: false, reason: `not an IP address: ${address}` };
    const family = v === 4 ? 'ipv4' : 'ipv6';
    if (allowed.check(bare, family)) return { ok: true };
    // A mapped IPv4 address is judged as the IPv4 address it is (the socket reaches that).
    const v4 = family === 'ipv6' ? mappedV4(bare) : undefined;
    if (v4 !== undefined) {
      const inner = check(v4);
      return inner.ok ? inner : { ok: false, reason: `${inner.reason} (IPv4-mapped ${bare})` };
    }
    for (const r of rules) {
      if (r.family === family && r.list.check(bare, family)) return { ok: false, reason: `${bare} is ${r.why} (${r.range})` };
    }
    return { ok: true };
  }
  return { check };
}

export type WebhookUrlVerdict = { ok: true; url: URL } | { ok: false; reason: string };

/**
 * A webhook URL as ingest accepts it: absolute, `https:` (or `http:` when `allowHttp`), no
 * credentials, at most `maxLength` characters; an IP-literal host is checked against `policy`.
 * A host NAME is checked where it counts, at connect time, by the dispatcher.
 */
export function checkWebhookUrl(raw: string, opts: { allowHttp: boolean; policy: AddressPolicy; maxLength?: number }): WebhookUrlVerdict {
  const maxLength = opts.maxLength ?? WEBHOOK_URL_MAX;
  if (raw.length > maxLength) return { ok: false, reason: `longer than ${maxLength} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not an absolute URL' };
  }
  if (url.protocol !== 'https:' && !(opts.allowHttp && url.protocol === 'http:')) {
    return { ok: false, reason: opts.allowHttp ? 'must use https or http' : 'must use https' };
  }
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'must not carry credentials' };
  if (url.hash !== '') return { ok: false, reason: 'must not have a fragment' };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === '') return { ok: false, reason: 'has no host' };
  if (isIP(host) !== 0) {
    const verdict = opts.policy.check(host);
    if (!verdict.ok) return { ok: false, reason: `refused address: ${verdict.reason}` };
  }
  return { ok: true, url };
}

/** 2048 characters: longer URLs are refused by many servers and proxies anyway. */
export const WEBHOOK_URL_MAX = 2048;

/** The variables ingest and the dispatcher share, so both judge a URL the same way. */
export function webhookTargetConfig() {
  return {
    webhooksAllowHttp: {
      env: 'WEBHOOKS_ALLOW_HTTP',
      type: 'bool',
      default: false,
      doc: 'allow http:// webhook URLs (development only; npm start sets it)',
    },
    webhooksAllowedCidrs: {
      env: 'WEBHOOKS_ALLOWED_CIDRS',
      type: 'list',
      default: [] as readonly string[],
      itemPattern: CIDR_PATTERN,
      doc: 'comma-separated CIDRs webhooks may reach although they are loopback/private/link-local (npm start: 127.0.0.1/32)',
    },
  } as const;
}

/**
 * The policy of a loaded config (`webhookTargetConfig` values).
 * @throws ConfigError naming WEBHOOKS_ALLOWED_CIDRS when a CIDR is malformed
 */
export function addressPolicyOf(values: { readonly webhooksAllowedCidrs: readonly string[] }): AddressPolicy {
  try {
    return createAddressPolicy(values.webhooksAllowedCidrs);
  } catch (err) {
    throw new ConfigError([{ key: 'webhooksAllowedCidrs', env: 'WEBHOOKS_ALLOWED_CIDRS', reason: (err as Error).message }]);
  }
}
