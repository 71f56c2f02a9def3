import { existsSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { HarnessErrorCode } from '../src/index.js';
import { useNats, useRedis } from '../src/vitest.js';
import { expectGone, tcpProbe } from './helpers.js';

const seen = { natsPid: 0, redisPid: 0, dirs: [] as string[] };
let earlyError: unknown;

describe('useNats / useRedis', () => {
  const nats = useNats({ jetstream: false });
  const redis = useRedis();
  try {
    redis(); // during collection: beforeAll has not run yet
  } catch (err) {
    earlyError = err;
  }

  it('start the servers before the tests run', async () => {
    const nc = await connect({ servers: nats().url });
    await nc.flush();
    await nc.close();
    expect(await tcpProbe(redis().port)).toBe('connected');
    seen.natsPid = nats().pid;
    seen.redisPid = redis().pid;
    seen.dirs.push(nats().dir, redis().dir);
  });

  it('throw a clear error when the getter is used before the servers start', () => {
    expect(earlyError).toMatchObject({ code: HarnessErrorCode.InvalidArgument });
  });
});

describe('after a suite using the helpers', () => {
  it('its servers were disposed', async () => {
    expect(seen.natsPid).toBeGreaterThan(0);
    await expectGone(seen.natsPid, 1_000);
    await expectGone(seen.redisPid, 1_000);
    expect(seen.dirs.filter((d) => existsSync(d))).toEqual([]);
  });
});
