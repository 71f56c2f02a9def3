import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** `results/x.json` lands in load-tests/results/ whatever the working directory. */
export function resolveOut(out: string): string {
  if (isAbsolute(out)) return out;
  return out.startsWith('results/') ? join(PACKAGE_DIR, out) : resolve(out);
}
