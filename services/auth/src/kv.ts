/**
 * The KV buckets the auth service owns, and JSON helpers with compare-and-set semantics.
 * Every multi-writer record is updated with `update(key, value, revision)`; a lost race shows
 * up as `undefined` from these helpers (never as a silent overwrite), and any other KV failure
 * becomes ORDERWIRE_ERR_AUTH_STORE_UNAVAILABLE (503) so callers can retry.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { CAS_CONFLICT, KV_BUCKETS, compareAndSet, isWrongLastSequence, kvStreamName } from '@orderwire/platform';
import { AUTH_ERRORS } from './errors.js';

export interface AuthBuckets {
  tenants: KV;
  clients: KV;
  displays: KV;
  enrollments: KV;
  refreshTokens: KV;
  signingKeys: KV;
  leases: KV;
  revokedClients: KV;
}

/** Opens (binds to) the buckets; `topology apply` must have created them (the service verified it at start). */
export async function openAuthBuckets(nc: NatsConnection): Promise<AuthBuckets> {
  const kvm = new Kvm(nc);
  const open = (name: string) => kvm.open(name);
  const [tenants, clients, displays, enrollments, refreshTokens, signingKeys, leases, revokedClients] = await Promise.all([
    open(KV_BUCKETS.TENANTS),
    open(KV_BUCKETS.CLIENTS),
    open(KV_BUCKETS.DISPLAYS),
    open(KV_BUCKETS.ENROLLMENTS),
    open(KV_BUCKETS.REFRESH_TOKENS),
    open(KV_BUCKETS.SIGNING_KEYS),
    open(KV_BUCKETS.LEASES),
    open(KV_BUCKETS.REVOKED_CLIENTS),
  ]);
  return { tenants, clients, displays, enrollments, refreshTokens, signingKeys, leases, revokedClients };
}

export interface Versioned<T> {
  value: T;
  revision: number;
}

function unavailable(err: unknown): Error {
  const reason = err instanceof Error ? err.message : String(err);
  return AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_STORE_UNAVAILABLE', { reason }, { cause: err });
}

function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** A live entry (deleted and purged keys read as absent). */
export function liveJson<T>(entry: KvEntry | null): Versioned<T> | undefined {
  if (entry === null || entry.operation !== 'PUT') return undefined;
  return { value: entry.json<T>(), revision: entry.revision };
}

export async function readJson<T>(kv: KV, key: string): Promise<Versioned<T> | undefined> {
  let entry: KvEntry | null;
  try {
    entry = await kv.get(key);
  } catch (err) {
    throw unavailable(err);
  }
  return liveJson<T>(entry);
}

/** Creates `key` if absent (or deleted); `undefined` when it already exists. */
export async function createJson(kv: KV, key: string, value: unknown): Promise<number | undefined> {
  try {
    return await kv.create(key, encode(value));
  } catch (err) {
    if (isWrongLastSequence(err)) return undefined;
    throw unavailable(err);
  }
}

/** Writes `key` only if it is still at `revision`; `undefined` when someone else wrote first. */
export async function updateJson(kv: KV, key: string, value: unknown, revision: number): Promise<number | undefined> {
  try {
    return await kv.update(key, encode(value), revision);
  } catch (err) {
    if (isWrongLastSequence(err)) return undefined;
    throw unavailable(err);
  }
}

/** Unconditional write, for records with a single writer. */
export async function putJson(kv: KV, key: string, value: unknown): Promise<number> {
  try {
    return await kv.put(key, encode(value));
  } catch (err) {
    throw unavailable(err);
  }
}

/** Deletes `key`; with `revision`, only if unchanged (returns false when someone wrote first). */
export async function deleteKey(kv: KV, key: string, revision?: number): Promise<boolean> {
  try {
    await kv.delete(key, revision === undefined ? undefined : { previousSeq: revision });
    return true;
  } catch (err) {
    if (isWrongLastSequence(err)) return false;
    throw unavailable(err);
  }
}

/** Keys matching `filter` (NATS subject wildcards), collected. */
export async function listKeys(kv: KV, filter?: string): Promise<string[]> {
  try {
    const iter = await kv.keys(filter);
    const out: string[] = [];
    for await (const k of iter) out.push(k);
    return out;
  } catch (err) {
    throw unavailable(err);
  }
}

/**
 * Keys under `filter` (a KV key pattern), from the bucket stream's subject counts: one STREAM.INFO
 * request, where `kv.keys()` creates an ordered consumer on the server per call (and leaves it to
 * expire). Unlike `keys()` it also lists a key whose last entry is a delete marker, so it is for
 * keys that are never deleted (they only expire with the bucket's TTL), or whose callers treat a
 * record they cannot read as nothing to do.
 */
export async function listSubjectKeys(jsm: JetStreamManager, bucket: string, filter: string): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  try {
    const info = await jsm.streams.info(kvStreamName(bucket), { subjects_filter: `${prefix}${filter}` });
    return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
  } catch (err) {
    throw unavailable(err);
  }
}

/**
 * Read-modify-write with CAS. `change` returns the new value, or `undefined` to leave the
 * record as it is. Returns the final value (changed or not), or `undefined` if the key is absent;
 * ORDERWIRE_ERR_AUTH_CONFLICT after `DEFAULT_CAS_ATTEMPTS` lost races. `current`, when the caller
 * has just read the record, is the first round's value (no second read); a lost race re-reads.
 */
export async function mutateJson<T>(
  kv: KV,
  key: string,
  change: (current: T) => T | undefined,
  what = key,
  current?: Versioned<T>,
): Promise<Versioned<T> | undefined> {
  return compareAndSet(
    async (attempt) => {
      const cur = attempt === 1 && current !== undefined ? current : await readJson<T>(kv, key);
      if (cur === undefined) return undefined;
      const next = change(cur.value);
      if (next === undefined) return cur;
      const rev = await updateJson(kv, key, next, cur.revision);
      return rev === undefined ? CAS_CONFLICT : { value: next, revision: rev };
    },
    { exhausted: () => AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CONFLICT', { what }) },
  );
}
