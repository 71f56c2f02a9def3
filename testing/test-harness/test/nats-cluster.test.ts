import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { HarnessErrorCode, startNatsCluster, waitFor, type NatsClusterHandle, type NatsServerHandle } from '../src/index.js';
import { expectGone } from './helpers.js';

interface Jsz {
  meta_cluster?: { name?: string; leader?: string; cluster_size?: number };
  account_details?: { stream_detail?: { name: string; state: { messages: number } }[] }[];
}

async function jsz(node: NatsServerHandle, query = ''): Promise<Jsz> {
  const res = await fetch(`${node.monitorUrl}/jsz${query}`);
  return (await res.json()) as Jsz;
}

// Raft elections take seconds, more on a loaded box; give the harness' own timeouts
// (which carry the server logs) room to fire before vitest's.
describe('startNatsCluster', { timeout: 90_000 }, () => {
  let cluster: NatsClusterHandle;
  let nc: NatsConnection | undefined;

  beforeEach(() => {
    onTestFailed(() => {
      for (const s of cluster.servers) console.error(`----- ${s.name} (running=${s.running})\n${s.logs().split('\n').slice(-40).join('\n')}`);
    });
  });

  beforeAll(async () => {
    // A cold restart of all three nodes re-forms the meta group from disk; on a loaded 2-core box
    // that has taken over 20 s (the default), so this cluster gets a longer start bound.
    cluster = await startNatsCluster({ size: 3, startTimeoutMs: 45_000 });
  });

  afterAll(async () => {
    await nc?.close();
    await cluster?.dispose();
  });

  it('resolves with three routed nodes that agree on a meta leader', async () => {
    expect(cluster.servers).toHaveLength(3);
    expect(cluster.urls).toEqual(cluster.servers.map((s) => s.url));
    expect(new Set(cluster.servers.map((s) => s.name)).size).toBe(3);
    const leader = await cluster.metaLeader();
    expect(cluster.servers.map((s) => s.name)).toContain(leader);
    for (const node of cluster.servers) {
      const info = await jsz(node);
      expect(info.meta_cluster?.leader).toBe(leader);
      expect(info.meta_cluster?.cluster_size).toBe(3);
      expect(info.meta_cluster?.name).toBe(cluster.name);
    }
    expect(() => cluster.node(3)).toThrow(expect.objectContaining({ code: HarnessErrorCode.InvalidArgument }) as Error);
  });

  it('keeps an R3 stream writable with one node down; the node rejoins and catches up', async () => {
    const admin = await connect({ servers: [...cluster.urls] });
    try {
      const info = await (await jetstreamManager(admin)).streams.add({ name: 'ORDERS', subjects: ['orders.>'], num_replicas: 3 });
      expect(info.config.num_replicas).toBe(3);
    } finally {
      await admin.close();
    }

    // Kill a replica that leads neither the stream nor the meta group, so this test pins
    // down "writable with a node down"; leader loss (a ~5 s raft election) is tested below.
    // The writer talks to the survivors only: a request written into the socket of a
    // server that is being SIGKILLed is simply lost (core NATS is at-most-once).
    const probe = await connect({ servers: [...cluster.urls] });
    const streamLeader = (await (await jetstreamManager(probe)).streams.info('ORDERS')).cluster?.leader;
    await probe.close();
    const metaLeader = await cluster.metaLeader();
    const victimIndex = cluster.servers.findIndex((s) => s.name !== streamLeader && s.name !== metaLeader);
    expect(victimIndex).toBeGreaterThanOrEqual(0);
    const victim = cluster.node(victimIndex);
    nc = await connect({
      servers: cluster.servers.filter((s) => s !== victim).map((s) => s.url),
      reconnectTimeWait: 50,
      maxReconnectAttempts: -1,
    });
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc, { timeout: 5_000 });
    for (let i = 0; i < 5; i++) await js.publish('orders.t.s.grill', `o${i}`);

    const oldPid = victim.pid;
    try {
      await victim.kill();
      await expectGone(oldPid, 1_000);
      // Two of three replicas are a quorum: every publish is still acknowledged.
      for (let i = 5; i < 10; i++) await js.publish('orders.t.s.grill', `o${i}`);
      expect((await jsm.streams.info('ORDERS')).state.messages).toBe(10);
    } finally {
      await victim.start();
    }

    expect(victim.running).toBe(true);
    await waitFor(
      async () => {
        const detail = (await jsz(victim, '?accounts=true&streams=true')).account_details
          ?.flatMap((a) => a.stream_detail ?? [])
          .find((s) => s.name === 'ORDERS');
        return detail?.state.messages === 10;
      },
      { timeoutMs: 15_000, message: 'restarted node to hold all 10 messages' },
    );
    const replicas = (await jsm.streams.info('ORDERS')).cluster?.replicas ?? [];
    expect(replicas.map((r) => r.name)).toContain(victim.name);
  });

  it('re-elects a meta leader after the meta leader is killed, and the old leader rejoins', async () => {
    const leader = await cluster.waitForMetaLeader(10_000);
    const node = cluster.node(cluster.servers.findIndex((s) => s.name === leader));
    try {
      await node.kill();
      const next = await waitFor(
        async () => {
          const l = await cluster.metaLeader();
          return l !== undefined && l !== leader ? l : undefined;
        },
        { timeoutMs: 20_000, message: 'new meta leader' },
      );
      expect(next).not.toBe(leader);
    } finally {
      await node.start();
    }
    // start() resolved only after the node rejoined: it agrees with the others.
    const agreed = await cluster.waitForMetaLeader(1_000);
    expect((await jsz(node)).meta_cluster?.leader).toBe(agreed);
  });

  it('restarts the whole cluster on the same ports with its streams intact', async () => {
    const urls = [...cluster.urls];
    const pids = cluster.servers.map((s) => s.pid);
    await cluster.restart();
    expect(cluster.urls).toEqual(urls);
    for (const pid of pids) await expectGone(pid, 1_000);
    expect(cluster.servers.every((s) => s.running)).toBe(true);
    const conn = nc ?? (await connect({ servers: urls }));
    // Right after a full restart the client is still reconnecting and the meta group may be
    // electing: any JetStream API call (even the manager's account check) can time out once.
    const info = await waitFor(
      async () => {
        try {
          return await (await jetstreamManager(conn)).streams.info('ORDERS');
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 20_000, message: 'ORDERS info after full restart' },
    );
    expect(info?.state.messages).toBe(10);
  });

  it('restarts the cluster with empty stores: the same ports, a new meta group, no streams', async () => {
    const urls = [...cluster.urls];
    await cluster.restart({ emptyStores: true });
    expect(cluster.urls).toEqual(urls);
    const conn = nc ?? (await connect({ servers: urls }));
    const names = await waitFor(
      async () => {
        try {
          return await (await jetstreamManager(conn)).streams.names().next();
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 20_000, message: 'stream names after the empty restart' },
    );
    expect(names).toEqual([]);
  });
});
