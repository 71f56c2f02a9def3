/**
 * What the chaos cases do to a JetStream cluster from the outside, through the monitoring port
 * and signals only: find who leads the order streams and the meta group, pause and resume a
 * node, put it in lame-duck mode, and wait until the cluster is whole again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor, type NatsClusterHandle, type NatsServerHandle } from '@orderwire/test-harness';
import { BenchError } from '../errors.js';

/** 1 s per monitoring request */
const MONITOR_TIMEOUT_MS = 1_000;
/** 60 s for a cluster to be whole again after a fault */
export const CLUSTER_HEAL_TIMEOUT_MS = 60_000;

interface JszStreams {
  meta_cluster?: { leader?: string };
  account_details?: Array<{
    stream_detail?: Array<{
      name: string;
      cluster?: { leader?: string; replicas?: Array<{ name: string; current?: boolean; offline?: boolean; lag?: number }> };
      consumer_detail?: Array<{ name: string }>;
    }>;
  }>;
}

async function jsz(node: NatsServerHandle): Promise<JszStreams | undefined> {
  try {
    const res = await fetch(`${node.monitorUrl}/jsz?accounts=true&streams=true&consumers=true`, { signal: AbortSignal.timeout(MONITOR_TIMEOUT_MS) });
    if (res.status !== 200) return undefined;
    return (await res.json()) as JszStreams;
  } catch {
    return undefined;
  }
}

/** Streams of the cluster as the first answering running node (not `exclude`, e.g. a partitioned one) sees them. */
async function streams(
  cluster: NatsClusterHandle,
  exclude?: NatsServerHandle,
): Promise<NonNullable<NonNullable<JszStreams['account_details']>[number]['stream_detail']>> {
  for (const node of cluster.servers) {
    if (!node.running || node === exclude) continue;
    const j = await jsz(node);
    const details = (j?.account_details ?? []).flatMap((a) => a.stream_detail ?? []);
    if (details.length > 0) return details;
  }
  return [];
}

/**
 * The order streams: the streams holding these display consumers (one stream today; one per
 * partition once orders are partitioned), with their leaders. Found by consumer, so the suite
 * never names an order stream itself.
 */
export async function orderStreamLeaders(
  cluster: NatsClusterHandle,
  consumerNames: readonly string[],
  exclude?: NatsServerHandle,
): Promise<Map<string, string | undefined>> {
  const wanted = new Set(consumerNames);
  const out = new Map<string, string | undefined>();
  for (const s of await streams(cluster, exclude)) {
    if ((s.consumer_detail ?? []).some((c) => wanted.has(c.name))) out.set(s.name, s.cluster?.leader);
  }
  return out;
}

/** The node leading most order streams (the one to hurt). */
export async function orderLeaderNode(
  cluster: NatsClusterHandle,
  consumerNames: readonly string[],
  options: { exclude?: NatsServerHandle; timeoutMs?: number } = {},
): Promise<{ node: NatsServerHandle; streams: string[] }> {
  let found: { node: NatsServerHandle; streams: string[] } | undefined;
  await waitFor(
    async () => {
      const leaders = await orderStreamLeaders(cluster, consumerNames, options.exclude);
      const count = new Map<string, string[]>();
      for (const [stream, leader] of leaders) {
        if (leader !== undefined && leader !== '' && leader !== options.exclude?.name) count.set(leader, [...(count.get(leader) ?? []), stream]);
      }
      const best = [...count.entries()].sort((a, b) => b[1].length - a[1].length)[0];
      const node = best === undefined ? undefined : cluster.servers.find((n) => n.name === best[0] && n.running);
      if (node === undefined || best === undefined) return false;
      found = { node, streams: best[1] };
      return true;
    },
    { timeoutMs: options.timeoutMs ?? CLUSTER_HEAL_TIMEOUT_MS, intervalMs: 250, message: 'an elected leader of the order streams' },
  );
  if (found === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', 'no order stream leader');
  return found;
}

export async function metaLeaderNode(cluster: NatsClusterHandle): Promise<NatsServerHandle> {
  const name = await cluster.waitForMetaLeader(CLUSTER_HEAL_TIMEOUT_MS);
  const node = cluster.servers.find((n) => n.name === name);
  if (node === undefined) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', `meta leader ${name} is not a node of the cluster`);
  return node;
}

/**
 * Whole again: every node running and healthy (`/healthz`: JetStream current, every stream and
 * consumer it holds recovered and current), the meta group formed, and every stream led with
 * all of its replicas current.
 */
export async function waitClusterWhole(cluster: NatsClusterHandle, timeoutMs: number = CLUSTER_HEAL_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await cluster.waitForMetaLeader(timeoutMs);
  for (;;) {
    const detail = await wholeness(cluster);
    if (detail === undefined) return;
    if (Date.now() > deadline) throw new BenchError('ORDERWIRE_ERR_BENCH_FAULT', `cluster not whole again within ${timeoutMs} ms: ${detail}`);
    await sleep(250);
  }
}

/** Undefined when whole, else what is missing. A replica's `current` flag is not used: it can stay false for seconds on a loaded box although the group works (the harness says the same of the meta group). */
async function wholeness(cluster: NatsClusterHandle): Promise<string | undefined> {
  for (const node of cluster.servers) {
    if (!node.running) return `${node.name} not running`;
    const res = await fetch(`${node.monitorUrl}/healthz`, { signal: AbortSignal.timeout(MONITOR_TIMEOUT_MS) }).catch(() => undefined);
    if (res?.status !== 200) return `${node.name} /healthz ${res === undefined ? 'no answer' : `${res.status} ${(await res.text()).trim()}`}`;
  }
  for (const s of await streams(cluster)) {
    const offline = (s.cluster?.replicas ?? []).filter((r) => r.offline === true);
    if (s.cluster?.leader === undefined || s.cluster.leader === '' || offline.length > 0) {
      return `stream ${s.name}: leader ${s.cluster?.leader ?? '-'}, offline: ${offline.map((r) => r.name).join(', ')}`;
    }
  }
  return undefined;
}

/** SIGSTOP: the process keeps its sockets and state but answers nothing — Jepsen's process pause. */
export function pause(pid: number): void {
  process.kill(pid, 'SIGSTOP');
}

export function resume(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // Already gone: nothing to resume.
  }
}

/**
 * Lame-duck mode (SIGUSR2): the node stops accepting clients, moves its leaderships away and
 * exits after `lame_duck_duration`. Resolves once it has exited.
 */
export async function lameDuck(node: NatsServerHandle, timeoutMs: number): Promise<void> {
  process.kill(node.pid, 'SIGUSR2');
  await waitFor(() => !node.running, { timeoutMs, intervalMs: 100, message: `${node.name} to leave lame-duck mode and exit` });
}

/** Kills every node at once (as close to a power cut as processes get), then brings them back together. */
export async function killAllAndRestart(cluster: NatsClusterHandle, downMs: number): Promise<void> {
  await Promise.all(cluster.servers.map((n) => n.kill()));
  await sleep(downMs);
  await cluster.restart();
}

/** How each running node sees the given consumers (for a loss report): delivered, ack floor, pending. */
export async function consumerStates(cluster: NatsClusterHandle, consumerNames: readonly string[]): Promise<Record<string, unknown>> {
  const wanted = new Set(consumerNames);
  const out: Record<string, unknown> = {};
  for (const node of cluster.servers) {
    if (!node.running) continue;
    const j = await jsz(node);
    for (const s of (j?.account_details ?? []).flatMap((a) => a.stream_detail ?? [])) {
      for (const c of (s.consumer_detail ?? []) as Array<Record<string, unknown> & { name: string }>) {
        if (!wanted.has(c.name)) continue;
        const { name, delivered, ack_floor, num_ack_pending, num_redelivered, num_pending, num_waiting, cluster: cl } = c as Record<string, unknown>;
        out[`${node.name} ${s.name}/${String(name)}`] = { delivered, ack_floor, num_ack_pending, num_redelivered, num_pending, num_waiting, leader: (cl as { leader?: string } | undefined)?.leader };
      }
    }
  }
  return out;
}
