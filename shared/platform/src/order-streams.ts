/**
 * The order partition streams (ADR 0003). Orders are spread over `ORDERS_P<i>` streams by the
 * virtual partition in their subject (`orders.<vp>.…`, contracts `orderPartition`); each stream
 * owns whole vps through its `subjects` (`orders.<vp>.>`). The topology declares `vp mod P`, but
 * the map that counts is the one in the servers' stream configs: during a repartition vps move
 * one batch at a time. So services never compute a stream from P — they ask the server
 * (`orderStreamFor`, `createOrderStreamLocator`), and a vp move needs no service configuration.
 */
import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import {
  ORDER_VIRTUAL_PARTITIONS,
  ORDERS_SUBJECT_PREFIX,
  orderPartition,
  orderPartitionSubject,
  parseOrderPartitionSubject,
} from '@orderwire/contracts';
import { PLATFORM_ERRORS } from './errors.js';

/** Name prefix of every order partition stream: `ORDERS_P0`, `ORDERS_P1`, … */
export const ORDER_STREAM_PREFIX = 'ORDERS_P';
/**
 * The single pre-partition stream (`orders.>`, subjects without the vp token). Found only on
 * systems created before ADR 0003 until `orderwire-auth topology repartition` has adopted and
 * drained it; nothing new is ever written to it.
 */
export const LEGACY_ORDERS_STREAM = 'ORDERS';
/**
 * The subject a retired legacy `ORDERS` stream is moved to: it captures nothing anybody publishes
 * (`ow.retired.*` is no service's subject), so the stream keeps its messages and consumers until
 * they are drained, and no longer overlaps the partition streams.
 */
export const RETIRED_ORDERS_SUBJECT = 'ow.retired.ORDERS';

const ORDER_STREAM_RE = /^ORDERS_P(0|[1-9][0-9]{0,2})$/;

/** `ORDERS_P<index>` */
export function orderStreamName(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= ORDER_VIRTUAL_PARTITIONS) {
    throw new RangeError(`order stream index ${index} is not in 0..${ORDER_VIRTUAL_PARTITIONS - 1}`);
  }
  return `${ORDER_STREAM_PREFIX}${index}`;
}

/** The index of an order partition stream name; undefined for any other name (including legacy `ORDERS`). */
export function parseOrderStreamName(name: string): number | undefined {
  const m = ORDER_STREAM_RE.exec(name);
  if (m === null) return undefined;
  const i = Number(m[1]);
  return i < ORDER_VIRTUAL_PARTITIONS ? i : undefined;
}

/** A stream that holds orders: a partition stream, or the legacy `ORDERS` while it is drained. */
export function isOrderStream(name: string): boolean {
  return name === LEGACY_ORDERS_STREAM || parseOrderStreamName(name) !== undefined;
}

/** Partition counts the topology accepts: powers of two up to V, so doubling P moves exactly half the vps. */
export function isValidPartitionCount(p: number): boolean {
  return Number.isInteger(p) && p >= 1 && p <= ORDER_VIRTUAL_PARTITIONS && (p & (p - 1)) === 0;
}

/** The declared owner of a vp with P streams: `ORDERS_P<vp mod P>`. */
export function declaredOrderStream(vp: number, partitions: number): string {
  return orderStreamName(vp % partitions);
}

/** The vps the declaration gives stream `index` of P. */
export function declaredPartitionVps(index: number, partitions: number): number[] {
  const vps: number[] = [];
  for (let vp = index; vp < ORDER_VIRTUAL_PARTITIONS; vp += partitions) vps.push(vp);
  return vps;
}

/** Every name a partition stream can have (`ORDERS_P0`…`ORDERS_P255`) and the legacy one: what permissions grant. */
export function allOrderStreamNames(): string[] {
  return [LEGACY_ORDERS_STREAM, ...Array.from({ length: ORDER_VIRTUAL_PARTITIONS }, (_, i) => orderStreamName(i))];
}

/** Which stream owns which vp, as the server's stream configs say. */
export interface OrderStreamAssignment {
  /** Partition streams present, by index, each with the vps its subjects own (ascending). */
  streams: Map<string, number[]>;
  /** `owner[vp]`: the stream capturing `orders.<vp>.>`, undefined while none does (mid-move). */
  owner: (string | undefined)[];
  /** The legacy `ORDERS` stream, when it still exists. */
  legacy?: StreamInfo;
  /** Partition-stream subjects that are not a whole vp (`orders.<vp>.>`); none are ever declared. */
  foreign: { stream: string; subject: string }[];
}

/**
 * Reads the vp → stream map from the server (one paged STREAM.LIST with a subject filter).
 * @throws whatever the JetStream API throws (callers map it to their unavailability error)
 */
export async function readOrderStreamAssignment(jsm: JetStreamManager): Promise<OrderStreamAssignment> {
  const out: OrderStreamAssignment = { streams: new Map(), owner: new Array<string | undefined>(ORDER_VIRTUAL_PARTITIONS).fill(undefined), foreign: [] };
  const found: StreamInfo[] = [];
  for await (const si of jsm.streams.list(`${ORDERS_SUBJECT_PREFIX}.>`)) found.push(si);
  // The legacy stream moved to its retired subject no longer matches the filter; look it up by name.
  if (!found.some((s) => s.config.name === LEGACY_ORDERS_STREAM)) {
    for await (const si of jsm.streams.list(RETIRED_ORDERS_SUBJECT)) if (si.config.name === LEGACY_ORDERS_STREAM) found.push(si);
  }
  for (const si of found.sort((a, b) => (parseOrderStreamName(a.config.name) ?? -1) - (parseOrderStreamName(b.config.name) ?? -1))) {
    const name = si.config.name;
    if (name === LEGACY_ORDERS_STREAM) {
      out.legacy = si;
      continue;
    }
    if (parseOrderStreamName(name) === undefined) continue;
    const vps: number[] = [];
    for (const subject of si.config.subjects ?? []) {
      // A stream that lost all its vps to a repartition is parked on `ow.retired.<name>`.
      if (!subject.startsWith(`${ORDERS_SUBJECT_PREFIX}.`)) continue;
      const vp = parseOrderPartitionSubject(subject);
      if (vp === undefined) out.foreign.push({ stream: name, subject });
      else {
        vps.push(vp);
        out.owner[vp] = name;
      }
    }
    out.streams.set(name, vps.sort((a, b) => a - b));
  }
  return out;
}

/** The partition streams present on the server, in index order. */
export async function listOrderStreams(jsm: JetStreamManager): Promise<string[]> {
  return [...(await readOrderStreamAssignment(jsm)).streams.keys()];
}

/**
 * Does the legacy stream still capture order subjects (`orders.>`)? Then the partition streams
 * cannot exist next to it (JetStream refuses overlapping subjects) and it must be adopted.
 */
export function legacyCapturesOrders(legacy: StreamInfo | undefined): boolean {
  return (legacy?.config.subjects ?? []).some((s) => s === `${ORDERS_SUBJECT_PREFIX}.>` || s.startsWith(`${ORDERS_SUBJECT_PREFIX}.`));
}

/**
 * The stream that holds (tenant, store)'s orders now, asked of the server (STREAM.NAMES filtered by
 * the store's vp subject); undefined while no partition stream owns the vp (the moment of a move).
 */
export async function orderStreamFor(jsm: JetStreamManager, tenant: string, store: string): Promise<string | undefined> {
  const subject = orderPartitionSubject(orderPartition(tenant, store));
  for await (const name of jsm.streams.names(subject)) {
    if (parseOrderStreamName(name) !== undefined) return name;
  }
  return undefined;
}

/** How long a locator trusts its map before reading it again. @default 30 s */
export const DEFAULT_ORDER_STREAM_MAP_MAX_AGE_MS = 30_000;

export interface OrderStreamLocator {
  /**
   * The stream of (tenant, store), from a cached map read again when older than `maxAgeMs` or
   * when the vp has no owner in it.
   * @throws ORDERWIRE_ERR_TOPOLOGY_NO_ORDER_STREAM while no stream owns the vp (503: retry)
   */
  streamFor(tenant: string, store: string): Promise<string>;
  /** Every partition stream, from the same map. */
  streams(): Promise<string[]>;
  /** Forgets the map: the next call reads it again (after a lookup that contradicted it). */
  invalidate(): void;
}

/**
 * A cached `readOrderStreamAssignment`. Concurrent callers share one read. A stale map is
 * harmless where the caller checks what it finds (a consumer's metadata, a PubAck's stream) and
 * invalidates on a contradiction.
 */
export function createOrderStreamLocator(jsm: JetStreamManager, opts: { maxAgeMs?: number; now?: () => number } = {}): OrderStreamLocator {
  const maxAgeMs = opts.maxAgeMs ?? DEFAULT_ORDER_STREAM_MAP_MAX_AGE_MS;
  const now = opts.now ?? Date.now;
  let map: { at: number; assignment: OrderStreamAssignment } | undefined;
  let reading: Promise<OrderStreamAssignment> | undefined;

  async function read(): Promise<OrderStreamAssignment> {
    reading ??= readOrderStreamAssignment(jsm).then(
      (assignment) => {
        map = { at: now(), assignment };
        reading = undefined;
        return assignment;
      },
      (err: unknown) => {
        reading = undefined;
        throw err;
      },
    );
    return reading;
  }
  async function current(): Promise<OrderStreamAssignment> {
    if (map !== undefined && now() - map.at < maxAgeMs) return map.assignment;
    return read();
  }

  return {
    async streamFor(tenant, store) {
      const vp = orderPartition(tenant, store);
      let owner = (await current()).owner[vp];
      if (owner === undefined) owner = (await read()).owner[vp];
      if (owner === undefined) throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOPOLOGY_NO_ORDER_STREAM', { vp: String(vp) });
      return owner;
    },
    async streams() {
      return [...(await current()).streams.keys()];
    },
    invalidate() {
      map = undefined;
    },
  };
}
