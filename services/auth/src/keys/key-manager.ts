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
  publicJwks,
  rekeyKeyring,
  relabelKeyring,
  rotateKeyring,
  rotationSafety,
  isRotationDue,
  verifyKeyring,
  type KeyIntegrityFailure,
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
  /** Called with every integrity check of a keyring read from the store (metrics). */
  onIntegrity?: (failures: readonly KeyIntegrityFailure[]) => void;
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

  /**
   * Adopts a keyring if it is newer than the one in use — only once every key in it is proven by
   * the KEK (keyring.ts `verifyKeyring`); the JWKS and the signer come from the proven keys.
   * A keyring that fails is refused: error log, `onIntegrity`, the replica reports unhealthy and
   * keeps the last good keys; nothing of the refused keyring is served.
   */
  async function adopt(ring: Versioned<KeyringRecord>): Promise<void> {
    if (state !== undefined && ring.revision <= state.ring.revision) return;
    // Sealed entirely under a KEK this process does not have: a configuration error (AUTH_KEK
    // rotated without AUTH_KEK_PREVIOUS), not tampering; refused the same way, reported as such.
    const known = new Set([kek.current.id, ...(kek.previous === undefined ? [] : [kek.previous.id])]);
    const sealedWith = [ring.value.current, ring.value.next, ring.value.previous].flatMap((k) => (k?.privateKey === undefined ? [] : [k.privateKey.kek]));
    if (sealedWith.length > 0 && sealedWith.every((id) => !known.has(id))) {
      decryptFailed = true;
      logger.error({ generation: ring.value.generation, kekIds: [...new Set(sealedWith)] }, 'keyring sealed with a KEK this process does not have; keeping previous signer');
      throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_KEY_DECRYPT', { kid: ring.value.current.kid, kekId: sealedWith[0]! });
    }
    const verified = await verifyKeyring(ring.value, kek);
    if (!verified.ok) {
      decryptFailed = true;
      options.onIntegrity?.(verified.failures);
      logger.error(
        { failures: verified.failures, generation: ring.value.generation, revision: ring.revision },
        'keyring refused: a stored signing key is not proven by the KEK; not served, keeping the previous keys',
      );
      throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_KEYRING_INTEGRITY', {
        failures: verified.failures.map((f) => `${f.slot} ${f.kid === '' ? '(no kid)' : f.kid}: ${f.problem}`).join('; '),
      });
    }
    // A keyring read while newer ones arrived may have been overtaken during the (async) check.
    if (state !== undefined && ring.revision <= state.ring.revision) return;
    decryptFailed = false;
    options.onIntegrity?.([]);
    const keys = publicJwks(verified.keys).keys;
    const body = JSON.stringify({ keys });
    const prevKid = state?.signer.kid;
    state = { ring, signer: { kid: verified.keys.current.kid, key: verified.keys.current.privateKey }, jwks: { body, etag: etagOf(body), keys } };
    if (prevKid !== ring.value.current.kid) {
      logger.info(
        { generation: ring.value.generation, current: ring.value.current.kid, next: ring.value.next.kid, previous: ring.value.previous?.kid },
        'signing keyring loaded',
      );
    }
  }

  /**
   * Keys of an older format (kid not the thumbprint) that the KEK proves are relabelled once, by
   * whichever replica gets there first (CAS); see keyring.ts `relabelKeyring`.
   */
  async function migrate(ring: Versioned<KeyringRecord>): Promise<Versioned<KeyringRecord>> {
    const { ring: next, changed, relabelled } = await relabelKeyring(ring.value, kek);
    if (!changed) return ring;
    const rev = await updateJson(kv, KEYRING_KEY, next, ring.revision);
    if (rev === undefined) return (await readJson<KeyringRecord>(kv, KEYRING_KEY)) ?? ring;
    logger.warn({ relabelled }, 'signing keys relabelled with their RFC 7638 thumbprint; tokens signed under the old kids must be obtained again');
    return { value: next, revision: rev };
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
          await adopt(ring);
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
    if (rev !== undefined) await adopt({ value: ring, revision: rev });
    return rev;
  }

  /** Refuses to build on (rotate, rekey) a keyring the KEK does not prove: adopting it fails loudly. */
  async function assertProven(ring: Versioned<KeyringRecord>): Promise<void> {
    if (state !== undefined && ring.revision === state.ring.revision) return;
    await adopt(ring);
  }

  async function fresh(): Promise<Versioned<KeyringRecord>> {
    const cur = await readJson<KeyringRecord>(kv, KEYRING_KEY);
    if (cur === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_KEYS_NOT_READY');
    return cur;
  }

  return {
    async start() {
      await adopt(await migrate(await load()));
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
        await adopt(cur);
        return undefined;
      }
      await assertProven(cur);
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
          await assertProven(cur);
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
          // Old-format kids are relabelled first (sealed again under the new kid anyway); any
          // other failure refuses the rekey, so a forged key is never sealed under the new KEK.
          const check = await verifyKeyring(cur.value, kek);
          if (!check.ok && check.failures.some((f) => f.problem !== 'kid_not_thumbprint')) await assertProven(cur);
          const relabelled = await relabelKeyring(cur.value, kek);
          const resealed = rekeyKeyring(relabelled.ring, kek);
          const ring = resealed.ring;
          const changed = relabelled.changed || resealed.changed;
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
