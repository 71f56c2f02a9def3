/**
 * What an operator can do with entries — inspect, replay, discard — used by the HTTP routes and
 * the CLI alike, so both follow the same rules and leave the same audit trail.
 *
 * Replay: the original message (headers and payload, as captured) is published to the display's
 * own subject `orders.<tenant>.<store>.display.<displayId>`, taken from the display's consumer
 * (so a display that moved store still gets it), with `Nats-Msg-Id: replay:<entryId>:<n>`,
 * `Ow-Replay-Of: <original ORDERS sequence>` and `Ow-Dlq-Id: <entryId>`. Only that display's
 * consumer filters that subject. The publish comes first and the entry update second: two
 * concurrent replays compute the same `n`, JetStream drops the second publish as a duplicate, and
 * the loser of the entry's compare-and-set sees `replayCount >= n` and reports the replay done.
 */
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { JetStreamClient } from '@nats-io/jetstream';
import { HEADERS } from '@orderwire/contracts';
import { LEGACY_ORDERS_STREAM, isOrderwireError, type Logger } from '@orderwire/platform';
import type { AuditLog } from './audit.js';
import { truncateReason, type Actor, type DlqEntry, type EntryStatus, type EntrySummary, type ReplayRecord, summarize } from './entry.js';
import type { EntryIndex } from './entry-index.js';
import { unavailable, type EntryStore } from './entry-store.js';
import { DLQ_ERRORS } from './errors.js';
import type { DlqMetrics } from './metrics.js';
import { page, replaySelection, type EntryFilter, type Page, type PageRequest } from './query.js';
import type { ReceiptWriter } from './dead-letter-receipts.js';
import type { Resolver } from './resolve.js';

/** Statuses a replay starts from: `discarded` too, so a mistaken discard can be undone. */

/** Prefix of a replay's `Nats-Msg-Id`: `!replay:<entryId>:<n>`. */
export const REPLAY_MSG_ID_PREFIX = '!replay:';
export const REPLAYABLE: readonly EntryStatus[] = ['open', 'discarded'];

export interface ActionContext {
  actor: Actor;
  log: Logger;
  requestId?: string;
}

export interface ReplayInfo {
  n: number;
  subject: string;
  /** Order stream that stored the replayed copy. */
  stream: string;
  /** Sequence of the replayed copy in `stream`. */
  seq: number;
  msgId: string;
  /** True when this replay had already been published (a concurrent or repeated request). */
  duplicate: boolean;
}

export interface ReplayResult {
  entry: EntrySummary;
  replay: ReplayInfo;
}

export type BulkItemResult = 'would_replay' | 'replayed' | 'skipped' | 'failed' | 'not_attempted';

export interface BulkItem {
  id: string;
  storeId: string | null;
  displayId: string;
  orderId: string | null;
  /** Stream and sequence of the original. */
  stream: string;
  seq: number;
  status: EntryStatus;
  result: BulkItemResult;
  replayStream?: string;
  replaySeq?: number;
  error?: { code: string; message: string };
}

export interface BulkReplayResult {
  dryRun: boolean;
  /** Entries matching the filter. */
  matched: number;
  /** Entries this request selected (at most `max`), oldest original first. */
  selected: number;
  /** True when more entries matched than were selected: run again for the rest. */
  truncated: boolean;
  replayed: number;
  items: BulkItem[];
}

export interface DlqOperations {
  get(tenant: string, id: string): Promise<DlqEntry>;
  list(tenant: string, filter: EntryFilter, req: PageRequest): Promise<Page>;
  replay(tenant: string, id: string, ctx: ActionContext & { note?: string }): Promise<ReplayResult>;
  replayMany(tenant: string, filter: EntryFilter, ctx: ActionContext & { dryRun: boolean; max: number; note?: string }): Promise<BulkReplayResult>;
  discard(tenant: string, id: string, reason: string, ctx: ActionContext): Promise<EntrySummary>;
}

export interface DlqOperationsOptions {
  js: JetStreamClient;
  store: EntryStore;
  index: EntryIndex;
  resolver: Resolver;
  receipts: ReceiptWriter;
  audit: AuditLog;
  metrics: DlqMetrics;
  timeoutMs: number;
  readBarrierTimeoutMs: number;
}

function notFound(id: string): Error {
  return DLQ_ERRORS.create('ORDERWIRE_ERR_DLQ_ENTRY_NOT_FOUND', { id }, { details: { id } });
}

function invalidState(id: string, status: EntryStatus, action: string, allowed: readonly EntryStatus[]): Error {
  return DLQ_ERRORS.create(
    'ORDERWIRE_ERR_DLQ_INVALID_STATE',
    { id, status, action, allowed: allowed.join(' or ') },
    { details: { id, status, allowed } },
  );
}

/** Headers of the replayed copy: the original's, minus JetStream's own, plus the replay links. */
function replayHeaders(e: DlqEntry) {
  const h = natsHeaders();
  for (const [k, values] of Object.entries(e.original?.headers ?? {})) {
    // Nats-Msg-Id would make JetStream drop the copy as a duplicate of the original; Nats-Expected-*
    // would fail it. Our own links are set below.
    if (k.toLowerCase().startsWith('nats-')) continue;
    if (k.toLowerCase() === HEADERS.replayOf.toLowerCase() || k.toLowerCase() === HEADERS.dlqId.toLowerCase()) continue;
    for (const v of values) h.append(k, v);
  }
  // `<stream>:<seq>`: a sequence names the original only with its stream.
  // Entries recorded before partitioning name no stream: theirs was the legacy ORDERS.
  h.set(HEADERS.replayOf, `${e.stream ?? LEGACY_ORDERS_STREAM}:${e.seq}`);
  h.set(HEADERS.dlqId, e.id);
  return h;
}

export function createDlqOperations(options: DlqOperationsOptions): DlqOperations {
  const { js, store, index, resolver, receipts, audit, metrics } = options;

  async function get(tenant: string, id: string): Promise<DlqEntry> {
    const cur = await store.get(tenant, id);
    if (cur === undefined) throw notFound(id);
    return cur.entry;
  }

  async function replay(tenant: string, id: string, ctx: ActionContext & { note?: string }): Promise<ReplayResult> {
    const e = await get(tenant, id);
    const log = ctx.log.child({ ...entryBinding(ctx.log, id), displayId: e.displayId, orderId: e.orderId, traceId: e.traceId });
    if (!REPLAYABLE.includes(e.status)) throw invalidState(id, e.status, 'replay', REPLAYABLE);
    if (e.original === null) {
      throw DLQ_ERRORS.create('ORDERWIRE_ERR_DLQ_ORIGINAL_EXPIRED', { id }, { details: { id } });
    }
    let mailbox;
    try {
      mailbox = await resolver.displayMailbox(tenant, e.displayId);
    } catch (err) {
      throw unavailable('read_failed', err);
    }
    if (mailbox === undefined) {
      throw DLQ_ERRORS.create(
        'ORDERWIRE_ERR_DLQ_DISPLAY_GONE',
        { displayId: e.displayId, consumer: e.consumer },
        { details: { displayId: e.displayId } },
      );
    }
    const n = e.replayCount + 1;
    // `!` cannot begin ingest's message ids (`<tenant>:<key>`, `<tenant>/<display>:<key>`, ids are
    // [A-Za-z0-9_-]), so no tenant's Idempotency-Key can pre-empt a replay in the duplicate window.
    const msgId = `${REPLAY_MSG_ID_PREFIX}${id}:${n}`;
    let ack;
    try {
      ack = await js.publish(mailbox.subject, Buffer.from(e.original.data, 'base64'), {
        msgID: msgId,
        headers: replayHeaders(e),
        timeout: options.timeoutMs,
      });
    } catch (err) {
      throw unavailable('publish_failed', err);
    }
    const now = new Date().toISOString();
    const record: ReplayRecord = { n, at: now, by: ctx.actor, subject: mailbox.subject, stream: ack.stream, seq: ack.seq, msgId };
    if (ctx.note !== undefined) record.note = truncateReason(ctx.note);
    const outcome = await store.mutate(tenant, id, (cur) => {
      if (cur === undefined) throw notFound(id);
      if (cur.entry.replayCount >= n) return { result: { entry: cur.entry, duplicate: true } };
      const next: DlqEntry = { ...cur.entry, status: 'replayed', statusChangedAt: now, updatedAt: now, replayCount: n, lastReplay: record };
      return { write: next, result: { entry: next, duplicate: false } };
    });
    const { entry, duplicate } = outcome.result;
    const info: ReplayInfo = { n, subject: mailbox.subject, stream: ack.stream, seq: ack.seq, msgId, duplicate: duplicate || ack.duplicate };
    if (duplicate) {
      log.info({ replaySeq: ack.seq }, 'replay already recorded by a concurrent request');
      return { entry: summarize(entry), replay: info };
    }
    metrics.replayed.inc();
    log.info({ replaySeq: ack.seq, subject: mailbox.subject, n, actor: ctx.actor }, 'dlq entry replayed');
    const fields = {
      tenant,
      actor: ctx.actor,
      entryId: id,
      orderId: e.orderId,
      displayId: e.displayId,
      storeId: mailbox.storeId,
      subject: mailbox.subject,
      replaySeq: ack.seq,
      replayN: n,
      ...(ctx.note === undefined ? {} : { reason: truncateReason(ctx.note) }),
      ...(ctx.requestId === undefined ? {} : { requestId: ctx.requestId }),
    };
    await audit.record('dlq_replayed', fields, `${id}:${n}`);
    if (e.orderId !== null) {
      try {
        await receipts.write(
          { tenant, orderId: e.orderId, displayId: e.displayId, status: 'replayed', stream: ack.stream, seq: ack.seq, at: Date.parse(now) },
          log,
        );
      } catch (err) {
        // The replay is out and recorded; the receipt only informs ingest's status view.
        metrics.receipts.inc({ status: 'replayed', result: 'failed' });
        log.warn({ err }, 'replayed receipt not written');
      }
    }
    return { entry: summarize(entry), replay: info };
  }

  return {
    get,

    async list(tenant, filter, req) {
      await index.barrier(tenant, options.readBarrierTimeoutMs);
      return page(tenant, index.entries(tenant), filter, req);
    },

    replay,

    async replayMany(tenant, filter, ctx) {
      await index.barrier(tenant, options.readBarrierTimeoutMs);
      const effective: EntryFilter = { status: 'open', ...filter };
      const { selected, matched } = replaySelection(index.entries(tenant), effective, ctx.max);
      const items: BulkItem[] = selected.map((s) => ({
        id: s.id,
        storeId: s.storeId,
        displayId: s.displayId,
        orderId: s.orderId,
        stream: s.stream,
        seq: s.seq,
        status: s.status,
        result: ctx.dryRun ? 'would_replay' : 'not_attempted',
      }));
      let replayed = 0;
      if (!ctx.dryRun) {
        for (const item of items) {
          try {
            const r = await replay(tenant, item.id, ctx);
            item.result = 'replayed';
            item.status = r.entry.status;
            item.replayStream = r.replay.stream;
            item.replaySeq = r.replay.seq;
            replayed++;
          } catch (err) {
            if (!isOrderwireError(err)) throw err;
            item.result = err.statusCode === 409 || err.statusCode === 404 ? 'skipped' : 'failed';
            item.error = { code: err.code, message: err.message };
            // The broker is unreachable: the rest would fail the same way; leave them for a rerun.
            if (err.statusCode === 503) break;
          }
        }
      }
      return { dryRun: ctx.dryRun, matched, selected: items.length, truncated: matched > items.length, replayed, items };
    },

    async discard(tenant, id, reason, ctx) {
      const now = new Date().toISOString();
      const by = ctx.actor;
      const text = truncateReason(reason);
      const outcome = await store.mutate(tenant, id, (cur) => {
        if (cur === undefined) throw notFound(id);
        if (cur.entry.status !== 'open') throw invalidState(id, cur.entry.status, 'discard', ['open']);
        const next: DlqEntry = { ...cur.entry, status: 'discarded', statusChangedAt: now, updatedAt: now, discard: { at: now, by, reason: text } };
        return { write: next, result: next };
      });
      const e = outcome.result;
      metrics.discarded.inc();
      ctx.log.info({ ...entryBinding(ctx.log, id), displayId: e.displayId, orderId: e.orderId, traceId: e.traceId, actor: by }, 'dlq entry discarded');
      await audit.record(
        'dlq_discarded',
        {
          tenant,
          actor: by,
          entryId: id,
          orderId: e.orderId,
          displayId: e.displayId,
          storeId: e.storeId,
          reason: text,
          ...(ctx.requestId === undefined ? {} : { requestId: ctx.requestId }),
        },
        // One discard per open period: a reopened entry can be discarded again.
        `${id}:${e.failureCount}`,
      );
      return summarize(e);
    },
  };
}

/** HTTP callers' loggers already carry `entryId` (one key per line); the CLI's do not. */
function entryBinding(log: Logger, id: string): { entryId?: string } {
  return log.bindings().entryId === undefined ? { entryId: id } : {};
}
