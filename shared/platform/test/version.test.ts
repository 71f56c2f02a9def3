import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { packageVersion } from '../src/version.js';

const dir = mkdtempSync(join(tmpdir(), 'pkg-version-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("reads the version of the calling module's package, from src/ as from dist/", () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  expect(packageVersion(import.meta.url)).toBe(pkg.version);
  mkdirSync(join(dir, 'svc', 'dist', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'svc', 'package.json'), JSON.stringify({ name: 'svc', version: '2.3.4' }));
  expect(packageVersion(pathToFileURL(join(dir, 'svc', 'dist', 'deep', 'main.js')))).toBe('2.3.4');
});

it('a package.json without a version is an error naming the file, never a made-up version', () => {
  mkdirSync(join(dir, 'bad', 'dist'), { recursive: true });
  writeFileSync(join(dir, 'bad', 'package.json'), JSON.stringify({ name: 'bad' }));
  expect(() => packageVersion(pathToFileURL(join(dir, 'bad', 'dist', 'main.js')))).toThrow(
    /ORDERWIRE_ERR_PACKAGE_VERSION|cannot read the package version: .*bad[/\\]package\.json has no version/,
  );
});
