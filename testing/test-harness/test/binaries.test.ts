import { chmod, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HarnessError, HarnessErrorCode, findRepoRoot, locateBinary, resolveBinary } from '../src/index.js';

describe('binary lookup', () => {
  let dir: string;
  let fakeBin: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'harness-bin-'));
    await mkdir(join(dir, 'repo', '.tools', 'bin'), { recursive: true });
    await mkdir(join(dir, 'pathdir'));
    fakeBin = join(dir, 'pathdir', 'nats-server');
    await writeFile(fakeBin, '#!/bin/sh\n');
    await chmod(fakeBin, 0o755);
    await writeFile(join(dir, 'repo', '.tools', 'bin', 'nats-server'), '#!/bin/sh\n');
    await chmod(join(dir, 'repo', '.tools', 'bin', 'nats-server'), 0o755);
    await writeFile(join(dir, 'not-executable'), 'x');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds the repo root by turbo.json and the tools installed there', () => {
    const root = findRepoRoot();
    expect(root).toBeDefined();
    expect(resolveBinary('nats-server')).toBe(join(root ?? '', '.tools', 'bin', 'nats-server'));
    expect(resolveBinary('redis-server')).toBe(join(root ?? '', '.tools', 'bin', 'redis-server'));
  });

  it('prefers the env override, then .tools/bin, then PATH', () => {
    const repoRoot = join(dir, 'repo');
    const path = join(dir, 'pathdir');
    expect(locateBinary('nats-server', { override: fakeBin, repoRoot, path })).toBe(fakeBin);
    expect(locateBinary('nats-server', { override: undefined, repoRoot, path })).toBe(join(repoRoot, '.tools', 'bin', 'nats-server'));
    expect(locateBinary('nats-server', { override: '', repoRoot: dir, path })).toBe(fakeBin);
  });

  it('rejects a wrong override instead of silently using another binary', () => {
    const err = catchError(() =>
      locateBinary('redis-server', { override: join(dir, 'not-executable'), repoRoot: join(dir, 'repo'), path: undefined }),
    );
    expect(err.code).toBe(HarnessErrorCode.BinaryNotFound);
    expect(err.message).toContain('ORDERWIRE_REDIS_SERVER=');
  });

  it('tells the user to run `npm run tools` when nothing is found', () => {
    const err = catchError(() => locateBinary('redis-server', { override: undefined, repoRoot: dir, path: join(dir, 'pathdir') }));
    expect(err.code).toBe(HarnessErrorCode.BinaryNotFound);
    expect(err.message).toContain('npm run tools');
    expect(err.message).toContain(join(dir, '.tools', 'bin', 'redis-server'));
  });
});

function catchError(fn: () => unknown): HarnessError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HarnessError) return err;
    throw err;
  }
  throw new Error('expected a HarnessError');
}
