/**
 * An in-memory copy of a KV bucket, kept current by a watch: the initial read is awaited at start
 * (`synced`), then every change arrives within milliseconds. If the watch ends it is restarted from
 * the next revision after a delay, so a broken server is not hammered. Used for what every replica
 * must know before it answers: revoked clients, tenant quotas.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection, QueuedIterator } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { PLATFORM_ERRORS } from './errors.js';
import { kvStreamName } from './topology.js';

/** 1000 ms between watch restarts. */
export const KV_MIRROR_RESTART_MS = 1_000;

export interface KvMirror<T> {
  get(key: string): T | undefined;
  readonly size: number;
  /** Resolves once every entry present at start is applied; rejects after `timeoutMs`. */
  synced(timeoutMs: number): Promise<void>;
  /** True while the watch runs (readiness detail). */
  watching(): boolean;
  stop(): Promise<void>;
}

export interface KvMirrorOptions<T> {
  nc: NatsConnection;
  bucket: string;
  logger: Logger;
  /**
   * The value kept for an entry (`value` undefined when it is not JSON); undefined drops it
   * (logged as malformed), null drops it silently (an entry this mirror does not keep).
   * `revision` is the entry's KV revision, for callers that update it by compare-and-set.
   */
  parse(key: string, value: unknown, revision: number): T | undefined | null;
  /** After each applied entry (metrics, logs); `synced` tells initial reads from live changes. */
  onChange?(key: string, value: T | undefined, synced: boolean, size: number): void;
}

export async function createKvMirror<T>(options: KvMirrorOptions<T>): Promise<KvMirror<T>> {
  const { nc, bucket } = options;
  const log = options.logger.child({ component: 'kv-mirror', bucket });
  const kv = await new Kvm(nc).open(bucket);
  const jsm = await jetstreamManager(nc);
  const state = (await jsm.streams.info(kvStreamName(bucket))).state;
  // The watch delivers the last value per key; seeing the stream's last sequence at start (or
  // any update) means the initial read is complete.
  const lastAtStart = state.messages === 0 ? 0 : state.last_seq;

  const values = new Map<string, T>();
  let synced = lastAtStart === 0;
  let resolveSynced: () => void = () => undefined;
  const syncedPromise = synced ? Promise.resolve() : new Promise<void>((r) => (resolveSynced = r));
  let stopped = false;
  let lastRevision = 0;
  let iter: QueuedIterator<KvWatchEntry> | undefined;

  function apply(e: KvWatchEntry): void {
    lastRevision = Math.max(lastRevision, e.revision);
    let value: T | undefined;
    if (e.operation === 'PUT') {
      let json: unknown;
      try {
        json = e.json();
      } catch {
        json = undefined; // not JSON: `parse` decides what a garbled entry means
      }
      const parsed = options.parse(e.key, json, e.revision);
      if (parsed === undefined) log.warn({ key: e.key, revision: e.revision }, 'ignoring malformed entry');
      value = parsed ?? undefined;
    }
    if (value === undefined) values.delete(e.key);
    else values.set(e.key, value);
    options.onChange?.(e.key, value, synced, values.size);
    if (!synced && (e.isUpdate || e.revision >= lastAtStart)) {
      synced = true;
      log.info({ entries: values.size, revision: e.revision }, 'kv mirror synced');
      resolveSynced();
    }
  }

  async function run(): Promise<void> {
    while (!stopped) {
      try {
        iter = await kv.watch(lastRevision > 0 ? { resumeFromRevision: lastRevision + 1 } : {});
        for await (const e of iter) apply(e);
        if (!stopped) log.warn({ lastRevision }, 'kv watch ended; restarting');
      } catch (err) {
        if (stopped) break;
        log.error({ err, lastRevision }, 'kv watch failed; restarting');
      }
      iter = undefined;
      if (!stopped) await new Promise((r) => setTimeout(r, KV_MIRROR_RESTART_MS));
    }
  }
  const loop = run();

  return {
    get: (key) => values.get(key),
    get size() {
      return values.size;
    },
    synced(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(PLATFORM_ERRORS.create('ORDERWIRE_ERR_KV_SYNC_TIMEOUT', { bucket, timeoutMs })), timeoutMs);
      });
      return Promise.race([syncedPromise, timeout]).finally(() => clearTimeout(timer));
    },
    watching: () => iter !== undefined,
    async stop() {
      stopped = true;
      iter?.stop();
      await loop;
    },
  };
}
