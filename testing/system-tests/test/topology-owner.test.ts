/**
 * One owner for the JetStream topology (issue 13): `topology apply` (auth's beforeStart) sets
 * every stream and bucket; services only verify. Before, each service's start re-applied
 * defaults: an edge starting after auth cut `ow_refresh_tokens` from AUTH_REFRESH_TTL=60d back
 * to 30 days and `ow_enrollments` back to 15 minutes. And a service finding a stream that does
 * not fit it refuses readiness, naming item and field, instead of "fixing" it.
 */
import { randomBytes } from 'node:crypto';
import { jetstreamManager, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  HarnessError,
  HarnessErrorCode,
  runBeforeStart,
  startNats,
  startRedis,
  startServiceProcess,
  type NatsServerHandle,
  type RedisServerHandle,
  type ServiceProcessHandle,
} from '@orderwire/test-harness';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const NS_PER_MS = 1_000_000;
const DAY_MS = 24 * 3600 * 1000;
/** Bound on a service becoming ready on a loaded 2-core machine. */
const START_TIMEOUT_MS = 30_000;

let nats: NatsServerHandle;
let redis: RedisServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
const procs: ServiceProcessHandle[] = [];

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
});
afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.dispose();
});
afterAll(async () => {
  await nc?.close();
  await redis?.dispose();
  await nats?.dispose();
});

async function configs(): Promise<Record<string, StreamConfig>> {
  const out: Record<string, StreamConfig> = {};
  for await (const si of jsm.streams.list()) out[si.config.name] = si.config;
  return out;
}

async function start(name: string, main: string, env: Record<string, string>): Promise<ServiceProcessHandle> {
  const p = await startServiceProcess({ name, main, env, startTimeoutMs: START_TIMEOUT_MS });
  procs.push(p);
  return p;
}

/** Starts a service that must refuse readiness; returns its output. */
async function refused(name: string, main: string, env: Record<string, string>): Promise<string> {
  const err = await startServiceProcess({ name, main, env, startTimeoutMs: START_TIMEOUT_MS }).then(
    (p) => {
      procs.push(p);
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err, `${name} became ready`).toBeInstanceOf(HarnessError);
  expect((err as HarnessError).code, (err as Error).message).toBe(HarnessErrorCode.ExitedEarly);
  return (err as HarnessError).message;
}

describe('one topology owner', () => {
  it('an edge starting after auth (AUTH_REFRESH_TTL=60d, AUTH_ENROLLMENT_TTL=45m) leaves every stream and bucket as applied', async () => {
    const kek = randomBytes(32).toString('base64');
    const authEnv = {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      AUTH_KEK: kek,
      AUTH_REFRESH_TTL: '60d',
      AUTH_ENROLLMENT_TTL: '45m',
      LOG_LEVEL: 'warn',
    };
    await runBeforeStart(authEnv);
    const applied = await configs();
    expect(applied.KV_ow_refresh_tokens!.max_age).toBe(60 * DAY_MS * NS_PER_MS);
    expect(applied.KV_ow_enrollments!.max_age).toBe(90 * 60_000 * NS_PER_MS);

    const auth = await start('auth', 'services/auth/dist/main.js', authEnv);
    const common = { NATS_URL: nats.url, REDIS_URL: redis.url, AUTH_JWKS_URL: `${auth.url}/.well-known/jwks.json`, LOG_LEVEL: 'warn' };
    await start('edge-1', 'services/edge/dist/main.js', common);
    await start('ingest', 'services/ingest/dist/main.js', common);
    await start('dlq', 'services/dlq/dist/main.js', common);
    // Auth restarting after them: still nothing changes.
    await auth.restart();
    expect(await configs()).toEqual(applied);
  });

  it('a service whose bucket TTL is shorter than what it keeps refuses readiness, naming bucket, field and setting', async () => {
    // The topology applied with default lifetimes; auth is then started with a longer refresh TTL.
    await runBeforeStart({ NATS_URL: nats.url, LOG_LEVEL: 'warn', AUTH_REFRESH_TTL: '30d' });
    const before = await configs();
    const out = await refused('auth', 'services/auth/dist/main.js', {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      AUTH_KEK: randomBytes(32).toString('base64'),
      AUTH_REFRESH_TTL: '90d',
    });
    expect(out).toContain('ORDERWIRE_ERR_TOPOLOGY_MISMATCH');
    expect(out).toContain('kv ow_refresh_tokens max_age');
    expect(out).toContain('(AUTH_REFRESH_TTL)');
    expect(await configs()).toEqual(before);
  });

  it('ingest and an edge finding an order stream without its retention or doorbells refuse readiness and leave it as it is', async () => {
    await runBeforeStart({ NATS_URL: nats.url, LOG_LEVEL: 'warn' });
    const p0 = (await jsm.streams.info('ORDERS_P0')).config;
    await jsm.streams.delete('ORDERS_P0');
    await jsm.streams.add({ name: 'ORDERS_P0', subjects: p0.subjects, storage: 'file', retention: 'interest' });
    const before = await configs();
    const env = { NATS_URL: nats.url, REDIS_URL: redis.url, LOG_LEVEL: 'warn' };

    const ingest = await refused('ingest', 'services/ingest/dist/main.js', env);
    expect(ingest).toContain('ORDERWIRE_ERR_TOPOLOGY_MISMATCH');
    expect(ingest).toContain('ingest needs: stream ORDERS_P0 retention: is interest, needs limits');

    const edge = await refused('edge-1', 'services/edge/dist/main.js', env);
    expect(edge).toContain('edge needs: stream ORDERS_P0 retention');
    expect(edge).toContain('stream ORDERS_P0 republish: is none');
    expect(await configs()).toEqual(before);

    // Retention cannot change in place: the owner refuses it too; with the stream recreated it starts.
    await jsm.streams.delete('ORDERS_P0');
    await runBeforeStart({ NATS_URL: nats.url, LOG_LEVEL: 'warn' });
    await start('ingest', 'services/ingest/dist/main.js', env);
  });
});
