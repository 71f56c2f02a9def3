/** The edge's configuration. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { EDGE_MALLOC_ARENA_MAX, EDGE_NODE_OPTIONS, loadEdgeConfig } from '../src/config.js';

describe('config', () => {
  it('has the documented defaults', () => {
    const c = loadEdgeConfig({});
    expect(c).toMatchObject({
      port: 3003,
      ackTimeoutMs: 10_000,
      batchMax: 32,
      batchMaxBytes: 256 * 1024,
      maxFailures: 5,
      transports: ['websocket'],
      shutdownGraceMs: 25_000,
      heapGrowingPercent: 50,
    });
    expect(c.instanceId).toMatch(/-\d+$/);
  });
  it("bounds V8's old-generation growth: 0 leaves it to V8, past 300 % (V8's own ceiling) is refused", () => {
    expect(loadEdgeConfig({ EDGE_HEAP_GROWING_PERCENT: '0' }).heapGrowingPercent).toBe(0);
    expect(loadEdgeConfig({ EDGE_HEAP_GROWING_PERCENT: '25' }).heapGrowingPercent).toBe(25);
    expect(() => loadEdgeConfig({ EDGE_HEAP_GROWING_PERCENT: '301' })).toThrow(/EDGE_HEAP_GROWING_PERCENT/);
    expect(() => loadEdgeConfig({ EDGE_HEAP_GROWING_PERCENT: 'lots' })).toThrow(/EDGE_HEAP_GROWING_PERCENT/);
  });
  it('names every bad variable', () => {
    expect(() => loadEdgeConfig({ EDGE_BATCH_MAX: '0', EDGE_TRANSPORTS: 'carrier-pigeon' })).toThrow(/EDGE_BATCH_MAX[\s\S]*EDGE_TRANSPORTS/);
  });
});

describe('NODE_OPTIONS and MALLOC_ARENA_MAX', () => {
  const yaml = (): string => readFileSync(new URL('../../../k8s/base/edge/config.yaml', import.meta.url), 'utf8');
  const value = (name: string): string | undefined => new RegExp(`^\\s+${name}:\\s*(.+?)\\s*$`, 'm').exec(yaml())?.[1]?.replace(/^["']|["']$/g, '');

  it("are declared (so a deployment may set them) and production's ConfigMap sets the edge's values", () => {
    const config = loadEdgeConfig({ NODE_OPTIONS: EDGE_NODE_OPTIONS, MALLOC_ARENA_MAX: EDGE_MALLOC_ARENA_MAX });
    expect(config.nodeOptions).toBe(EDGE_NODE_OPTIONS);
    expect(config.mallocArenaMax).toBe(EDGE_MALLOC_ARENA_MAX);
    expect(value('NODE_OPTIONS')).toBe(EDGE_NODE_OPTIONS);
    expect(value('MALLOC_ARENA_MAX')).toBe(EDGE_MALLOC_ARENA_MAX);
  });
});
