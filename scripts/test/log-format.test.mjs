import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatLogLine } from '../lib/log-format.mjs';

const at = new Date(2026, 0, 2, 3, 4, 5, 67).getTime(); // local time, as the formatter prints it

describe('formatLogLine', () => {
  test('turns a pino line into time, level, message and key ids', () => {
    const line = JSON.stringify({ level: 30, time: at, pid: 1, hostname: 'h', msg: 'order accepted', orderId: 'o-1', tenantId: 't-1', secretStuff: 'x' });
    assert.equal(formatLogLine(line), '03:04:05.067 INFO  order accepted tenantId=t-1 orderId=o-1');
  });

  test('shows fastify request fields and the error, with its stack at error level', () => {
    const line = JSON.stringify({
      level: 50,
      time: at,
      msg: 'request failed',
      reqId: 'req-7',
      req: { method: 'POST', url: '/v1/orders' },
      res: { statusCode: 503 },
      err: { type: 'OrderwireError', code: 'ORDERWIRE_ERR_INGEST_UNAVAILABLE', message: 'broker down', stack: 'OrderwireError: broker down\n    at publish (publish.js:10:3)' },
    });
    assert.equal(
      formatLogLine(line),
      '03:04:05.067 ERROR request failed reqId=req-7 method=POST url=/v1/orders statusCode=503 err="OrderwireError [ORDERWIRE_ERR_INGEST_UNAVAILABLE]: broker down"\n    at publish (publish.js:10:3)',
    );
  });

  test('keeps the stack out of warnings and quotes values with spaces', () => {
    const line = JSON.stringify({ level: 40, time: at, msg: 'slow', subject: 'a b', err: { message: 'm', stack: 'Error: m\n at x' } });
    assert.equal(formatLogLine(line), '03:04:05.067 WARN  slow subject="a b" err="Error: m"');
  });

  test('reshapes nats-server and redis-server lines', () => {
    assert.equal(formatLogLine('[123] 2026/01/02 03:04:05.067890 [WRN] slow consumer'), '03:04:05.067 WARN  slow consumer');
    assert.equal(formatLogLine('42:M 02 Jan 2026 03:04:05.067 * Ready to accept connections tcp'), '03:04:05.067 INFO  Ready to accept connections tcp');
    assert.equal(formatLogLine('42:M 02 Jan 2026 03:04:05.067 # WARNING Memory overcommit'), '03:04:05.067 WARN  WARNING Memory overcommit');
  });

  test('leaves other lines, broken JSON and everything in --json mode untouched', () => {
    assert.equal(formatLogLine('    at Object.<anonymous> (x.js:1:1)'), '    at Object.<anonymous> (x.js:1:1)');
    assert.equal(formatLogLine('{not json'), '{not json');
    assert.equal(formatLogLine('[1,2]'), '[1,2]');
    const raw = JSON.stringify({ level: 30, time: at, msg: 'x' });
    assert.equal(formatLogLine(raw, { json: true }), raw);
  });

  test('colours only when asked', () => {
    const line = JSON.stringify({ level: 50, time: at, msg: 'boom' });
    assert.equal(formatLogLine(line).includes('\x1b['), false);
    assert.equal(formatLogLine(line, { color: true }).includes('\x1b[31mERROR'), true);
  });
});
