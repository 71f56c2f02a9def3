/**
 * The list view: an in-memory index of entry summaries, built from the DLQ stream by an ordered
 * consumer with `DeliverLastPerSubject` (the stream keeps one message per entry, its latest state)
 * and kept current by the same consumer, which goes on delivering every new write.
 *
 * Every replica holds the whole index, so lists never depend on which replica answers; the write
 * path never uses it (writes compare-and-set on the stream). What a list may miss is a write made
 * moments ago on ANOTHER replica; `barrier(tenant)` closes that gap: it asks the stream for the
 * sequence of the tenant's newest entry message (`last_by_subj: dlq.<tenant>.>`) and waits until
 * the index has applied it, so a list always reflects every write acknowledged before it began.
 *
 * The CLI builds the same index for one tenant (`dlq.<tenant>.>`), reads it once and stops.
 */
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { millis } from '@nats-io/nats-core';
import { CONSUME_EXPIRES_MS, STREAMS, type Logger } from '@orderwire/platform';
import { parseEntry, summarize, tenantFilter, type EntrySummary } from './entry.js';
import { DLQ_ERRORS } from './errors.js';
import { unavailable } from './entry-store.js';

/** 10 ms between checks while waiting for the index to catch up. */
const CATCH_UP_POLL_MS = 10;

export interface IndexedEntry {
  summary: EntrySummary;
  /** Epoch ms of `firstFailedAt`: the list order. */
  firstFailedMs: number;
  lastFailedMs: number;
  /** Epoch ms the stream stored this state (for DLQ max-age pruning). */
  storedMs: number;
}

export interface EntryIndex {
  /** Starts the watch and resolves once the existing entries are loaded. */
  start(syncTimeoutMs: number): Promise<void>;
  stop(): Promise<void>;
  /** Waits until the index holds every write to `tenant`'s entries acknowledged before the call. */
  barrier(tenant: string, timeoutMs: number): Promise<void>;
  /** The tenant's entries (unordered; callers filter and sort). */
  entries(tenant: string): IndexedEntry[];
  openCount(): number;
  size(): number;
  /** True while the watch runs. */
  watching(): boolean;
}

export interface EntryIndexOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
  /** `dlq.>` for the service, `dlq.<tenant>.>` for the CLI. */
  filter: string;
  /** Called after every applied change (depth gauge). */
  onChange?: (index: EntryIndex) => void;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function createEntryIndex(options: EntryIndexOptions): EntryIndex {
  const { js, jsm, logger } = options;
  const log = logger.child({ component: 'entry-index', filter: options.filter });
  const byTenant = new Map<string, Map<string, IndexedEntry>>();
  let open = 0;
  let size = 0;
  /** Highest DLQ stream sequence applied. */
  let applied = 0;
  /** True once a delivered message said nothing was left to deliver. */
  let caughtUp = false;
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;
  let maxAgeMs = 0;
  let ended = false;

  function put(tenant: string, id: string, value: IndexedEntry): void {
    let m = byTenant.get(tenant);
    if (m === undefined) {
      m = new Map();
      byTenant.set(tenant, m);
    }
    const before = m.get(id);
    if (before === undefined) size++;
    else if (before.summary.status === 'open') open--;
    if (value.summary.status === 'open') open++;
    m.set(id, value);
  }

  function remove(tenant: string, id: string): void {
    const m = byTenant.get(tenant);
    const before = m?.get(id);
    if (m === undefined || before === undefined) return;
    m.delete(id);
    size--;
    if (before.summary.status === 'open') open--;
  }

  /** With a DLQ max age, the stream drops old entries silently; the index follows by time. */
  function prune(tenant: string): void {
    if (maxAgeMs <= 0) return;
    const cutoff = Date.now() - maxAgeMs;
    const m = byTenant.get(tenant);
    if (m === undefined) return;
    for (const [id, e] of m) if (e.storedMs < cutoff) remove(tenant, id);
  }

  const index: EntryIndex = {
    async start(syncTimeoutMs) {
      const info = await jsm.streams.info(STREAMS.DLQ);
      maxAgeMs = millis(info.config.max_age);
      const initial = await jsm.streams.getMessage(STREAMS.DLQ, { last_by_subj: options.filter });
      const target = initial?.seq ?? 0;
      const consumer = await js.consumers.get(STREAMS.DLQ, {
        filter_subjects: options.filter,
        deliver_policy: DeliverPolicy.LastPerSubject,
      });
      const msgs = await consumer.consume({ expires: CONSUME_EXPIRES_MS });
      messages = msgs;
      loop = (async () => {
        for await (const m of msgs) {
          const entry = parseEntry(m.data);
          if (entry === undefined) {
            log.warn({ subject: m.subject, seq: m.seq }, 'DLQ message is not an entry; ignored');
          } else {
            put(entry.tenant, entry.id, {
              summary: summarize(entry),
              firstFailedMs: Date.parse(entry.firstFailedAt),
              lastFailedMs: Date.parse(entry.lastFailedAt),
              storedMs: millis(m.info.timestampNanos),
            });
          }
          applied = Math.max(applied, m.seq);
          if (m.info.pending === 0) caughtUp = true;
          options.onChange?.(index);
        }
      })()
        .catch((err: unknown) => log.error({ err }, 'DLQ index watch ended with an error'))
        .finally(() => {
          ended = true;
        });

      const deadline = Date.now() + syncTimeoutMs;
      while (applied < target) {
        if (Date.now() > deadline) {
          await index.stop();
          throw DLQ_ERRORS.create('ORDERWIRE_ERR_DLQ_INDEX_SYNC_TIMEOUT', { timeoutMs: syncTimeoutMs });
        }
        await sleep(CATCH_UP_POLL_MS);
      }
      caughtUp = true;
      options.onChange?.(index);
      log.info({ entries: size, open, applied }, 'DLQ index synced');
    },

    async stop() {
      const msgs = messages;
      messages = undefined;
      if (msgs !== undefined) await msgs.close();
      if (loop !== undefined) await loop;
      loop = undefined;
    },

    async barrier(tenant, timeoutMs) {
      if (messages === undefined || ended) throw unavailable('index_stopped', undefined);
      let last;
      try {
        last = await jsm.streams.getMessage(STREAMS.DLQ, { last_by_subj: tenantFilter(tenant) });
      } catch (err) {
        throw unavailable('read_failed', err);
      }
      const target = last?.seq ?? 0;
      const deadline = Date.now() + timeoutMs;
      while (applied < target) {
        if (Date.now() > deadline) {
          log.warn({ tenant, applied, target }, 'DLQ index behind the stream');
          throw unavailable('index_behind', undefined);
        }
        await sleep(CATCH_UP_POLL_MS);
      }
      prune(tenant);
    },

    entries(tenant) {
      const m = byTenant.get(tenant);
      return m === undefined ? [] : [...m.values()];
    },
    openCount: () => open,
    size: () => size,
    watching: () => messages !== undefined && !ended && caughtUp,
  };
  return index;
}
