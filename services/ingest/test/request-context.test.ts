/** Trace context (traceparent, trace ids) and the log bound to each request. */
import { Writable } from 'node:stream';
import { createLogger } from '@orderwire/platform';
import { describe, expect, it } from 'vitest';
import { bindLog } from '../src/request-log.js';
import { parseTraceparent, traceFromRequest } from '../src/trace.js';

describe('trace context', () => {
  it('continues a valid traceparent with a new span and keeps its flags', () => {
    const t = traceFromRequest('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00');
    expect(t).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', continued: true });
    expect(t.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
    expect(t.traceparent).not.toContain('00f067aa0ba902b7');
  });
  it('rejects invalid values', () => {
    for (const v of [
      undefined,
      '',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01',
    ]) {
      expect(parseTraceparent(v), String(v)).toBeUndefined();
      expect(traceFromRequest(v).continued).toBe(false);
    }
  });
  it('new trace and span ids are well formed and never repeat, across refills of the random pool', () => {
    const traces = new Set<string>();
    const spans = new Set<string>();
    // 1,000 traces use 24 KB of random bytes: several refills of the 4 KiB pool.
    for (let i = 0; i < 1_000; i++) {
      const t = traceFromRequest(undefined);
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(t.traceparent);
      expect(m?.[1]).toBe(t.traceId);
      traces.add(t.traceId);
      spans.add(m![2]!);
    }
    expect([traces.size, spans.size]).toEqual([1_000, 1_000]);
  });
});

describe('request log', () => {
  function capture(level: 'info' | 'warn') {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    return { lines, logger: createLogger({ service: 'ingest', version: 't', level, destination }).child({ requestId: 'r-1' }) };
  }

  it('writes the bound ids on every line, with the line\'s own fields, and writes nothing below the level', () => {
    const { lines, logger } = capture('info');
    const log = bindLog(logger, { tenant: 't1', clientId: 'pos-1', orderId: 'o-1', traceId: 'abc' });
    log.info({ seq: 7 }, 'order accepted');
    log.debug({ seq: 8 }, 'not written');
    log.with({ index: 2, orderId: 'o-2' }).warn({ err: new Error('boom') }, 'batch item failed');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ requestId: 'r-1', tenant: 't1', clientId: 'pos-1', orderId: 'o-1', traceId: 'abc', seq: 7, msg: 'order accepted' });
    expect(lines[1]).toMatchObject({ requestId: 'r-1', tenant: 't1', orderId: 'o-2', index: 2, level: 'warn', err: { message: 'boom' } });
  });

  it('a secret in a bound field is redacted like in any other line', () => {
    const { lines, logger } = capture('warn');
    bindLog(logger, { tenant: 't1', token: 'secret-token' }).warn({}, 'x');
    expect(lines[0]).toMatchObject({ tenant: 't1', token: '[REDACTED]' });
    expect(JSON.stringify(lines)).not.toContain('secret-token');
  });
});
