import { describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig, parseDuration, redactConfig } from '../src/config.js';

const spec = {
  port: { env: 'PORT', type: 'int', default: 3002, min: 1, max: 65535, doc: 'HTTP port' },
  ratio: { env: 'RATIO', type: 'number', default: 0.5, min: 0, max: 1 },
  debug: { env: 'DEBUG', type: 'bool', default: false },
  natsUrl: { env: 'NATS_URL', type: 'url', protocols: ['nats', 'tls'] },
  level: { env: 'LOG_LEVEL', type: 'enum', values: ['debug', 'info', 'warn'], default: 'info' },
  ackWait: { env: 'ACK_WAIT', type: 'duration', default: '30s', min: '1s', max: '5m' },
  origins: { env: 'ORIGINS', type: 'list', default: [] },
  signingKey: { env: 'SIGNING_KEY', type: 'string', secret: true, minLength: 32 },
  region: { env: 'REGION', type: 'string', required: false },
} as const;

const goodEnv = {
  NATS_URL: 'nats://127.0.0.1:4222',
  SIGNING_KEY: 'k'.repeat(40),
};

function catchConfigError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies defaults and infers precise types', () => {
    const cfg = loadConfig(spec, goodEnv);
    expect(cfg).toEqual({
      port: 3002,
      ratio: 0.5,
      debug: false,
      natsUrl: 'nats://127.0.0.1:4222',
      level: 'info',
      ackWait: 30_000,
      origins: [],
      signingKey: 'k'.repeat(40),
      region: undefined,
    });
    expectTypeOf(cfg.port).toEqualTypeOf<number>();
    expectTypeOf(cfg.level).toEqualTypeOf<'debug' | 'info' | 'warn'>();
    expectTypeOf(cfg.origins).toEqualTypeOf<string[]>();
    expectTypeOf(cfg.region).toEqualTypeOf<string | undefined>();
    expectTypeOf(cfg.debug).toEqualTypeOf<boolean>();
    expectTypeOf(cfg.natsUrl).toEqualTypeOf<string>();
  });

  it('coerces every type from strings', () => {
    const cfg = loadConfig(spec, {
      ...goodEnv,
      PORT: ' 8080 ',
      RATIO: '0.25',
      DEBUG: 'YES',
      LOG_LEVEL: 'warn',
      ACK_WAIT: '2m',
      ORIGINS: 'https://a.example, https://b.example,,',
      REGION: 'eu-1',
    });
    expect(cfg.port).toBe(8080);
    expect(cfg.ratio).toBe(0.25);
    expect(cfg.debug).toBe(true);
    expect(cfg.level).toBe('warn');
    expect(cfg.ackWait).toBe(120_000);
    expect(cfg.origins).toEqual(['https://a.example', 'https://b.example']);
    expect(cfg.region).toBe('eu-1');
  });

  it('treats an empty variable as unset', () => {
    const cfg = loadConfig(spec, { ...goodEnv, PORT: '', DEBUG: '  ' });
    expect(cfg.port).toBe(3002);
    expect(cfg.debug).toBe(false);
  });

  it('names every bad variable in one error', () => {
    const err = catchConfigError(() =>
      loadConfig(spec, {
        PORT: '70000',
        RATIO: 'abc',
        DEBUG: 'maybe',
        NATS_URL: 'http://x:1',
        LOG_LEVEL: 'trace',
        ACK_WAIT: '10x',
        SIGNING_KEY: 'short',
      }),
    );
    expect(err.code).toBe('ORDERWIRE_ERR_CONFIG_INVALID');
    expect(err.problems.map((p) => p.env)).toEqual([
      'PORT',
      'RATIO',
      'DEBUG',
      'NATS_URL',
      'LOG_LEVEL',
      'ACK_WAIT',
      'SIGNING_KEY',
    ]);
    for (const name of ['PORT', 'RATIO', 'DEBUG', 'NATS_URL', 'LOG_LEVEL', 'ACK_WAIT', 'SIGNING_KEY']) {
      expect(err.message).toContain(name);
    }
    expect(err.message).toContain('must be <= 65535');
    expect(err.message).toContain('must be one of debug, info, warn');
    expect(err.message).toContain('URL protocol must be one of nats, tls');
    expect(err.message).toContain('"maybe"');
  });

  it('reports missing required variables with their doc', () => {
    const err = catchConfigError(() => loadConfig(spec, {}));
    expect(err.problems.map((p) => p.env)).toEqual(['NATS_URL', 'SIGNING_KEY']);
    expect(err.message).toMatch(/NATS_URL: is required but not set/);
  });

  it('never echoes a secret value', () => {
    const secretSpec = {
      key: { env: 'KEY', type: 'string', secret: true, pattern: /^[a-f0-9]+$/ },
      pin: { env: 'PIN', type: 'int', secret: true, max: 9999 },
      words: { env: 'WORDS', type: 'list', secret: true, itemPattern: /^[a-z]+$/ },
    } as const;
    const err = catchConfigError(() =>
      loadConfig(secretSpec, { KEY: 'TOPSECRET-value', PIN: '123456', WORDS: 'ok,SECRETWORD' }),
    );
    expect(err.problems.map((p) => p.env)).toEqual(['KEY', 'PIN', 'WORDS']);
    expect(err.message).not.toContain('TOPSECRET');
    expect(err.message).not.toContain('123456');
    expect(err.message).not.toContain('SECRETWORD');
    expect(JSON.stringify(err.details)).not.toContain('TOPSECRET');
  });

  it('returns a deep-frozen object', () => {
    const cfg = loadConfig(spec, { ...goodEnv, ORIGINS: 'a,b' });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.origins)).toBe(true);
    expect(() => {
      (cfg as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => cfg.origins.push('c')).toThrow(TypeError);
  });

  it('validates defaults too', () => {
    const bad = { port: { env: 'P', type: 'int', default: 0, min: 1 } } as const;
    const err = catchConfigError(() => loadConfig(bad, {}));
    expect(err.message).toContain('P: default value is invalid: must be >= 1');
  });

  it('checks duration bounds', () => {
    const err = catchConfigError(() => loadConfig(spec, { ...goodEnv, ACK_WAIT: '500ms' }));
    expect(err.message).toContain('ACK_WAIT: must be >= 1000ms');
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['250', 250],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '1.5s', '-1s', '10x', 's', '1 h 2m'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('describeConfig / redactConfig', () => {
  it('lists variables with type, default and doc, hiding secret defaults', () => {
    const rows = describeConfig({
      ...spec,
      apiKey: { env: 'API_KEY', type: 'string', default: 'dev-only-key', secret: true },
    });
    expect(rows.find((r) => r.env === 'PORT')).toEqual({
      key: 'port',
      env: 'PORT',
      type: 'int',
      required: false,
      secret: false,
      default: '3002',
      doc: 'HTTP port',
      min: 1,
      max: 65535,
    });
    expect(rows.find((r) => r.env === 'LOG_LEVEL')?.values).toEqual(['debug', 'info', 'warn']);
    expect(rows.find((r) => r.env === 'NATS_URL')?.required).toBe(true);
    expect(rows.find((r) => r.env === 'REGION')?.required).toBe(false);
    expect(rows.find((r) => r.env === 'API_KEY')?.default).toBe('[REDACTED]');
  });

  it('masks secrets in a printable copy', () => {
    const cfg = loadConfig(spec, goodEnv);
    const printable = redactConfig(spec, cfg);
    expect(printable.signingKey).toBe('[REDACTED]');
    expect(printable.port).toBe(3002);
  });
});
