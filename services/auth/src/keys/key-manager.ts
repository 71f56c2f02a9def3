/**
 * Every replica's view of the keyring: bootstraps it atomically (first replica wins the KV
 * create), watches it (so all replicas sign with the same `current` and serve the same JWKS
 * within a watch round trip), and writes rotations with CAS on the KV revision, so two
 * rotators — even a scheduled one and an operator's CLI at the same moment — cannot interleave.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import type { KvWatchEntry } from '@nats-io/kv';
import { CAS_CONFLICT, KV_BUCKETS, compareAndSet, kvStreamName, type Logger } from '@orderwire/platform';
import { AUTH_ERRORS } from '../errors.js';
import type { KekRing } from '../crypto/kek.js';
import { createJson, liveJson, readJson, updateJson, type Versioned } from '../kv.js';
import {
  createKeyring,
  decryptSigningKey,
  publicJwks,
  rekeyKeyring,
  rotateKeyring,
  rotationSafety,
  isRotationDue,
  type KeyringRecord,
  type PublicSigningJwk,
} from './keyring.js';

/** KV key of the keyring record in `ow_signing_keys`. */
export const KEYRING_KEY = 'keyring';

export interface ActiveSigner {
  kid: string;
  key: KeyObject;
}

export interface JwksDocument {
  body: string;
  etag: string;
  keys: PublicSigningJwk[];
}

export interface KeyManager {
  /** Loads (or creates) the keyring and starts watching it. Resolves once a signer is ready. */
  start(): Promise<void>;
  stop(): void;
  /** @throws ORDERWIRE_ERR_AUTH_KEYS_NOT_READY before `start` finished. */
  signer(): ActiveSigner;
  jwks(): JwksDocument;
  /** The keyring this replica currently uses (with revision), if loaded. */
  current(): Versioned<KeyringRecord> | undefined;
  /** Rotates when due. Returns the new keyring, or undefined when not due or another writer won. */
  rotateIfDue(intervalMs: number, now?: Date): Promise<KeyringRecord | undefined>;
  /**
   * Rotates now. Refuses (ORDERWIRE_ERR_AUTH_ROTATION_UNSAFE) when that would drop a key whose
   * tokens may still be live, unless `force`.
   */
  rotateNow(options: { maxTokenTtlMs: number; force?: boolean; now?: Date }): Promise<KeyringRecord>;
  /**
   * Re-encrypts every private key with the current KEK, then purges older revisions of the
   * keyring from the bucket history (they hold the same private keys under the old KEK).
   */
  rekey(): Promise<{ changed: boolean; ring: KeyringRecord }>;
  /** True while the last keyring seen could be decrypted (readiness). */
  healthy(): boolean;
}

export interface KeyManagerOptions {
  kv: KV;
  /** Used by `rekey` to purge history revisions still sealed with the old KEK. */
  jsm: JetStreamManager;
  kek: KekRing;
  logger: Logger;
  /** Called after this replica (not a watcher) wrote a rotation. */
  onRotated?: (ring: KeyringRecord, reason: 'scheduled' | 'forced') => void;
}

function keyringConflict(): Error {
  return AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CONFLICT', { what: 'keyring' });
}

function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

export function createKeyManager(options: KeyManagerOptions): KeyManager {
  const { kv, kek, logger } = options;
  let state: { ring: Versioned<KeyringRecord>; signer: ActiveSigner; jwks: JwksDocument } | undefined;
  let watcher: QueuedIterator<KvWatchEntry> | undefined;
  let stopped = false;
  let decryptFailed = false;

  /** Adopts a keyring if it is newer than the one in use. */
  function adopt(ring: Versioned<KeyringRecord>): void {
    if (state !== undefined && ring.revision <= state.ring.revision) return;
    let key: KeyObject;
    try {
      key = decryptSigningKey(ring.value.current, kek);
    } catch (err) {
      decryptFailed = true;
      logger.error({ err, generation: ring.value.generation, kid: ring.value.current.kid }, 'keyring cannot be decrypted; keeping previous signer');
      throw err;
    }
    decryptFailed = false;
    const keys = publicJwks(ring.value).keys;
    const body = JSON.stringify({ keys });
    const prevKid = state?.signer.kid;
    state = { ring, signer: { kid: ring.value.current.kid, key }, jwks: { body, etag: etagOf(body), keys } };
    if (prevKid !== ring.value.current.kid) {
      logger.info(
        { generation: ring.value.generation, current: ring.value.current.kid, next: ring.value.next.kid, previous: ring.value.previous?.kid },
        'signing keyring loaded',
      );
    }
  }

  async function load(): Promise<Versioned<KeyringRecord>> {
    const existing = await readJson<KeyringRecord>(kv, KEYRING_KEY);
    if (existing !== undefined) return existing;
    const fresh = await createKeyring(kek, new Date());
    const rev = await createJson(kv, KEYRING_KEY, fresh);
    if (rev !== undefined) {
      logger.info({ current: fresh.current.kid, next: fresh.next.kid }, 'signing keyring bootstrapped');
      return { value: fresh, revision: rev };
    }
    // Another replica bootstrapped between our read and create: use theirs.
    const theirs = await readJson<KeyringRecord>(kv, KEYRING_KEY);
    if (theirs === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CONFLICT', { what: 'keyring bootstrap' });
    return theirs;
  }

  async function watch(): Promise<void> {
    const iter = await kv.watch({ key: KEYRING_KEY });
    watcher = iter;
    (async () => {
      for await (const entry of iter) {
        const ring = liveJson<KeyringRecord>(entry);
        if (ring === undefined) {
          logger.error({ operation: entry.operation }, 'keyring record deleted; keeping the keys in memory');
          continue;
        }
        try {
          adopt(ring);
        } catch {
          // adopt logged it; the replica keeps signing with the last good key and reports unhealthy.
        }
      }
    })().catch((err: unknown) => {
      if (!stopped) logger.error({ err }, 'keyring watcher stopped');
    });
  }

  /** CAS write; on success adopts it locally at once (the watcher will see the same revision). */
  async function write(ring: KeyringRecord, revision: number): Promise<number | undefined> {
    const rev = await updateJson(kv, KEYRING_KEY, ring, revision);
    if (rev !== undefined) adopt({ value: ring, revision: rev });
    return rev;
  }

  async function fresh(): Promise<Versioned<KeyringRecord>> {
    const cur = await readJson<KeyringRecord>(kv, KEYRING_KEY);
    if (cur === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_KEYS_NOT_READY');
    return cur;
  }

  return {
    async start() {
      adopt(await load());
      await watch();
    },
    stop() {
      stopped = true;
      watcher?.stop();
    },
    signer() {
      if (state === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_KEYS_NOT_READY');
      return state.signer;
    },
    jwks() {
      if (state === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_KEYS_NOT_READY');
      return state.jwks;
    },
    current() {
      return state?.ring;
    },
    async rotateIfDue(intervalMs, now = new Date()) {
      // Read from KV, not memory: the watcher may lag behind another writer.
      const cur = await fresh();
      if (!isRotationDue(cur.value, intervalMs, now)) {
        adopt(cur);
        return undefined;
      }
      const next = await rotateKeyring(cur.value, kek, now);
      const rev = await write(next, cur.revision);
      if (rev === undefined) return undefined;
      options.onRotated?.(next, 'scheduled');
      return next;
    },
    async rotateNow({ maxTokenTtlMs, force = false, now = new Date() }) {
      return compareAndSet(
        async () => {
          const cur = await fresh();
          const safety = rotationSafety(cur.value, maxTokenTtlMs, now);
          if (!safety.safe && !force) {
            throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_ROTATION_UNSAFE', { kid: safety.kid, until: safety.until });
          }
          const next = await rotateKeyring(cur.value, kek, now);
          if ((await write(next, cur.revision)) === undefined) return CAS_CONFLICT;
          options.onRotated?.(next, 'forced');
          return next;
        },
        { exhausted: keyringConflict },
      );
    },
    async rekey() {
      return compareAndSet(
        async () => {
          const cur = await fresh();
          const { ring, changed } = rekeyKeyring(cur.value, kek);
          if (changed && (await write(ring, cur.revision)) === undefined) return CAS_CONFLICT;
          // Also when nothing changed: an earlier rekey may have died between write and purge.
          await options.jsm.streams.purge(kvStreamName(KV_BUCKETS.SIGNING_KEYS), {
            filter: `$KV.${KV_BUCKETS.SIGNING_KEYS}.${KEYRING_KEY}`,
            keep: 1,
          });
          return { changed, ring };
        },
        { exhausted: keyringConflict },
      );
    },
    healthy() {
      return state !== undefined && !decryptFailed;
    },
  };
}
