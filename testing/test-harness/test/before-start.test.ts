import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { beforeStartSteps, runBeforeStart } from '../src/before-start.js';
import { HarnessError, HarnessErrorCode } from '../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'before-start-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function service(name: string, orderwire: unknown, script?: string): void {
  mkdirSync(join(root, 'services', name), { recursive: true });
  writeFileSync(join(root, 'services', name, 'package.json'), JSON.stringify({ name, orderwire }));
  if (script !== undefined) writeFileSync(join(root, 'services', name, 'setup.mjs'), script);
}

it('runs every declared beforeStart command in the services’ order, with the given environment, from the service folder', async () => {
  const echo = "console.log(`${process.argv.slice(2).join(' ')} ${process.env.NATS_URL} ${process.cwd().split('/').pop()}`);";
  service('zeta', { order: 10, beforeStart: [{ name: 'topology', main: 'setup.mjs', args: ['topology', 'apply'] }] }, echo);
  service('alpha', { order: 20, beforeStart: [{ name: 'migrate', main: 'setup.mjs', args: ['migrate'] }] }, echo);
  service('plain', { order: 5 });
  expect(beforeStartSteps(root).map((s) => s.name)).toEqual(['zeta:topology', 'alpha:migrate']);
  const out = await runBeforeStart({ NATS_URL: 'nats://x:1' }, { root });
  expect(out).toBe('topology apply nats://x:1 zeta\nmigrate nats://x:1 alpha\n');
});

it('a failing command rejects with SETUP_FAILED and its output', async () => {
  service('beta', { order: 1, beforeStart: [{ name: 'topology', main: 'setup.mjs' }] }, "console.error('ORDERWIRE_ERR_TOPOLOGY_CONFLICT: ORDERS storage'); process.exit(1);");
  const err = await runBeforeStart({}, { root }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HarnessError);
  expect((err as HarnessError).code).toBe(HarnessErrorCode.SetupFailed);
  expect((err as HarnessError).message).toContain('beta:topology exited with 1');
  expect((err as HarnessError).message).toContain('ORDERWIRE_ERR_TOPOLOGY_CONFLICT: ORDERS storage');
});
