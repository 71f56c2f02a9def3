import { describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '../src/config.js';
import {
  authClientConfig,
  listenConfig,
  logConfig,
  natsConfig,
  redisConfig,
  shutdownConfig,
} from '../src/service-config.js';

const SPEC = {
  ...listenConfig(3999),
  ...natsConfig(),
  ...redisConfig(),
  ...logConfig('instance name'),
  ...shutdownConfig('shutdown deadline'),
  ...authClientConfig({ issuer: '`iss` of every token' }),
} as const;

describe('shared service config fragments', () => {
  it('give every service the same defaults, in the order they are spread', () => {
    const cfg = loadConfig(SPEC, {});
    expect(cfg).toEqual({
      host: '127.0.0.1',
      port: 3999,
      natsUrl: 'nats://127.0.0.1:4222',
      natsUser: undefined,
      natsPassword: undefined,
      natsNkeySeedFile: undefined,
      natsTlsCaFile: undefined,
      natsTlsCertFile: undefined,
      natsTlsKeyFile: undefined,
      redisUrl: 'redis://127.0.0.1:6379',
      redisTlsCaFile: undefined,
      logLevel: 'info',
      instanceId: undefined,
      shutdownGraceMs: 25_000,
      issuer: 'orderwire-auth',
      jwksUrl: 'http://127.0.0.1:3001/.well-known/jwks.json',
    });
    expect(Object.keys(cfg)).toEqual([
      'host',
      'port',
      'natsUrl',
      'natsUser',
      'natsPassword',
      'natsNkeySeedFile',
      'natsTlsCaFile',
      'natsTlsCertFile',
      'natsTlsKeyFile',
      'redisUrl',
      'redisTlsCaFile',
      'logLevel',
      'instanceId',
      'shutdownGraceMs',
      'issuer',
      'jwksUrl',
    ]);
    expectTypeOf(cfg.port).toEqualTypeOf<number>();
    expectTypeOf(cfg.instanceId).toEqualTypeOf<string | undefined>();
    expectTypeOf(cfg.logLevel).toEqualTypeOf<'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>();
  });

  it('validate the shared variables and name each bad one', () => {
    let caught: unknown;
    try {
      loadConfig(SPEC, { PORT: '70000', REDIS_URL: 'http://x', LOG_LEVEL: 'loud', SHUTDOWN_GRACE: '10ms', AUTH_JWKS_URL: 'ftp://h/x' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems.map((p) => p.env)).toEqual(['PORT', 'REDIS_URL', 'LOG_LEVEL', 'SHUTDOWN_GRACE', 'AUTH_JWKS_URL']);
  });

  it('document only what the service documents', () => {
    const docs = Object.fromEntries(describeConfig(SPEC).map((d) => [d.env, d.doc]));
    expect(docs).toEqual({
      HOST: 'listen address',
      PORT: 'listen port',
      NATS_URL: 'comma-separated NATS servers',
      NATS_USER: 'NATS user name (with NATS_PASSWORD)',
      NATS_PASSWORD: 'NATS password of NATS_USER',
      NATS_NKEY_SEED_FILE: "file holding the service's NKEY seed (`SU…`), e.g. /var/run/secrets/orderwire/nats/seed",
      NATS_TLS_CA_FILE: 'CA bundle (PEM) that signed the NATS servers; turns TLS on',
      NATS_TLS_CERT_FILE: 'client certificate (PEM) for NATS mutual TLS',
      NATS_TLS_KEY_FILE: 'private key (PEM) of NATS_TLS_CERT_FILE',
      REDIS_URL: undefined,
      REDIS_TLS_CA_FILE: 'CA bundle (PEM) that signed the Redis server, for a `rediss:` REDIS_URL',
      LOG_LEVEL: undefined,
      INSTANCE_ID: 'instance name',
      SHUTDOWN_GRACE: 'shutdown deadline',
      AUTH_ISSUER: '`iss` of every token',
      AUTH_JWKS_URL: undefined,
    });
    expect(describeConfig({ ...redisConfig() }).find((d) => d.env === 'REDIS_URL')).not.toHaveProperty('doc');
    // REDIS_URL may carry the password: shown with credentials masked (redact.test.ts), not hidden whole.
    expect(describeConfig({ ...redisConfig() }).find((d) => d.env === 'REDIS_URL')).toMatchObject({ secret: false, default: 'redis://127.0.0.1:6379' });
  });
});
