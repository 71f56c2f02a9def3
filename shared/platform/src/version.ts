/**
 * The version a process reports (logs, `/readyz`, metrics): its package's `version`, read at
 * run time from the nearest package.json above the calling module — `src/` under vitest and
 * `dist/` when built both sit one level below it, as does the file in an image.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLATFORM_ERRORS } from './errors.js';

/**
 * @param moduleUrl the caller's `import.meta.url`
 * @throws ORDERWIRE_ERR_PACKAGE_VERSION when no package.json with a string `version` is found above it
 */
export function packageVersion(moduleUrl: string | URL): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    let text: string | undefined;
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      const version = (JSON.parse(text) as { version?: unknown }).version;
      if (typeof version !== 'string') throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_PACKAGE_VERSION', { reason: `${join(dir, 'package.json')} has no version` });
      return version;
    }
    const parent = dirname(dir);
    if (parent === dir) throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_PACKAGE_VERSION', { reason: `no package.json above ${fileURLToPath(moduleUrl)}` });
    dir = parent;
  }
}
