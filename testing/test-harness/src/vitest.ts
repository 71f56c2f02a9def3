import { afterAll, beforeAll } from 'vitest';
import { HarnessError, HarnessErrorCode } from './errors.js';
import { startNats, startNatsCluster } from './nats.js';
import type { NatsClusterHandle, NatsClusterOptions, NatsServerHandle, NatsServerOptions } from './nats.js';
import { startRedis } from './redis.js';
import type { RedisServerHandle, RedisServerOptions } from './redis.js';

/**
 * Vitest sugar: start a server in `beforeAll`, dispose it in `afterAll`, and hand back a
 * getter (the handle does not exist yet while the suite is being collected).
 *
 *   const nats = useNats();
 *   it('...', async () => { const nc = await connect({ servers: nats().url }); });
 */
function useServer<H extends { dispose(): Promise<void> }>(kind: string, start: () => Promise<H>): () => H {
  let handle: H | undefined;
  beforeAll(async () => {
    handle = await start();
  });
  afterAll(async () => {
    await handle?.dispose();
  });
  return () => {
    if (handle === undefined) {
      throw new HarnessError(HarnessErrorCode.InvalidArgument, `${kind} is not started yet: call the getter inside a test or hook`);
    }
    return handle;
  };
}

export function useNats(options?: NatsServerOptions): () => NatsServerHandle {
  return useServer('nats-server', () => startNats(options));
}

export function useNatsCluster(options?: NatsClusterOptions): () => NatsClusterHandle {
  return useServer('nats cluster', () => startNatsCluster(options));
}

export function useRedis(options?: RedisServerOptions): () => RedisServerHandle {
  return useServer('redis-server', () => startRedis(options));
}
