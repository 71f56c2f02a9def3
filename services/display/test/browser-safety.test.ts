/**
 * The display SDK runs in the browser unchanged: the web app (and everything it bundles, the SDK
 * and socket.io-client included) builds with Vite with no Node polyfills, and the build refuses
 * any Node built-in import — shown by a build that tries one. The browser system test
 * (testing/system-tests/test/display-app.test.ts) then runs that bundle in Chromium.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const configFile = join(pkgDir, 'vite.config.mjs');
/** 120 kB — the SDK with socket.io-client is ~67 kB minified; the app must stay small. */
const BUNDLE_BUDGET_BYTES = 120 * 1024;
const dirs: string[] = [];

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'orderwire-display-build-'));
  dirs.push(d);
  return d;
}

describe('browser bundle', () => {
  it('builds without Node built-ins or polyfills, within its size budget', async () => {
    const outDir = await tempDir();
    await build({ configFile, root: join(pkgDir, 'web'), logLevel: 'silent', build: { outDir, emptyOutDir: true } });
    const assets = join(outDir, 'assets');
    const js = (await readdir(assets)).filter((f) => f.endsWith('.js'));
    expect(js).toHaveLength(1);
    const code = await readFile(join(assets, js[0]!), 'utf8');
    expect(code.length).toBeLessThan(BUNDLE_BUDGET_BYTES);
    // The SDK and socket.io-client are in it, and nothing of Node is.
    expect(code).toContain('/socket.io');
    expect(code).not.toMatch(/\bfrom\s*["']node:|require\(["'](?:node:)?(?:fs|net|tls|http|crypto|buffer|stream)["']\)|\bprocess\.env\b/);
  });

  it('fails the build when anything it bundles imports a Node built-in', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'main.ts'), "import { readFileSync } from 'node:fs';\nconsole.log(readFileSync);\n");
    await writeFile(join(root, 'index.html'), '<!doctype html><script type="module" src="/main.ts"></script>');
    await expect(build({ configFile, root, logLevel: 'silent', build: { outDir: join(root, 'out') } })).rejects.toThrow(
      /ORDERWIRE_ERR_DISPLAY_NODE_IMPORT[\s\S]*node:fs/,
    );
  });
});

describe('web sources', () => {
  it('import no Node built-in and no package but the display SDK', async () => {
    const srcDir = join(pkgDir, 'web', 'src');
    const files = (await readdir(srcDir)).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    const bad: string[] = [];
    for (const f of files) {
      const text = await readFile(join(srcDir, f), 'utf8');
      for (const m of text.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!;
        if (!spec.startsWith('./') && spec !== '@orderwire/display-sdk') bad.push(`${f}: ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
