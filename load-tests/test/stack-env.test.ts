import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EDGE_MALLOC_ARENA_MAX, EDGE_NODE_OPTIONS } from '../src/stack.js';

const edgeConfigMap = fileURLToPath(new URL('../../k8s/base/edge/config.yaml', import.meta.url));

describe("the bench's edges run with production's Node flags", () => {
  const value = (name: string): string | undefined =>
    new RegExp(`^\\s+${name}:\\s*(.+?)\\s*$`, 'm').exec(readFileSync(edgeConfigMap, 'utf8'))?.[1]?.replace(/^["']|["']$/g, '');

  it('EDGE_NODE_OPTIONS is the NODE_OPTIONS of the edge ConfigMap', () => {
    expect(value('NODE_OPTIONS')).toBe(EDGE_NODE_OPTIONS);
  });
  it('EDGE_MALLOC_ARENA_MAX is the MALLOC_ARENA_MAX of the edge ConfigMap', () => {
    expect(value('MALLOC_ARENA_MAX')).toBe(EDGE_MALLOC_ARENA_MAX);
  });
});
