/**
 * Reads and writes entries on the DLQ stream. Every write is a compare-and-set on the entry's
 * subject (`Nats-Expected-Last-Subject-Sequence`): creating expects 0, updating expects the
 * sequence that was read. Two replicas processing the same advisory, or a replay racing a discard,
 * therefore never overwrite each other: the loser re-reads and decides again.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { CAS_CONFLICT, STREAMS, compareAndSet, isWrongLastSequence } from '@orderwire/platform';
import { encodeEntry, entrySubject, parseEntry, type DlqEntry } from './entry.js';
import { DLQ_ERRORS } from './errors.js';

export interface StoredEntry {
  entry: DlqEntry;
  /** DLQ stream sequence of this state: the expected sequence of the next update. */
  revision: number;
}

export type Mutation<R> =
  /** Write `entry` (compare-and-set on the read revision) and return `result`. */
  | { write: DlqEntry; result: R }
  /** Nothing to write. */
  | { result: R };

export interface MutateOutcome<R> {
  result: R;
  /** DLQ stream sequence of the state written; undefined when nothing was written. */
  revision: number | undefined;
}

export interface EntryStore {
  get(tenant: string, id: string): Promise<StoredEntry | undefined>;
  /**
   * Read–decide–write loop: `decide` sees the current state (undefined when absent) and returns
   * what to write; a concurrent write makes it run again on the fresher state.
   * @throws ORDERWIRE_ERR_DLQ_CONFLICT after `DEFAULT_CAS_ATTEMPTS` lost races, ORDERWIRE_ERR_DLQ_UNAVAILABLE
   */
  mutate<R>(tenant: string, id: string, decide: (current: StoredEntry | undefined) => Mutation<R>): Promise<MutateOutcome<R>>;
}

export interface EntryStoreOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  timeoutMs: number;
}

export function unavailable(reason: string, cause: unknown): Error {
  return DLQ_ERRORS.create('ORDERWIRE_ERR_DLQ_UNAVAILABLE', { reason }, { cause, details: { reason, retryAfterSeconds: 1 } });
}

export function createEntryStore(options: EntryStoreOptions): EntryStore {
  const { js, jsm, timeoutMs } = options;

  async function get(tenant: string, id: string): Promise<StoredEntry | undefined> {
    let msg;
    try {
      // The stream leader answers (not a direct get from a possibly lagging replica): this read
      // decides compare-and-set writes.
      msg = await jsm.streams.getMessage(STREAMS.DLQ, { last_by_subj: entrySubject(tenant, id) });
    } catch (err) {
      throw unavailable('read_failed', err);
    }
    if (msg === null) return undefined;
    const entry = parseEntry(msg.data);
    // Entries are addressed by tenant in the subject; the body must agree or it is not ours.
    if (entry === undefined || entry.tenant !== tenant || entry.id !== id) return undefined;
    return { entry, revision: msg.seq };
  }

  return {
    get,
    async mutate(tenant, id, decide) {
      return compareAndSet(
        async () => {
          const current = await get(tenant, id);
          const m = decide(current);
          if (!('write' in m)) return { result: m.result, revision: undefined };
          try {
            const ack = await js.publish(entrySubject(tenant, id), encodeEntry(m.write), {
              expect: { lastSubjectSequence: current?.revision ?? 0 },
              timeout: timeoutMs,
            });
            return { result: m.result, revision: ack.seq };
          } catch (err) {
            if (isWrongLastSequence(err)) return CAS_CONFLICT;
            throw unavailable('write_failed', err);
          }
        },
        { exhausted: () => DLQ_ERRORS.create('ORDERWIRE_ERR_DLQ_CONFLICT', { id }, { details: { id } }) },
      );
    },
  };
}
