/** The edge's configuration. */
import { describe, expect, it } from 'vitest';
import { loadEdgeConfig } from '../src/config.js';

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
    });
    expect(c.instanceId).toMatch(/-\d+$/);
  });
  it('names every bad variable', () => {
    expect(() => loadEdgeConfig({ EDGE_BATCH_MAX: '0', EDGE_TRANSPORTS: 'carrier-pigeon' })).toThrow(/EDGE_BATCH_MAX[\s\S]*EDGE_TRANSPORTS/);
  });
});
