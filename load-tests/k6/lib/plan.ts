/**
 * Who is who in a k6 run: display ids, their store/station, and which station an order goes to.
 * Pure (no k6 imports), shared by the ingest and display scenarios so orders land on stations
 * that simulated displays watch. Several k6 instances can split one fleet with `offset`.
 *
 * Layout: displays are grouped `fanout` to a station, `stationsPerStore` stations to a store:
 * display i → group g = ⌊i / fanout⌋ → store `<run>-s⌊g / stationsPerStore⌋`, station `k<g mod stationsPerStore>`.
 * An order for group g is delivered to `fanout` displays.
 */

export interface FleetPlan {
  /** Prefix of every id of the run; letters, digits, `_`, `-` (a NATS subject token). */
  runId: string;
  displays: number;
  stationsPerStore: number;
  fanout: number;
}

export interface Placement {
  displayId: string;
  storeId: string;
  station: string;
}

const RUN_ID_RE = /^[A-Za-z0-9_-]{1,40}$/;

export function validatePlan(plan: FleetPlan): FleetPlan {
  if (!RUN_ID_RE.test(plan.runId)) throw new RangeError(`runId must match ${RUN_ID_RE.source}, got ${JSON.stringify(plan.runId)}`);
  for (const key of ['displays', 'stationsPerStore', 'fanout'] as const) {
    const v = plan[key];
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${key} must be a positive integer, got ${v}`);
  }
  return plan;
}

export function groupCount(plan: FleetPlan): number {
  return Math.ceil(plan.displays / plan.fanout);
}

export function groupPlacement(plan: FleetPlan, group: number): { storeId: string; station: string } {
  return {
    storeId: `${plan.runId}-s${Math.floor(group / plan.stationsPerStore)}`,
    station: `k${group % plan.stationsPerStore}`,
  };
}

export function displayPlacement(plan: FleetPlan, index: number): Placement {
  const group = Math.floor(index / plan.fanout);
  return { displayId: `${plan.runId}-d${index}`, ...groupPlacement(plan, group) };
}

/** Groups are visited round-robin so every display sees the same order rate. */
export function orderGroup(plan: FleetPlan, n: number): number {
  return n % groupCount(plan);
}

/** An order body for `POST /v1/orders` (the contract's `Order`, minimal). */
export function orderBody(plan: FleetPlan, orderId: string, group: number, createdAt: Date): Record<string, unknown> {
  const { storeId, station } = groupPlacement(plan, group);
  return {
    orderId,
    storeId,
    station,
    items: [
      { name: 'Burger', qty: 1 },
      { name: 'Fries', qty: 2 },
    ],
    createdAt: createdAt.toISOString(),
  };
}
