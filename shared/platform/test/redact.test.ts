/**
 * Connection URLs with credentials never reach a log line: the redaction itself, the start-up
 * config line, config errors, and the NATS connect error against a real nats-server that
 * demands a password, and an ioredis AUTH error (which carries the password as the command's
 * argument) against a real redis-server with `requirepass`.
 */
import { Writable } from 'node:stream';
import { startNats, startRedis, type NatsServerHandle } from '@orderwire/test-harness';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, redactConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { connectNats, urlCredentials } from '../src/nats.js';
import { natsConfig, redisConfig } from '../src/service-config.js';
import { redactUrlCredentials } from '../src/redact.js';

const PASSWORD = 's3cr3t-Pa55word';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNats({ config: `authorization { user: svc, password: right-one }` });
});
afterAll(async () => {
  await nats?.dispose();
});

describe('redactUrlCredentials', () => {
  it.each([
    [`redis://:${PASSWORD}@redis:6379/0`, 'redis://:[REDACTED]@redis:6379/0'],
    [`rediss://default:${PASSWORD}@redis:6380`, 'rediss://default:[REDACTED]@redis:6380'],
    [`nats://svc:${PASSWORD}@n1:4222,nats://svc:${PASSWORD}@n2:4222`, 'nats://svc:[REDACTED]@n1:4222,nats://svc:[REDACTED]@n2:4222'],
    [`nats://${PASSWORD}@n1:4222`, 'nats://[REDACTED]@n1:4222'],
    ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4222'],
    [`connect to redis://u:${PASSWORD}@h failed`, 'connect to redis://u:[REDACTED]@h failed'],
  ])('%s', (input, expected) => {
    expect(redactUrlCredentials(input)).toBe(expected);
  });
});

describe('config with credentials in URLs', () => {
  const spec = { ...natsConfig(), ...redisConfig() };

  it('redactConfig masks them', () => {
    const config = loadConfig(spec, { NATS_URL: `nats://svc:${PASSWORD}@127.0.0.1:4222`, REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:6379` });
    const text = JSON.stringify(redactConfig(spec, config));
    expect(text).not.toContain(PASSWORD);
    expect(text).toContain('127.0.0.1:6379');
  });

  it('a config error does not echo them', () => {
    expect(() => loadConfig(spec, { REDIS_URL: `http://:${PASSWORD}@h` })).toThrow();
    try {
      loadConfig({ ...spec, natsUrl: { ...spec.natsUrl, pattern: /^never$/ } }, { NATS_URL: `nats://u:${PASSWORD}@h` });
    } catch (err) {
      expect(String((err as Error).message)).not.toContain(PASSWORD);
      expect(String((err as Error).message)).toContain('NATS_URL');
    }
  });
});

describe('urlCredentials', () => {
  it('takes user:pass or a token out of NATS URLs, first URL with credentials wins', () => {
    expect(urlCredentials([`nats://svc:${PASSWORD}@n1:4222`, 'nats://other:x@n2:4222'])).toEqual({
      servers: ['nats://n1:4222', 'nats://n2:4222'],
      user: 'svc',
      pass: PASSWORD,
    });
    expect(urlCredentials(['nats://tok%40en@n1:4222'])).toEqual({ servers: ['nats://n1:4222'], token: 'tok@en' });
    expect(urlCredentials(['nats://n1:4222', 'n2:4222'])).toEqual({ servers: ['nats://n1:4222', 'n2:4222'] });
  });

  it('a right password in NATS_URL connects', async () => {
    const port = new URL(nats.url).port;
    const logger = createLogger({ service: 'test', version: '0', level: 'silent' });
    const nc = await connectNats({ servers: `nats://svc:right-one@127.0.0.1:${port}`, name: 'creds', logger, timeoutMs: 3_000 });
    await nc.close();
  });
});

describe('NATS connect errors', () => {
  it('a wrong password in NATS_URL is neither logged nor in the error', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    });
    const logger = createLogger({ service: 'test', version: '0', level: 'debug', destination });
    const port = new URL(nats.url).port;
    const err = await connectNats({
      servers: `nats://svc:${PASSWORD}@127.0.0.1:${port}`,
      name: 'redact',
      logger,
      timeoutMs: 1_500,
      reconnectTimeWaitMs: 100,
    }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.code).toBe('ORDERWIRE_ERR_NATS_CONNECT');
    // The credentials were used (and refused), and are in neither the error nor the log.
    expect(err!.message).toMatch(/authorization failed/);
    expect(err!.message).toContain(`127.0.0.1:${port}`);
    expect(err!.message).not.toContain(PASSWORD);
    expect(lines.join('')).not.toContain(PASSWORD);
  });
});

describe('Redis errors', () => {
  it('an AUTH failure logged with { err } does not print the password', async () => {
    const redis = await startRedis({ args: ['--requirepass', 'the-right-one'] });
    try {
      const lines: string[] = [];
      const destination = new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(chunk.toString('utf8'));
          cb();
        },
      });
      const logger = createLogger({ service: 'test', version: '0', level: 'debug', destination });
      const port = new URL(redis.url).port;
      const client = new Redis(`redis://:${PASSWORD}@127.0.0.1:${port}`, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      const failed = new Promise<Error>((resolve) => client.once('error', resolve));
      client.connect().catch(() => undefined);
      const err = await failed;
      client.disconnect();
      // The raw error does carry it: this is what the logger must hide.
      expect(JSON.stringify((err as Error & { command?: unknown }).command)).toContain(PASSWORD);
      logger.warn({ err }, 'redis unavailable');
      const text = lines.join('');
      expect(text).toContain('WRONGPASS');
      expect(text).not.toContain(PASSWORD);
    } finally {
      await redis.stop();
    }
  });
});
