import { describe, expect, it } from 'vitest';
import { measureFloor } from '../src/floor.js';

describe('raw floor', () => {
  it('measures JetStream, Socket.IO and the chained pipeline on real servers', async () => {
    const f = await measureFloor(100);
    expect(f.samples).toBe(100);
    for (const s of [f.jsPublish, f.jsPublishToConsume, f.jsPublishConsumeAck, f.socketIoRoundTrip, f.pipelineToShown]) {
      expect(s.count).toBe(100);
      expect(s.p50).toBeGreaterThan(0);
      expect(s.p99).toBeGreaterThanOrEqual(s.p50);
    }
    // Each stage includes the one before it.
    expect(f.jsPublishConsumeAck.p50).toBeGreaterThanOrEqual(f.jsPublishToConsume.p50);
    expect(f.jsPublishToConsume.p50).toBeGreaterThanOrEqual(f.jsPublish.p50 * 0.5);
    expect(f.pipelineToShown.p50).toBeGreaterThan(f.jsPublishToConsume.p50 * 0.5);
  }, 60_000);
});
