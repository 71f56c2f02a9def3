/**
 * How many client messages nats-server handled per delivered order: `/varz` `in_msgs` (client →
 * server) and `out_msgs` (server → client) of every node, read when publishing starts and when the
 * drain ends. Each one is a wake-up of some process on both sides of a socket, which is what CPU
 * per order at low rates is made of (docs/benchmarks.md round 13, load-tests/tools/hop-cost.mjs).
 */

/** 2 s per monitoring request */
const VARZ_TIMEOUT_MS = 2_000;

export interface NatsMessageCounts {
  inMsgs: number;
  outMsgs: number;
}

export interface NatsMessagesPerDelivery {
  /** Messages clients sent to nats-server, per delivered order. */
  in: number;
  /** Messages nats-server sent to clients, per delivered order. */
  out: number;
}

/** Sums `in_msgs` / `out_msgs` over the nodes; undefined when any node does not answer. */
export async function readNatsMessageCounts(monitorUrls: readonly string[]): Promise<NatsMessageCounts | undefined> {
  if (monitorUrls.length === 0) return undefined;
  try {
    const counts = await Promise.all(
      monitorUrls.map(async (url) => {
        const res = await fetch(`${url}/varz`, { signal: AbortSignal.timeout(VARZ_TIMEOUT_MS) });
        if (!res.ok) throw new Error(`${url}/varz: ${res.status}`);
        const v = (await res.json()) as { in_msgs?: unknown; out_msgs?: unknown };
        if (typeof v.in_msgs !== 'number' || typeof v.out_msgs !== 'number') throw new Error(`${url}/varz: no message counters`);
        return { inMsgs: v.in_msgs, outMsgs: v.out_msgs };
      }),
    );
    return counts.reduce((a, b) => ({ inMsgs: a.inMsgs + b.inMsgs, outMsgs: a.outMsgs + b.outMsgs }));
  } catch {
    // A node down at that moment (the restart-nats fault): no figure rather than a wrong one.
    return undefined;
  }
}

/**
 * Messages per delivered order between two readings; undefined without both readings, without
 * deliveries, or when a counter went backwards (a node restarted in between and started from 0).
 */
export function natsMessagesPerDelivery(
  before: NatsMessageCounts | undefined,
  after: NatsMessageCounts | undefined,
  delivered: number,
): NatsMessagesPerDelivery | undefined {
  if (before === undefined || after === undefined || delivered <= 0) return undefined;
  const inMsgs = after.inMsgs - before.inMsgs;
  const outMsgs = after.outMsgs - before.outMsgs;
  if (inMsgs < 0 || outMsgs < 0) return undefined;
  return { in: inMsgs / delivered, out: outMsgs / delivered };
}
