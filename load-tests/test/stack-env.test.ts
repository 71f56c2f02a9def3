import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EDGE_MALLOC_ARENA_MAX, EDGE_NODE_OPTIONS, NATS_GOGC, NATS_GOMEMLIMIT, natsServerEnv } from '../src/stack.js';

const edgeConfigMap = fileURLToPath(new URL('../../k8s/base/edge/config.yaml', import.meta.url));
const natsStatefulSet = fileURLToPath(new URL('../../k8s/base/nats/statefulset.yaml', import.meta.url));

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

describe("the bench's nats-server runs with production's Go GC settings", () => {
  const value = (name: string): string | undefined =>
    new RegExp(`- name: ${name}\\s*\\n\\s*value:\\s*"?([^"\\s]+)"?`).exec(readFileSync(natsStatefulSet, 'utf8'))?.[1];

  it('NATS_GOGC and NATS_GOMEMLIMIT are the GOGC and GOMEMLIMIT of the nats StatefulSet', () => {
    expect(value('GOGC')).toBe(NATS_GOGC);
    expect(value('GOMEMLIMIT')).toBe(NATS_GOMEMLIMIT);
  });
  it('gives nats-server those values unless the bench itself was given its own (an A/B of the setting)', () => {
    const own = { GOGC: process.env.GOGC, GOMEMLIMIT: process.env.GOMEMLIMIT };
    try {
      delete process.env.GOGC;
      delete process.env.GOMEMLIMIT;
      expect(natsServerEnv()).toEqual({ GOGC: NATS_GOGC, GOMEMLIMIT: NATS_GOMEMLIMIT });
      process.env.GOGC = '400';
      process.env.GOMEMLIMIT = '1GiB';
      expect(natsServerEnv()).toEqual({ GOGC: '400', GOMEMLIMIT: '1GiB' });
    } finally {
      for (const [k, v] of Object.entries(own)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
