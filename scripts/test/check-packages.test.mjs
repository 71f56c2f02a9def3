import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { readCheckScripts } from '../check-packages.mjs';
import { readWorkspace } from '../check-deps.mjs';
import { REPO_ROOT } from '../lib/repo.mjs';

describe('readCheckScripts', () => {
  test('tsc -p … --noEmit commands joined by && and plain eslint paths', () => {
    assert.deepEqual(
      readCheckScripts({ typecheck: 'tsc -p tsconfig.json --noEmit && tsc -p web/tsconfig.json --noEmit', lint: 'eslint src test web' }),
      { typecheck: { tsconfigs: ['tsconfig.json', 'web/tsconfig.json'] }, lint: { targets: ['src', 'test', 'web'] } },
    );
  });

  test('any other shape is run as it is', () => {
    assert.deepEqual(readCheckScripts({ typecheck: 'tsc --noEmit', lint: 'eslint --max-warnings 0 src' }), {
      typecheck: { run: 'tsc --noEmit' },
      lint: { run: 'eslint --max-warnings 0 src' },
    });
    assert.deepEqual(readCheckScripts({ typecheck: 'tsc -p a.json --noEmit && vue-tsc', lint: 'eslint src && stylelint x' }), {
      typecheck: { run: 'tsc -p a.json --noEmit && vue-tsc' },
      lint: { run: 'eslint src && stylelint x' },
    });
  });

  test('no script, no check', () => {
    assert.deepEqual(readCheckScripts({}), { typecheck: null, lint: null });
    assert.deepEqual(readCheckScripts(undefined), { typecheck: null, lint: null });
  });

  test("every workspace package's scripts take the shared-program path (none falls back)", () => {
    for (const p of readWorkspace(REPO_ROOT)) {
      const plan = readCheckScripts(JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8')).scripts);
      for (const task of ['typecheck', 'lint']) assert.ok(!plan[task] || !('run' in plan[task]), `${p.name}#${task}: ${plan[task]?.run}`);
    }
  });
});

describe('check-packages.mjs on throwaway packages', () => {
  // Inside the repository: eslint.config.js and tsconfig.base.json apply to them as to a package.
  const root = mkdtempSync(join(REPO_ROOT, 'scripts', 'test', 'tmp-check-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const base = relative(join(root, 'x'), join(REPO_ROOT, 'tsconfig.base.json'));
  const tsconfig = (include, depth = 0) =>
    JSON.stringify({ extends: `${'../'.repeat(depth)}${base}`, compilerOptions: { noEmit: true }, include });
  const floating = 'async function later(): Promise<number> {\n  return 1;\n}\nexport function go(): void {\n  later();\n}\n';
  const fine = 'async function later(): Promise<number> {\n  return 1;\n}\nexport async function go(): Promise<void> {\n  await later();\n}\n';
  function pkg(name, scripts, files) {
    const dir = join(root, name);
    for (const [f, text] of Object.entries({ 'package.json': JSON.stringify({ name, private: true, type: 'module', scripts }), ...files })) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    return dir;
  }
  const plain = { typecheck: 'tsc -p tsconfig.json --noEmit', lint: 'eslint src' };
  const dirs = [
    pkg('bad', plain, { 'tsconfig.json': tsconfig(['src']), 'src/index.ts': `${floating}export const n: string = 3;\n` }),
    pkg('good', plain, { 'tsconfig.json': tsconfig(['src']), 'src/index.ts': fine }),
    // Flags: the script runs as it is; an unused disable directive is a warning, fatal here.
    pkg('flags', { lint: 'eslint --max-warnings 0 src' }, {
      'tsconfig.json': tsconfig(['src']),
      'src/index.ts': `// eslint-disable-next-line no-console\n${fine}`,
    }),
    // other/ has its own tsconfig the typecheck does not build: linted with the project service.
    pkg('nested', { typecheck: 'tsc -p tsconfig.json --noEmit', lint: 'eslint src other' }, {
      'tsconfig.json': tsconfig(['src']),
      'src/index.ts': fine,
      'other/tsconfig.json': tsconfig(['*.ts'], 1),
      'other/x.ts': floating,
    }),
  ];
  const res = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'check-packages.mjs'), '--jobs', '2', '--report', join(root, 'r.jsonl'), ...dirs], {
    encoding: 'utf8',
    cwd: REPO_ROOT,
  });
  const report = () =>
    new Map(
      readFileSync(join(root, 'r.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .map((r) => [`${r.package}#${r.task}`, r]),
    );

  test('exits 1 when a check fails and reports every check', () => {
    assert.equal(res.status, 1, res.stdout + res.stderr);
    assert.deepEqual([...report().keys()].sort(), ['bad#lint', 'bad#typecheck', 'flags#lint', 'good#lint', 'good#typecheck', 'nested#lint', 'nested#typecheck']);
    assert.match(res.stdout, /3 of 7 checks passed \(2 workers\)/);
  });

  test("tsc's error and the type-aware lint error, from the one program", () => {
    const r = report();
    assert.equal(r.get('bad#typecheck').ok, false);
    assert.equal(r.get('bad#typecheck').reason, '1 TypeScript error(s)');
    assert.match(res.stdout, /bad\/src\/index\.ts\(7,14\): error TS2322: Type 'number' is not assignable to type 'string'/);
    assert.equal(r.get('bad#lint').ok, false);
    assert.equal(r.get('bad#lint').reason, '1 ESLint error(s)');
    assert.match(res.stdout, /5:3 +error +Promises must be awaited.*@typescript-eslint\/no-floating-promises/);
    assert.equal(r.get('good#typecheck').ok, true);
    assert.equal(r.get('good#lint').ok, true);
  });

  test('a script with flags runs as it is', () => {
    assert.equal(report().get('flags#lint').ok, false);
    assert.match(res.stdout, /Unused eslint-disable directive/);
    assert.match(res.stdout, /ESLint found too many warnings/);
  });

  test("a file outside the typecheck's programs is linted with the project service, errors and all", () => {
    assert.equal(report().get('nested#typecheck').ok, true);
    assert.equal(report().get('nested#lint').ok, false);
    assert.match(res.stdout, /nested\/other\/x\.ts is not in the typecheck's program of its nearest tsconfig: linted with the project service/);
    assert.match(res.stdout, /nested\/other\/x\.ts\n +5:3 +error +Promises must be awaited/);
  });
});
