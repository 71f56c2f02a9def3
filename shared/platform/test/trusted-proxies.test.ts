/**
 * The client address behind proxies: the first untrusted hop from the right of
 * X-Forwarded-For, never the client-written leftmost entry. Checked on the parser, on the
 * edge's entry point (`clientAddressOf`) and on Fastify's `request.ip` with spoofed headers.
 */
import { describe, expect, it } from 'vitest';
import { createHealth } from '../src/health.js';
import { createHttpServer } from '../src/http.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { httpConfig, httpServerOptions } from '../src/service-config.js';
import { loadConfig, ConfigError } from '../src/config.js';
import { clientAddressOf, parseTrustedProxies } from '../src/trusted-proxies.js';

const SPOOFED = '6.6.6.6';

function at(peer: string, xff?: string) {
  return { remoteAddress: peer, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } };
}

describe('parseTrustedProxies', () => {
  it('unset, empty, none and 0 trust nobody', () => {
    for (const v of [undefined, '', ' ', 'none', '0']) expect(parseTrustedProxies(v).enabled).toBe(false);
  });

  it('rejects what is neither an address, a CIDR nor one hop count, naming the variable', () => {
    for (const bad of ['10.0.0.0/33', 'proxy.example', '1,2', '11']) {
      const err = (() => {
        try {
          parseTrustedProxies(bad);
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(err, bad).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems[0]!.env).toBe('TRUSTED_PROXIES');
    }
  });
});

describe('clientAddressOf', () => {
  it('without trusted proxies: the socket peer, whatever X-Forwarded-For claims', () => {
    const none = parseTrustedProxies(undefined);
    expect(clientAddressOf(at('203.0.113.9', SPOOFED), none)).toBe('203.0.113.9');
  });

  it('with CIDRs: the first untrusted hop from the right, not the spoofed leftmost', () => {
    const proxies = parseTrustedProxies('10.0.0.0/8, 192.168.1.1');
    // client 198.51.100.4 → proxy 192.168.1.1 → proxy 10.0.0.5 → us; the client prepended a lie.
    expect(clientAddressOf(at('10.0.0.5', `${SPOOFED}, 198.51.100.4, 192.168.1.1`), proxies)).toBe('198.51.100.4');
    // A direct client (peer not a proxy) cannot claim anything.
    expect(clientAddressOf(at('198.51.100.4', SPOOFED), proxies)).toBe('198.51.100.4');
    // A client appending a "trusted" address itself gains nothing: the proxy appends the real peer after it.
    expect(clientAddressOf(at('10.0.0.5', `${SPOOFED}, 10.1.1.1, 198.51.100.4`), proxies)).toBe('198.51.100.4');
  });

  it('with a hop count: exactly that many hops are skipped from the right', () => {
    const one = parseTrustedProxies('1');
    expect(clientAddressOf(at('10.0.0.5', `${SPOOFED}, 198.51.100.4`), one)).toBe('198.51.100.4');
    const two = parseTrustedProxies('2');
    expect(clientAddressOf(at('10.0.0.5', `${SPOOFED}, 198.51.100.4, 10.0.0.9`), two)).toBe('198.51.100.4');
    // Fewer hops than configured: the leftmost there is (nothing further to skip).
    expect(clientAddressOf(at('10.0.0.5'), two)).toBe('10.0.0.5');
  });

  it('handles IPv6 and IPv4-mapped peers', () => {
    const proxies = parseTrustedProxies('::1, 127.0.0.1');
    expect(clientAddressOf(at('::1', `${SPOOFED}, 2001:db8::7`), proxies)).toBe('2001:db8::7');
    expect(clientAddressOf(at('::ffff:127.0.0.1', `${SPOOFED}, 198.51.100.4`), proxies)).toBe('198.51.100.4');
  });
});

describe('request.ip of the HTTP base', () => {
  function appWith(env: Record<string, string>) {
    const config = loadConfig(httpConfig(), env);
    const app = createHttpServer({
      logger: createLogger({ service: 'test', version: '0', level: 'silent' }),
      health: createHealth(),
      metrics: createMetrics({ service: 'test', defaultMetrics: false }),
      ...httpServerOptions(config),
    });
    app.get('/ip', async (req) => ({ ip: req.ip }));
    return app;
  }

  it('ignores a spoofed X-Forwarded-For when no proxy is trusted', async () => {
    const app = appWith({});
    const res = await app.inject({ method: 'GET', url: '/ip', remoteAddress: '203.0.113.9', headers: { 'x-forwarded-for': SPOOFED } });
    expect(res.json()).toEqual({ ip: '203.0.113.9' });
    await app.close();
  });

  it('takes the first untrusted hop from the right with TRUSTED_PROXIES set', async () => {
    const app = appWith({ TRUSTED_PROXIES: '10.0.0.0/8' });
    const res = await app.inject({
      method: 'GET',
      url: '/ip',
      remoteAddress: '10.0.0.5',
      headers: { 'x-forwarded-for': `${SPOOFED}, 198.51.100.4` },
    });
    expect(res.json()).toEqual({ ip: '198.51.100.4' });
    // Not through the proxy: the header is the client's own and is ignored.
    const direct = await app.inject({ method: 'GET', url: '/ip', remoteAddress: '198.51.100.4', headers: { 'x-forwarded-for': SPOOFED } });
    expect(direct.json()).toEqual({ ip: '198.51.100.4' });
    await app.close();
  });

  it('honours a hop count (which Fastify alone would refuse)', async () => {
    const app = appWith({ TRUSTED_PROXIES: '1' });
    const res = await app.inject({ method: 'GET', url: '/ip', remoteAddress: '10.0.0.5', headers: { 'x-forwarded-for': `${SPOOFED}, 198.51.100.4` } });
    expect(res.json()).toEqual({ ip: '198.51.100.4' });
    await app.close();
  });

  it('a legacy address list goes through the same parser; TRUSTED_PROXIES wins over it', () => {
    const config = loadConfig(httpConfig(), { TRUSTED_PROXIES: '2' });
    expect(httpServerOptions(config, { env: 'AUTH_TRUST_PROXY', value: ['10.0.0.0/8'] }).trustedProxies?.description).toBe('2 hops');
    const legacy = httpServerOptions(loadConfig(httpConfig(), {}), { env: 'AUTH_TRUST_PROXY', value: ['10.0.0.0/8'] });
    expect(legacy.trustedProxies?.description).toBe('10.0.0.0/8');
  });

  it('refuses a malformed TRUSTED_PROXIES at config load', () => {
    expect(() => loadConfig(httpConfig(), { TRUSTED_PROXIES: 'proxy one' })).toThrow(/TRUSTED_PROXIES/);
    const config = loadConfig(httpConfig(), { TRUSTED_PROXIES: '10.0.0.0/99' });
    expect(() => httpServerOptions(config)).toThrow(/TRUSTED_PROXIES/);
  });
});
