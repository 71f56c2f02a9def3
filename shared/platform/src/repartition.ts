/**
 * Changing the number of order partition streams on a running system (ADR 0003, "Changing P
 * later"), and the first adoption of a legacy single `ORDERS` stream. Run by
 * `orderwire-auth topology repartition`; docs/topology.md#changing-the-partition-count.
 *
 * V is fixed, so a change of P is a set of vp moves; no subject or consumer filter changes.
 * For every target stream B and the vps S moving to it (from their current owners A):
 *   1. note where B's new messages will start (`last_seq + 1`; 1 for a stream not created yet);
 *   2. give every display mailbox on A whose store is in S a twin on B under the same name,
 *      starting at the sequence of step 1, and mark the pair (`retiringTo` on A's, `retiringFrom`
 *      on B's). A keeps the vps' stored messages; the edge binds a display to A's mailbox until
 *      it is drained and B owns the vp, then to B's, so a display's backlog keeps its order (the
 *      retiring mailbox). A new B is created first on a placeholder subject for this;
 *   3. remove S from each A's subjects, then add S to B — in that order, because JetStream
 *      refuses overlapping subjects. Between the two updates a publish to a vp of S finds no
 *      stream: ingest answers 503 and the caller retries (milliseconds);
 *   4. `finish`: delete every retiring mailbox that is drained (pending and in flight both 0) and
 *      unmark its twin. Mailboxes of displays that are offline stay until they come back and
 *      drain; run `finish` again later (it reports how many are left).
 * Every step is idempotent, so an interrupted run is finished by running it again.
 *
 * The first adoption: the legacy `ORDERS` captures `orders.>`, which overlaps every partition
 * stream, and its messages carry the pre-partition subjects. Its subjects move to a placeholder
 * that captures nothing (`RETIRED_ORDERS_SUBJECT`), the partition streams are created, and each
 * mailbox on it gets its partitioned twin (new-layout filters, from the first message) with the
 * same retiring mark. Publishes that still use the old layout must have stopped first (the old
 * ingest): see the docs for why that part is offline.
 */
import { DeliverPolicy, type ConsumerConfig, type ConsumerInfo, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import {
  DISPLAY_CONSUMER_METADATA,
  LEGACY_DISPLAY_CONSUMER_PREFIX,
  ORDER_VIRTUAL_PARTITIONS,
  displayFilterSubjects,
  orderPartition,
  orderPartitionSubject,
  parseLegacyOrderSubject,
} from '@orderwire/contracts';
import type { Logger } from 'pino';
import { PLATFORM_ERRORS } from './errors.js';
import { JS_API_CODES, isJetStreamApiError } from './jetstream.js';
import {
  LEGACY_ORDERS_STREAM,
  RETIRED_ORDERS_SUBJECT,
  declaredOrderStream,
  isValidPartitionCount,
  legacyCapturesOrders,
  parseOrderStreamName,
  readOrderStreamAssignment,
  type OrderStreamAssignment,
} from './order-streams.js';
import { displayConsumerOwner, orderStreamDeclarationFor, type TopologyOptions } from './topology.js';

/** Subject a partition stream that lost all its vps is parked on (a stream needs a subject). */
export function retiredStreamSubject(stream: string): string {
  return `ow.retired.${stream}`;
}

export interface RepartitionOptions {
  /** The new partition count P (a power of two up to 256). */
  partitions: number;
  /** The rest of the topology settings (limits of new streams), as `topology apply` has them. */
  topology?: Omit<TopologyOptions, 'orderPartitions' | 'streams' | 'buckets' | 'logger'>;
  logger?: Logger;
  /** Plan only: report the moves, change nothing. */
  dryRun?: boolean;
}

export interface RepartitionMove {
  /** Target stream. */
  to: string;
  /** vps moving to it, and the streams they come from (`ORDERS` for the legacy stream). */
  vps: number[];
  from: string[];
  /** First sequence of the target that belongs to the moved vps. */
  startSeq?: number;
  /** Display mailboxes given a twin on the target. */
  mailboxes?: number;
}

export interface RepartitionResult {
  partitions: number;
  /** The legacy `ORDERS` stream was adopted (moved to its placeholder subject). */
  legacyAdopted: boolean;
  moves: RepartitionMove[];
}

export interface FinishResult {
  /** Drained retiring mailboxes deleted now. */
  retired: number;
  /** Retiring mailboxes with messages left (their displays are offline or still draining). */
  remaining: { stream: string; consumer: string; pending: number; ackPending: number }[];
}

function failed(name: string, err: unknown): Error {
  const reason = err instanceof Error ? err.message : String(err);
  return PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOPOLOGY_FAILED', { kind: 'stream', name, reason }, { cause: err });
}

async function consumers(jsm: JetStreamManager, stream: string): Promise<ConsumerInfo[]> {
  const out: ConsumerInfo[] = [];
  for await (const ci of jsm.consumers.list(stream)) out.push(ci);
  return out;
}

async function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (isJetStreamApiError(err, JS_API_CODES.ConsumerNotFound) || isJetStreamApiError(err, JS_API_CODES.StreamNotFound)) return undefined;
    throw err;
  }
}

function filtersOf(cfg: ConsumerConfig): string[] {
  return cfg.filter_subjects ?? (cfg.filter_subject === undefined ? [] : [cfg.filter_subject]);
}

/** The (tenant, store) whose vp a mailbox follows, from its owner metadata (only ours are moved). */
function mailboxStore(info: ConsumerInfo): { tenant: string; displayId: string; store: string } | undefined {
  const owner = displayConsumerOwner(info);
  if (owner?.store === undefined) return undefined;
  return { tenant: owner.tenant, displayId: owner.displayId, store: owner.store };
}

/** The twin of `old` on `stream`: same name, limits and owner, new-layout filters, from `startSeq`. */
function twinConfig(old: ConsumerInfo, owner: { tenant: string; displayId: string; store: string }, from: string, startSeq: number, legacy: boolean): ConsumerConfig {
  const oldFilters = filtersOf(old.config);
  let filters = oldFilters;
  if (legacy) {
    // The legacy layout names the same stations and display; rebuild them with the vp token.
    const stations: string[] = [];
    for (const s of oldFilters) {
      const p = parseLegacyOrderSubject(s);
      if (p?.kind === 'station') stations.push(p.station);
    }
    filters = displayFilterSubjects(owner.tenant, owner.store, owner.displayId, stations);
  }
  const metadata: Record<string, string> = { ...(old.config.metadata ?? {}), [DISPLAY_CONSUMER_METADATA.retiringFrom]: from };
  delete metadata[DISPLAY_CONSUMER_METADATA.retiringTo];
  const cfg = { ...old.config } as ConsumerConfig & Record<string, unknown>;
  // Server-set fields of the old consumer that a create must not carry.
  for (const f of ['opt_start_time', 'filter_subject', 'name']) delete cfg[f];
  return {
    ...cfg,
    durable_name: old.name,
    filter_subjects: filters,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: startSeq,
    metadata,
  };
}

/** Plans the vp moves from the server's assignment to `vp mod P`. */
function planMoves(a: OrderStreamAssignment, partitions: number, legacy: boolean): RepartitionMove[] {
  const byTarget = new Map<string, RepartitionMove>();
  for (let vp = 0; vp < ORDER_VIRTUAL_PARTITIONS; vp++) {
    const to = declaredOrderStream(vp, partitions);
    const owner = a.owner[vp];
    if (owner === to) continue;
    let m = byTarget.get(to);
    if (m === undefined) byTarget.set(to, (m = { to, vps: [], from: [] }));
    m.vps.push(vp);
    // An unowned vp (an interrupted move, or the legacy stream's) comes from nowhere new.
    const from = owner ?? (legacy ? LEGACY_ORDERS_STREAM : undefined);
    if (from !== undefined && !m.from.includes(from)) m.from.push(from);
  }
  return [...byTarget.values()].sort((x, y) => parseOrderStreamName(x.to)! - parseOrderStreamName(y.to)!);
}

/**
 * Moves the vps of the order streams to `vp mod P` (creating streams as needed), adopting a
 * legacy `ORDERS` first if there is one, and gives the moved displays' mailboxes their twins.
 * Then run `finishRepartition` (now and again later) to retire the drained old mailboxes.
 * @throws ORDERWIRE_ERR_TOPOLOGY_FAILED (P invalid, legacy-named mailboxes left, a JetStream call failed)
 */
export async function repartitionOrderStreams(jsm: JetStreamManager, opts: RepartitionOptions): Promise<RepartitionResult> {
  const P = opts.partitions;
  const log = opts.logger;
  if (!isValidPartitionCount(P)) throw failed('ORDERS', new Error(`partitions must be a power of two from 1 to 256, got ${P}`));
  const decl = (index: number): Partial<StreamConfig> => orderStreamDeclarationFor(index, { ...opts.topology, orderPartitions: P });

  let assignment = await readOrderStreamAssignment(jsm).catch((err: unknown) => {
    throw failed('ORDERS', err);
  });
  const legacyInfo = assignment.legacy;
  const legacyActive = legacyCapturesOrders(legacyInfo);
  // The legacy stream's mailboxes (still to be twinned) — also on a resumed run, when it is already parked.
  const legacyMailboxes = legacyInfo === undefined ? [] : (await consumers(jsm, LEGACY_ORDERS_STREAM)).filter((c) => mailboxStore(c) !== undefined);
  if (legacyInfo !== undefined) {
    const named = (await consumers(jsm, LEGACY_ORDERS_STREAM)).filter((c) => c.name.startsWith(LEGACY_DISPLAY_CONSUMER_PREFIX));
    if (named.length > 0) {
      throw failed(
        LEGACY_ORDERS_STREAM,
        new Error(`${named.length} mailbox(es) still have legacy names (${named[0]!.name}, …): run \`orderwire-auth consumers migrate --force\` first`),
      );
    }
  }
  const moves = planMoves(assignment, P, legacyActive);
  // A mailbox that is itself still retiring from an earlier move cannot move again: the edge
  // follows one step (old → new), and two would let the newest overtake the oldest backlog.
  const chained: string[] = [];
  for (const move of moves) {
    const moving = new Set(move.vps);
    for (const from of move.from.filter((f) => f !== LEGACY_ORDERS_STREAM)) {
      for (const c of await consumers(jsm, from)) {
        const owner = mailboxStore(c);
        if (owner === undefined || !moving.has(orderPartition(owner.tenant, owner.store))) continue;
        if (c.config.metadata?.[DISPLAY_CONSUMER_METADATA.retiringFrom] !== undefined) chained.push(`${from}/${c.name}`);
      }
    }
  }
  if (chained.length > 0) {
    throw failed(
      'ORDERS',
      new Error(`${chained.length} mailbox(es) still retiring from the last repartition (${chained[0]}, …): run \`topology repartition --finish\` until none are left`),
    );
  }
  const result: RepartitionResult = { partitions: P, legacyAdopted: legacyActive, moves };
  if (opts.dryRun === true) return result;

  if (legacyActive) {
    // Step 0: park the legacy stream on a subject nobody publishes to. It keeps its messages and
    // mailboxes; its doorbells go (nothing new arrives there).
    const cfg = { ...legacyInfo!.config, subjects: [RETIRED_ORDERS_SUBJECT] } as StreamConfig & { republish?: unknown };
    delete cfg.republish;
    await jsm.streams.update(LEGACY_ORDERS_STREAM, cfg).catch((err: unknown) => {
      throw failed(LEGACY_ORDERS_STREAM, err);
    });
    log?.warn({ stream: LEGACY_ORDERS_STREAM, subject: RETIRED_ORDERS_SUBJECT }, 'legacy ORDERS parked; its mailboxes retire into the partition streams');
  }

  for (const move of moves) {
    let target = await jsm.streams.info(move.to).catch((err: unknown) => {
      if (isJetStreamApiError(err, JS_API_CODES.StreamNotFound)) return undefined;
      throw failed(move.to, err);
    });
    if (target === undefined) {
      // Created first on a placeholder subject, so the twins exist before any moved order lands.
      target = await jsm.streams.add({ ...decl(parseOrderStreamName(move.to)!), subjects: [retiredStreamSubject(move.to)] } as StreamConfig).catch((err: unknown) => {
        throw failed(move.to, err);
      });
    }
    // 1. Where the moved vps' messages will start on the target.
    const startSeq = target.state.last_seq + 1;
    move.startSeq = startSeq;
    const moving = new Set(move.vps);
    // 2. Twins of the moved displays' mailboxes, and the retiring marks — before the subjects move,
    //    so a session on an old mailbox learns of it from the first order that goes elsewhere.
    let twinned = 0;
    for (const from of move.from) {
      const legacy = from === LEGACY_ORDERS_STREAM;
      const list = legacy ? legacyMailboxes : await consumers(jsm, from);
      for (const old of list) {
        const owner = mailboxStore(old);
        if (owner === undefined || !moving.has(orderPartition(owner.tenant, owner.store))) continue;
        if (await twin(jsm, old, owner, from, move.to, startSeq, legacy)) twinned++;
      }
    }
    move.mailboxes = twinned;
    // 3. Off the old owners first, then onto the target (JetStream refuses overlapping subjects).
    for (const from of move.from) {
      if (from === LEGACY_ORDERS_STREAM) continue;
      const cur = (await jsm.streams.info(from)).config;
      const left = (cur.subjects ?? []).filter((s) => !moving.has(parseOrderPartitionVp(s)));
      await jsm.streams.update(from, { ...cur, subjects: left.length > 0 ? left : [retiredStreamSubject(from)] }).catch((err: unknown) => {
        throw failed(from, err);
      });
    }
    const have = (target.config.subjects ?? []).filter((s) => s.startsWith('orders.'));
    await jsm.streams.update(move.to, { ...target.config, subjects: [...new Set([...have, ...move.vps.map(orderPartitionSubject)])] }).catch((err: unknown) => {
      throw failed(move.to, err);
    });
    log?.info({ to: move.to, from: move.from, vps: move.vps.length, startSeq, mailboxes: twinned }, 'vps moved');
  }
  // Resumed after the moves but before every legacy mailbox had its twin.
  if (!legacyActive && legacyMailboxes.length > 0) {
    assignment = await readOrderStreamAssignment(jsm);
    for (const old of legacyMailboxes) {
      const owner = mailboxStore(old)!;
      const to = assignment.owner[orderPartition(owner.tenant, owner.store)];
      if (to !== undefined && old.config.metadata?.[DISPLAY_CONSUMER_METADATA.retiringTo] === undefined) await twin(jsm, old, owner, LEGACY_ORDERS_STREAM, to, 1, true);
    }
  }
  return result;
}

function parseOrderPartitionVp(subject: string): number {
  const t = subject.split('.');
  return t.length === 3 && t[0] === 'orders' && t[2] === '>' ? Number(t[1]) : -1;
}

/** Creates `old`'s twin on `to` (unless it exists) and marks `old` as retiring to it. True when created. */
async function twin(
  jsm: JetStreamManager,
  old: ConsumerInfo,
  owner: { tenant: string; displayId: string; store: string },
  from: string,
  to: string,
  startSeq: number,
  legacy: boolean,
): Promise<boolean> {
  let created = false;
  const existing = await consumerInfo(jsm, to, old.name);
  if (existing === undefined) {
    await jsm.consumers.add(to, twinConfig(old, owner, from, startSeq, legacy)).catch((err: unknown) => {
      throw failed(to, err);
    });
    created = true;
  }
  if (old.config.metadata?.[DISPLAY_CONSUMER_METADATA.retiringTo] !== to) {
    const metadata = { ...(old.config.metadata ?? {}), [DISPLAY_CONSUMER_METADATA.retiringTo]: to };
    await jsm.consumers.update(from, old.name, { metadata }).catch((err: unknown) => {
      throw failed(from, err);
    });
  }
  return created;
}

/**
 * Deletes every retiring mailbox that is drained and unmarks its twin; reports those left.
 * Safe to run at any time and repeatedly (a CronJob, or by hand after a repartition).
 */
export async function finishRepartition(jsm: JetStreamManager, opts: { logger?: Logger } = {}): Promise<FinishResult> {
  const a = await readOrderStreamAssignment(jsm);
  const streams = [...a.streams.keys(), ...(a.legacy === undefined ? [] : [LEGACY_ORDERS_STREAM])];
  const out: FinishResult = { retired: 0, remaining: [] };
  for (const stream of streams) {
    for (const c of await consumers(jsm, stream)) {
      const to = c.config.metadata?.[DISPLAY_CONSUMER_METADATA.retiringTo];
      if (to === undefined) continue;
      if (c.num_pending > 0 || c.num_ack_pending > 0) {
        out.remaining.push({ stream, consumer: c.name, pending: c.num_pending, ackPending: c.num_ack_pending });
        continue;
      }
      await jsm.consumers.delete(stream, c.name);
      out.retired++;
      const successor = await consumerInfo(jsm, to, c.name);
      if (successor?.config.metadata?.[DISPLAY_CONSUMER_METADATA.retiringFrom] === stream) {
        const metadata = { ...successor.config.metadata };
        delete metadata[DISPLAY_CONSUMER_METADATA.retiringFrom];
        await jsm.consumers.update(to, c.name, { metadata });
      }
    }
  }
  opts.logger?.info({ retired: out.retired, remaining: out.remaining.length }, 'repartition: retiring mailboxes checked');
  return out;
}

