/**
 * The refresh-family store: a family and its index entry are written together, and a family is
 * only ever reported stored when both are — the enrollment hands out its token after that.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { KV_BUCKETS } from '@orderwire/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newFamilyId } from '../src/display-lifecycle.js';
import { createRefreshFamilyStore, type RefreshFamilyRecord } from '../src/stores/refresh-families.js';
import { newDisplayId, startAuth, startInfra, type Infra, type TestAuth } from './helpers.js';

let infra: Infra;
let t: TestAuth;
let kv: KV;
let jsm: JetStreamManager;

beforeAll(async () => {
  infra = await startInfra();
  t = await startAuth(infra);
  kv = await new Kvm(t.nc).open(KV_BUCKETS.REFRESH_TOKENS);
  jsm = await jetstreamManager(t.nc);
});

afterAll(async () => {
  await t?.close();
  await infra?.dispose();
});

function family(displayId: string): RefreshFamilyRecord {
  const now = Date.now();
  return {
    v: 1,
    familyId: newFamilyId(),
    tenant: 'families',
    displayId,
    generation: 1,
    tokenHash: 'hash',
    spent: [],
    status: 'active',
    createdAt: new Date(now).toISOString(),
    expiresAt: now + 60_000,
    rotatedAt: new Date(now).toISOString(),
  };
}

/** The real bucket, except that unconditional writes (the index entry's) are refused. */
function refusingPuts(real: KV): KV {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === 'put') return () => Promise.reject(new Error('put refused'));
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('refresh-family store', () => {
  it('stores a family with its index entry, so the display’s families list it', async () => {
    const store = createRefreshFamilyStore(kv, jsm);
    const displayId = newDisplayId();
    const rec = family(displayId);
    await store.create(rec);
    expect(await store.familyIdsOf(rec.tenant, displayId)).toEqual([rec.familyId]);
    expect((await store.get(rec.familyId))?.value).toEqual(rec);
  });

  it('a family whose index entry could not be written is not reported stored (its token is never handed out)', async () => {
    const store = createRefreshFamilyStore(refusingPuts(kv), jsm);
    const rec = family(newDisplayId());
    await expect(store.create(rec)).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_AUTH_STORE_UNAVAILABLE' });
    expect(await store.familyIdsOf(rec.tenant, rec.displayId)).toEqual([]);
  });
});
