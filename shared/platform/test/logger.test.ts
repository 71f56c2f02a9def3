import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { REDACT_PATHS, createLogger } from '../src/logger.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[]; raw: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const raw = (): string => chunks.join('');
  return {
    stream,
    raw,
    lines: () =>
      raw()
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const SECRET = 'S3CR3T-should-never-appear';

describe('createLogger', () => {
  it('writes JSON with service, version, instance, ISO time and a level label', () => {
    const out = capture();
    const log = createLogger({ service: 'ingest', version: '1.2.3', instance: 'pod-a', destination: out.stream });
    log.info({ orderId: 'o-1' }, 'order accepted');
    const [line] = out.lines();
    expect(line).toMatchObject({
      service: 'ingest',
      version: '1.2.3',
      instance: 'pod-a',
      level: 'info',
      orderId: 'o-1',
      msg: 'order accepted',
    });
    expect(new Date(line!.time as string).toISOString()).toBe(line!.time);
  });

  it('defaults instance to hostname-pid', () => {
    const out = capture();
    createLogger({ service: 's', version: 'v', destination: out.stream }).info('x');
    expect(out.lines()[0]!.instance).toMatch(new RegExp(`-${process.pid}$`));
  });

  it('redacts secrets at top level, one and two levels deep, and auth headers', () => {
    const out = capture();
    const log = createLogger({ service: 'auth', version: '1', destination: out.stream });
    log.info(
      {
        token: SECRET,
        password: SECRET,
        enrollmentCode: SECRET,
        body: { refreshToken: SECRET, client_secret: SECRET, displayId: 'd-1' },
        res: { data: { accessToken: SECRET, access_token: SECRET, refresh_token: SECRET, clientSecret: SECRET, secret: SECRET } },
        req: { headers: { authorization: `Bearer ${SECRET}`, cookie: `sid=${SECRET}`, 'user-agent': 'pos/1' } },
      },
      'event',
    );
    expect(out.raw()).not.toContain(SECRET);
    const [line] = out.lines();
    expect(line).toMatchObject({
      token: '[REDACTED]',
      body: { refreshToken: '[REDACTED]', client_secret: '[REDACTED]', displayId: 'd-1' },
      res: { data: { accessToken: '[REDACTED]', clientSecret: '[REDACTED]' } },
      req: { headers: { authorization: '[REDACTED]', cookie: '[REDACTED]', 'user-agent': 'pos/1' } },
    });
  });

  it('redacts in child loggers bindings too', () => {
    const out = capture();
    const log = createLogger({ service: 'auth', version: '1', destination: out.stream });
    log.child({ requestId: 'r-1' }).warn({ token: SECRET, ctx: { password: SECRET } }, 'x');
    expect(out.raw()).not.toContain(SECRET);
    expect(out.lines()[0]).toMatchObject({ requestId: 'r-1' });
  });

  it('exports the redaction paths', () => {
    expect(REDACT_PATHS).toContain('req.headers.authorization');
    expect(REDACT_PATHS).toContain('*.*.enrollmentCode');
  });
});
