import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DeclarationError, beforeStartCommands, discoverServices, expandArgs, groupByOrder } from '../lib/services.mjs';

const dirs = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function servicesDir(decls) {
  const root = mkdtempSync(join(tmpdir(), 'ow-svc-'));
  dirs.push(root);
  for (const [name, pkg] of Object.entries(decls)) {
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, 'package.json'), JSON.stringify(pkg));
  }
  return root;
}

const proc = (name, port) => ({ name, main: 'dist/main.js', env: { PORT: String(port) }, url: `http://127.0.0.1:${port}` });

describe('discoverServices', () => {
  test('finds declared services, sorted by order, skipping packages without the key', () => {
    const dir = servicesDir({
      edge: { name: '@orderwire/edge', orderwire: { order: 30, processes: [proc('edge-1', 3003), proc('edge-2', 3013)] } },
      auth: {
        name: '@orderwire/auth',
        orderwire: {
          order: 10,
          processes: [proc('auth', 3001)],
          beforeStart: [{ name: 'topology', main: 'dist/cli.js', args: ['topology', 'apply'] }],
          afterReady: [{ name: 'seed-dev', main: 'dist/cli.js', args: ['seed-dev'] }],
        },
      },
      dlq: {
        name: '@orderwire/dlq',
        orderwire: { order: 30, processes: [proc('dlq', 3004)], beforeStart: [{ name: 'migrate', main: 'dist/cli.js', args: ['migrate'] }] },
      },
      lib: { name: 'not-a-service' },
    });
    const services = discoverServices(dir);
    assert.deepEqual(services.map((s) => s.name), ['auth', 'dlq', 'edge']);
    assert.deepEqual(services[0].processes[0], { name: 'auth', main: 'dist/main.js', args: [], env: { PORT: '3001' }, url: 'http://127.0.0.1:3001', port: 3001, host: '127.0.0.1' });
    assert.deepEqual(services[0].afterReady[0].args, ['seed-dev']);
    assert.deepEqual(services[2].beforeStart, []);
    // Every beforeStart, in start order, whichever group declares it.
    assert.deepEqual(
      beforeStartCommands(services).map(({ svc, cmd }) => `${svc.name}:${cmd.name} ${cmd.args.join(' ')}`),
      ['auth:topology topology apply', 'dlq:migrate migrate'],
    );
    assert.deepEqual(groupByOrder(services).map((g) => [g.order, g.services.map((s) => s.name)]), [[10, ['auth']], [30, ['dlq', 'edge']]]);
  });

  test('a missing services folder means no services', () => {
    assert.deepEqual(discoverServices(join(tmpdir(), 'ow-does-not-exist-4711')), []);
  });

  for (const [what, decl, message] of [
    ['order', { processes: [proc('a', 1)] }, /"orderwire"\.order must be a number/],
    ['processes', { order: 1, processes: [] }, /processes must be a non-empty array/],
    ['name', { order: 1, processes: [{ ...proc('a', 1), name: 'Bad Name' }] }, /processes\[0\]\.name must be a lowercase name/],
    ['url', { order: 1, processes: [{ ...proc('a', 1), url: 'ftp://x' }] }, /processes\[0\]\.url must be an http URL/],
    ['env', { order: 1, processes: [{ ...proc('a', 1), env: { PORT: 1 } }] }, /processes\[0\]\.env\.PORT must be a string/],
    ['afterReady', { order: 1, processes: [proc('a', 1)], afterReady: {} }, /afterReady must be an array/],
    ['beforeStart', { order: 1, processes: [proc('a', 1)], beforeStart: 'apply' }, /beforeStart must be an array/],
    ['beforeStart main', { order: 1, processes: [proc('a', 1)], beforeStart: [{ name: 'setup' }] }, /beforeStart\[0\]\.main must be a path/],
  ]) {
    test(`rejects a bad ${what} naming the file and field`, () => {
      const dir = servicesDir({ svc: { name: 'svc', orderwire: decl } });
      assert.throws(() => discoverServices(dir), (err) => err instanceof DeclarationError && message.test(err.message) && err.message.includes(join(dir, 'svc', 'package.json')));
    });
  }

  test('rejects the same process name in two services', () => {
    const dir = servicesDir({
      a: { name: 'a', orderwire: { order: 1, processes: [proc('same', 1)] } },
      b: { name: 'b', orderwire: { order: 2, processes: [proc('same', 2)] } },
    });
    assert.throws(() => discoverServices(dir), /name "same" is also used/);
  });
});

test('expandArgs replaces {dataDir}', () => {
  assert.deepEqual(expandArgs(['--out', '{dataDir}/dev-credentials.json', 'x'], '/d'), ['--out', '/d/dev-credentials.json', 'x']);
});
