import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRunDir } from '../src/stack.js';

/** lsattr's flags of a directory, or undefined where lsattr cannot tell (not ext4, no e2fsprogs). */
function attrs(path: string): string | undefined {
  try {
    return execFileSync('lsattr', ['-d', path], { encoding: 'utf8' }).trim().split(/\s+/)[0];
  } catch {
    return undefined;
  }
}

describe('a bench run directory', () => {
  const parent = join(mkdtempSync(join(tmpdir(), 'orderwire-run-dir-test-')), 'runs');
  afterAll(() => rmSync(dirname(parent), { recursive: true, force: true }));

  it('is a new directory under the parent, which is marked TOPDIR wherever the file system has the flag', async () => {
    const a = await createRunDir(parent);
    const b = await createRunDir(parent);
    expect(a.dir).not.toBe(b.dir);
    for (const r of [a, b]) {
      expect(dirname(r.dir)).toBe(parent);
      expect(statSync(r.dir).isDirectory()).toBe(true);
    }
    const flags = attrs(parent);
    // `spread` is true exactly when the flag is set (lsattr shows it as T).
    if (flags !== undefined) expect(a.spread).toBe(flags.includes('T'));
    else expect(a.spread).toBe(false);
    expect(existsSync(parent)).toBe(true);
  });
});
