// The web app: plain TypeScript, no framework, no Node polyfills. The build fails if anything
// it bundles imports a Node built-in (the display SDK must run in the browser unchanged).
import { builtinModules } from 'node:module';
import { defineConfig } from 'vite';

const nodeBuiltins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

export default defineConfig({
  root: 'web',
  plugins: [
    {
      name: 'orderwire-no-node-builtins',
      // Before Vite's own resolver, which would quietly stub the module "for browser compatibility".
      enforce: 'pre',
      resolveId(source, importer) {
        if (nodeBuiltins.has(source)) {
          throw new Error(`ORDERWIRE_ERR_DISPLAY_NODE_IMPORT: ${importer ?? '?'} imports the Node built-in '${source}'`);
        }
        return null;
      },
    },
  ],
  base: '/',
  build: {
    outDir: '../dist/public',
    emptyOutDir: true,
    target: 'es2022',
    // Budget: the SDK with socket.io-client is ~67 kB minified; the app adds little.
    chunkSizeWarningLimit: 150,
  },
});
