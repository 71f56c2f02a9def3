/**
 * Who is who in a bench run. Displays are grouped `fanout` to a station and `stationsPerStore`
 * stations to a store; orders go round-robin to the groups, so every display sees the same
 * order rate and an order is delivered to exactly the displays of its group:
 *
 *   display i → group ⌊i / fanout⌋ → store `<run>-s⌊group / stationsPerStore⌋`, station `k<group mod stationsPerStore>`
 *   order n   → group n mod groups
 */

export interface Fleet {
  /** Prefix of every id of the run (a NATS subject token). */
  runId: string;
  displays: number;
  fanout: number;
  stationsPerStore: number;
}

export interface Placement {
  displayId: string;
  storeId: string;
  station: string;
}

export function groupCount(fleet: Fleet): number {
  return Math.ceil(fleet.displays / fleet.fanout);
}

export function groupOfDisplay(fleet: Fleet, slot: number): number {
  return Math.floor(slot / fleet.fanout);
}

/** Display slots [first, end) of a group. */
export function displaysOfGroup(fleet: Fleet, group: number): { first: number; end: number } {
  const first = group * fleet.fanout;
  return { first, end: Math.min(fleet.displays, first + fleet.fanout) };
}

export function groupPlacement(fleet: Fleet, group: number): { storeId: string; station: string } {
  return { storeId: `${fleet.runId}-s${Math.floor(group / fleet.stationsPerStore)}`, station: `k${group % fleet.stationsPerStore}` };
}

export function displayPlacement(fleet: Fleet, slot: number): Placement {
  return { displayId: `${fleet.runId}-d${slot}`, ...groupPlacement(fleet, groupOfDisplay(fleet, slot)) };
}

export function orderGroup(fleet: Fleet, n: number): number {
  return n % groupCount(fleet);
}

export function orderId(runId: string, n: number): string {
  return `${runId}-o${n}`;
}

/** The order number of one of this run's order ids, or undefined for anybody else's. */
export function orderNumber(runId: string, id: string): number | undefined {
  const prefix = `${runId}-o`;
  if (!id.startsWith(prefix)) return undefined;
  const n = Number(id.slice(prefix.length));
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** A fresh run id: `bench-<base36 time>-<random>`; short, sortable, unique per run. */
export function newRunId(now: number = Date.now()): string {
  return `bench-${now.toString(36)}-${Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0')}`;
}

/** Body of `POST /v1/orders` for order n. */
export function orderBody(fleet: Fleet, n: number, createdAt: Date): Record<string, unknown> {
  return {
    orderId: orderId(fleet.runId, n),
    ...groupPlacement(fleet, orderGroup(fleet, n)),
    items: [
      { name: 'Burger', qty: 1 },
      { name: 'Fries', qty: 2 },
    ],
    createdAt: createdAt.toISOString(),
  };
}
