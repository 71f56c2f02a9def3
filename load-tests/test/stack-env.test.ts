import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EDGE_NODE_OPTIONS } from '../src/stack.js';

const edgeConfigMap = fileURLToPath(new URL('../../k8s/base/edge/config.yaml', import.meta.url));

describe("the bench's edges run with production's Node flags", () => {
  it('EDGE_NODE_OPTIONS is the NODE_OPTIONS of the edge ConfigMap', () => {
    const m = /^\s+NODE_OPTIONS:\s*(.+?)\s*$/m.exec(readFileSync(edgeConfigMap, 'utf8'));
    expect(m?.[1]?.replace(/^["']|["']$/g, '')).toBe(EDGE_NODE_OPTIONS);
  });
});
