import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkDependencyGraph, importsOf } from '../check-deps.mjs';

const dirs = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A throwaway monorepo: { 'shared/contracts': { pkg: {...}, files: { 'src/index.ts': '...' } } } */
function repo(packages) {
  const root = mkdtempSync(join(tmpdir(), 'ow-deps-'));
  dirs.push(root);
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'root', workspaces: ['shared/*', 'services/*', 'testing/*'] }));
  for (const [dir, { pkg, files = {} }] of Object.entries(packages)) {
    mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, dir, 'package.json'), JSON.stringify(pkg));
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, dir, file)), { recursive: true });
      writeFileSync(join(root, dir, file), text);
    }
  }
  return root;
}

const base = () => ({
  'shared/contracts': { pkg: { name: '@orderwire/contracts' }, files: { 'src/index.ts': "export { x } from './x.js';\n" } },
  'shared/platform': {
    pkg: { name: '@orderwire/platform', dependencies: { '@orderwire/contracts': '*', pino: '^10' }, devDependencies: { '@orderwire/test-harness': '*' } },
    files: { 'src/index.ts': "import { x } from '@orderwire/contracts';\nimport pino from 'pino';\n", 'test/a.test.ts': "import { startNats } from '@orderwire/test-harness';\n" },
  },
  'testing/test-harness': { pkg: { name: '@orderwire/test-harness' } },
  'services/auth': {
    pkg: { name: '@orderwire/auth', dependencies: { '@orderwire/platform': '*', '@orderwire/contracts': '*' }, devDependencies: { '@orderwire/test-harness': '*' } },
    files: { 'src/main.ts': "import { loadConfig } from '@orderwire/platform';\nimport type { Claims } from '@orderwire/contracts/claims';\n" },
  },
  'services/ingest': { pkg: { name: '@orderwire/ingest', dependencies: { '@orderwire/platform': '*' } } },
});

describe('checkDependencyGraph', () => {
  test('accepts the documented graph', () => {
    const { packages, violations } = checkDependencyGraph(repo(base()));
    assert.deepEqual(violations, []);
    assert.equal(packages.length, 5);
  });

  test('rejects a service depending on or importing another service', () => {
    const r = base();
    r['services/ingest'].pkg.devDependencies = { '@orderwire/auth': '*' };
    r['services/ingest'].files = { 'src/a.ts': "const m = await import('@orderwire/auth');\n" };
    const { violations } = checkDependencyGraph(repo(r));
    assert.ok(violations.some((v) => /services\/ingest: devDependencies has @orderwire\/auth — nothing may depend on a service/.test(v)), violations.join('\n'));
    assert.ok(violations.some((v) => /services\/ingest\/src\/a\.ts: imports @orderwire\/auth — no package may import a service/.test(v)));
  });

  test('rejects a shared package depending on a service or outside its row of the graph', () => {
    const r = base();
    r['shared/contracts'].pkg.dependencies = { '@orderwire/auth': '*', '@orderwire/platform': '*' };
    const { violations } = checkDependencyGraph(repo(r));
    assert.ok(violations.some((v) => /shared\/contracts: dependencies has @orderwire\/auth/.test(v)));
    assert.ok(violations.some((v) => /shared\/contracts: dependencies has @orderwire\/platform, but @orderwire\/contracts may only depend on no other package/.test(v)));
  });

  test('keeps test tooling (the harness, any testing/ package) a devDependency and out of src/', () => {
    const r = base();
    r['testing/observability-checks'] = { pkg: { name: '@orderwire/observability-checks', dependencies: { '@orderwire/platform': '*' } } };
    r['services/auth'].pkg.dependencies['@orderwire/test-harness'] = '*';
    r['services/auth'].files['src/boot.ts'] = "import { startNats } from '@orderwire/test-harness';\n";
    r['shared/platform'].pkg.dependencies['@orderwire/observability-checks'] = '*';
    r['shared/platform'].files['src/metrics.ts'] = "import { check } from '@orderwire/observability-checks';\n";
    const { violations } = checkDependencyGraph(repo(r));
    assert.ok(violations.some((v) => /services\/auth: @orderwire\/test-harness must be a devDependency/.test(v)), violations.join('\n'));
    assert.ok(violations.some((v) => /services\/auth\/src\/boot\.ts: imports @orderwire\/test-harness from src\//.test(v)));
    assert.ok(violations.some((v) => /shared\/platform: @orderwire\/observability-checks must be a devDependency/.test(v)));
    assert.ok(violations.some((v) => /shared\/platform\/src\/metrics\.ts: imports @orderwire\/observability-checks from src\//.test(v)));
    assert.ok(!violations.some((v) => v.startsWith('testing/observability-checks')), violations.join('\n'));
  });

  test('rejects undeclared imports, src/ imports of devDependencies and relative escapes', () => {
    const r = base();
    r['services/ingest'].files = {
      'src/a.ts': "import { x } from '@orderwire/contracts';\n",
      'src/b.ts': "export { y } from '../../../shared/platform/src/index.js';\n",
      'test/c.test.ts': "import { z } from '@orderwire/contracts';\n",
    };
    r['services/auth'].pkg.devDependencies['@orderwire/display-sdk'] = '*';
    r['shared/display-sdk'] = { pkg: { name: '@orderwire/display-sdk', dependencies: { '@orderwire/contracts': '*' } } };
    r['services/auth'].files['src/c.ts'] = "import { connect } from '@orderwire/display-sdk';\n";
    const { violations } = checkDependencyGraph(repo(r));
    assert.ok(violations.some((v) => /services\/ingest\/src\/a\.ts: imports @orderwire\/contracts, which is not in services\/ingest\/package\.json dependencies/.test(v)));
    assert.ok(violations.some((v) => /services\/ingest\/src\/b\.ts: imports '\.\.\/\.\.\/\.\.\/shared\/platform\/src\/index\.js', outside its package/.test(v)));
    assert.ok(violations.some((v) => /services\/ingest\/test\/c\.test\.ts: imports @orderwire\/contracts, which services\/ingest\/package\.json does not declare/.test(v)));
    assert.ok(violations.some((v) => /services\/auth\/src\/c\.ts: imports @orderwire\/display-sdk, which is not in/.test(v)));
  });

  test('test tooling may run the harness and have services built first, but never depends on or imports one at runtime', () => {
    const r = base();
    r['load-tests'] = {
      pkg: { name: '@orderwire/load-tests', dependencies: { '@orderwire/test-harness': '*', '@orderwire/contracts': '*', '@orderwire/auth': '*' } },
      files: { 'src/stack.ts': "import { startNats } from '@orderwire/test-harness';\nimport { x } from '@orderwire/contracts';\n" },
    };
    r['testing/system-tests'] = {
      pkg: { name: '@orderwire/system-tests', devDependencies: { '@orderwire/test-harness': '*', '@orderwire/contracts': '*', '@orderwire/auth': '*' } },
      files: {
        'src/stack.ts': "import { startNats } from '@orderwire/test-harness';\nimport { x } from '@orderwire/contracts';\n",
        'test/e2e.test.ts': "import { app } from '@orderwire/auth';\n",
      },
    };
    const root = repo(r);
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'root', workspaces: ['shared/*', 'services/*', 'testing/*', 'load-tests'] }));
    const { violations } = checkDependencyGraph(root);
    assert.deepEqual(violations.sort(), [
      'load-tests: dependencies has @orderwire/auth — nothing may depend on a service; share code through shared/*',
      'testing/system-tests/test/e2e.test.ts: imports @orderwire/auth — no package may import a service',
    ]);
  });

  test('an unknown shared package must be added to the graph', () => {
    const r = base();
    r['shared/metrics'] = { pkg: { name: '@orderwire/metrics', dependencies: { '@orderwire/contracts': '*' } } };
    const { violations } = checkDependencyGraph(repo(r));
    assert.ok(violations.some((v) => /@orderwire\/metrics is not in SHARED_GRAPH/.test(v)));
  });

  test('a workspace outside services/, shared/ and the tooling folders is rejected', () => {
    const root = repo({ ...base(), 'tools/gen': { pkg: { name: '@orderwire/gen' } } });
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'root', workspaces: ['shared/*', 'services/*', 'testing/*', 'tools/*'] }));
    const { violations } = checkDependencyGraph(root);
    assert.deepEqual(violations, [
      'tools/gen: a workspace outside services/, shared/ and testing/, load-tests — move it, or add its folder to TOOLING_DIRS in scripts/check-deps.mjs and the README table',
    ]);
  });
});

test('importsOf finds static, type, dynamic, re-export and require imports, not comments', () => {
  const text = `
    import a from 'a';
    import type { B } from "b";
    import {
      c1,
      c2,
    } from 'c';
    export { d } from './d.js';
    export * as e from 'e';
    import 'side-effect';
    const f = await import('f');
    const g = require('g');
    // import x from 'commented-out';
    /* import y from 'block-comment'; */
    const url = 'http://example.com/import';
  `;
  assert.deepEqual(importsOf(text), ['a', 'b', 'c', './d.js', 'e', 'side-effect', 'f', 'g']);
});
