/**
 * Keeps a DisplayIndex in sync with KV bucket `ow_displays` through a watch. The first full read
 * is awaited at start (`synced`); afterwards updates arrive as they happen. If the watch ends
 * (it should not: the client's ordered consumer survives reconnects) it is restarted from the
 * next revision, with a delay so a broken server is not hammered.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import { KV_BUCKETS, kvStreamName, type NatsConnection } from '@orderwire/platform';
import type { Logger } from 'pino';
import { parseDisplayRecord, type DisplayIndex } from './display-index.js';
import { INGEST_ERRORS } from './errors.js';

/** 1 s between watch restarts */
export const WATCH_RESTART_DELAY_MS = 1_000;

export interface RegistryWatcher {
  /** Resolves once every entry present at start has been applied; rejects after `timeoutMs`. */
  synced(timeoutMs: number): Promise<void>;
  isSynced(): boolean;
  /** True while a watch is running. */
  isWatching(): boolean;
  stop(): Promise<void>;
}

export interface RegistryWatcherOptions {
  nc: NatsConnection;
  index: DisplayIndex;
  logger: Logger;
  /** Called after each applied entry (metrics). */
  onChange?: () => void;
}

export async function startRegistryWatcher(options: RegistryWatcherOptions): Promise<RegistryWatcher> {
  const { nc, index, logger } = options;
  const log = logger.child({ component: 'display-registry' });
  const kv: KV = await new Kvm(nc).open(KV_BUCKETS.DISPLAYS);
  const jsm = await jetstreamManager(nc);
  const state = (await jsm.streams.info(kvStreamName(KV_BUCKETS.DISPLAYS))).state;
  // With history 1 the stream's last message is the latest entry of its key, so the watch
  // (last value per key) delivers it: seeing that revision means the initial read is complete.
  const lastAtStart = state.messages === 0 ? 0 : state.last_seq;

  let synced = lastAtStart === 0;
  let resolveSynced: () => void = () => undefined;
  const syncedPromise = synced ? Promise.resolve() : new Promise<void>((r) => (resolveSynced = r));
  let stopped = false;
  let lastRevision = 0;
  let iter: QueuedIterator<KvWatchEntry> | undefined;
  let loop: Promise<void> = Promise.resolve();

  function applyEntry(e: KvWatchEntry): void {
    lastRevision = Math.max(lastRevision, e.revision);
    if (e.operation === 'PUT') {
      let record;
      try {
        record = parseDisplayRecord(e.json());
      } catch {
        record = undefined;
      }
      if (record === undefined) log.warn({ key: e.key, revision: e.revision }, 'ignoring malformed display record');
      index.apply(e.key, record);
    } else {
      index.apply(e.key, undefined);
    }
    options.onChange?.();
    if (!synced && (e.isUpdate || e.revision >= lastAtStart)) {
      synced = true;
      log.info({ displays: index.size(), revision: e.revision }, 'display registry synced');
      resolveSynced();
    }
  }

  async function run(): Promise<void> {
    while (!stopped) {
      try {
        iter = await kv.watch(lastRevision > 0 ? { resumeFromRevision: lastRevision + 1 } : {});
        for await (const e of iter) applyEntry(e);
        if (!stopped) log.warn({ lastRevision }, 'display registry watch ended; restarting');
      } catch (err) {
        if (stopped) break;
        log.error({ err, lastRevision }, 'display registry watch failed; restarting');
      }
      iter = undefined;
      if (!stopped) await new Promise((r) => setTimeout(r, WATCH_RESTART_DELAY_MS));
    }
  }
  loop = run();

  return {
    synced(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_REGISTRY_SYNC_TIMEOUT', { timeoutMs })), timeoutMs);
      });
      return Promise.race([syncedPromise, timeout]).finally(() => clearTimeout(timer));
    },
    isSynced: () => synced,
    isWatching: () => iter !== undefined,
    async stop() {
      stopped = true;
      iter?.stop();
      await loop;
    },
  };
}
