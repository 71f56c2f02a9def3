/** Package hygiene: browser-safe sources and a documented error catalogue. */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SOCKET_PATH } from '@orderwire/contracts';
import { EDGE_SOCKET_PATH } from '../src/index.js';

const root = join(import.meta.dirname, '..');
const srcDir = join(root, 'src');
const sources = readdirSync(srcDir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ file: f, text: readFileSync(join(srcDir, f), 'utf8') }));

describe('display-sdk package', () => {
  it('imports no Node built-in and touches no Node-only global in src/', () => {
    const builtins = new Set(builtinModules);
    for (const { file, text } of sources) {
      for (const [, spec] of text.matchAll(/from\s+'([^']+)'/g)) {
        expect(spec!.startsWith('node:') || builtins.has(spec!), `${file} imports ${spec}`).toBe(false);
      }
      expect(/\b(process|Buffer|require)\s*[.(]/.test(text), `${file} uses a Node-only global`).toBe(false);
    }
  });

  it('imports only socket.io-client at runtime (contracts are type-only: their schemas would bloat bundles)', () => {
    const external = new Set<string>();
    for (const { text } of sources) {
      for (const [, spec] of text.matchAll(/^import(?!\s+type)[^;]*?from\s+'([^'.][^']*)'/gm)) external.add(spec!);
      for (const [, spec] of text.matchAll(/^export(?!\s+type)[^;]*?from\s+'([^'.][^']*)'/gm)) external.add(spec!);
    }
    expect([...external]).toEqual(['socket.io-client']);
  });

  it('uses the contract socket path', () => {
    expect(EDGE_SOCKET_PATH).toBe(SOCKET_PATH);
  });
});
