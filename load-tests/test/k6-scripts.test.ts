import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const K6_DIR = fileURLToPath(new URL('../k6/', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

const scripts = readdirSync(K6_DIR).filter((f) => f.endsWith('.ts'));
const libs = readdirSync(join(K6_DIR, 'lib')).filter((f) => f.endsWith('.ts'));

describe('k6 scripts', () => {
  it('type-check against @types/k6', async () => {
    const result: { stdout?: string; code?: number } = await promisify(execFile)(
      process.execPath,
      [tsc, '-p', join(K6_DIR, 'tsconfig.json'), '--noEmit'],
      { timeout: 120_000 },
    ).catch((err: { stdout?: string; code?: number }) => err);
    expect(result.stdout ?? '').toBe('');
    expect(result.code ?? 0).toBe(0);
  }, 120_000);

  it('are the three scenarios', () => {
    expect(scripts.sort()).toEqual(['combined.ts', 'displays.ts', 'ingest.ts']);
  });

  it.each([...scripts, ...libs.map((l) => `lib/${l}`)])('%s imports only k6 modules and relative .ts files (k6 has no npm resolution)', (file) => {
    for (const spec of imports(join(K6_DIR, file))) {
      expect(spec === 'k6' || spec.startsWith('k6/') || /^\.\.?\/.+\.ts$/.test(spec), spec).toBe(true);
    }
  });

  it.each(['socketio.ts', 'deliveries.ts', 'plan.ts', 'settings.ts'])('lib/%s has no k6 imports (vitest runs it)', (file) => {
    expect(imports(join(K6_DIR, 'lib', file)).filter((s) => s === 'k6' || s.startsWith('k6/'))).toEqual([]);
  });

  it('every script declares thresholds', () => {
    for (const file of scripts) expect(readFileSync(join(K6_DIR, file), 'utf8')).toMatch(/thresholds:\s*\{/);
  });
});
