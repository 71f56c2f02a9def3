/**
 * Webhook endpoints and their deliveries in JetStream KV (contracts `webhooks.ts` names the
 * buckets and keys). Every key starts with the caller's tenant, so one tenant can neither read
 * nor change another's endpoint: an id of another tenant is simply not found (404).
 *
 * Endpoints change by compare-and-set on their revision (the dispatcher may disable one at the
 * same moment); deliveries are written by the dispatcher, and here only by a manual retry.
 *
 * The secret is stored as is, not encrypted: the platform has no shared key-encryption helper
 * (auth's KEK envelope is private to auth and its key must not be handed to more services), so
 * the protection is the bucket's NATS permissions — only the ingest and webhooks identities
 * (and backup) can read `ow_webhooks` (docs/security.md).
 */
import { randomBytes } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import {
  WEBHOOK_SECRET_PREFIX,
  webhookDeliveriesFilter,
  webhookDeliveryKey,
  webhookEndpointKey,
  webhookEndpointsFilter,
  type WebhookDeliveryRecord,
  type WebhookDeliveryState,
  type WebhookEndpointRecord,
  type WebhookEventType,
} from '@orderwire/contracts';
import { isWrongLastSequence, KV_BUCKETS, type NatsConnection, type OrderwireError } from '@orderwire/platform';
import { INGEST_ERRORS } from './errors.js';

/** 12 random bytes: endpoint ids are unguessable and never collide in practice. */
const ENDPOINT_ID_BYTES = 12;
/** 32 bytes of HMAC key (Standard Webhooks: 24–64). */
const SECRET_BYTES = 32;
/** Deliveries read for one list request: the newest `limit` of at most this many are answered. */
export const DELIVERY_SCAN_MAX = 1000;
/** Reads in flight while listing. */
const READ_CONCURRENCY = 32;

export interface EndpointInput {
  url: string;
  events: WebhookEventType[];
  description?: string;
}

export interface EndpointPatch {
  url?: string;
  events?: WebhookEventType[];
  description?: string;
  enabled?: boolean;
}

export interface WebhookStore {
  create(tenant: string, input: EndpointInput, maxEndpoints: number): Promise<{ record: WebhookEndpointRecord; secret: string }>;
  list(tenant: string): Promise<WebhookEndpointRecord[]>;
  get(tenant: string, id: string): Promise<WebhookEndpointRecord>;
  update(tenant: string, id: string, patch: EndpointPatch): Promise<WebhookEndpointRecord>;
  remove(tenant: string, id: string): Promise<void>;
  rotate(tenant: string, id: string, graceMs: number): Promise<{ record: WebhookEndpointRecord; secret: string }>;
  deliveries(tenant: string, id: string, opts: { limit: number; state?: WebhookDeliveryState }): Promise<{ deliveries: WebhookDeliveryRecord[]; scanned: number }>;
  retry(tenant: string, id: string, deliveryId: string): Promise<WebhookDeliveryRecord>;
}

export function newSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`;
}

function unavailable(cause: unknown, retryAfterMs: number): OrderwireError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return INGEST_ERRORS.create(
    'ORDERWIRE_ERR_INGEST_WEBHOOK_STORE_UNAVAILABLE',
    { reason },
    { cause, details: { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) } },
  );
}

const notFound = (endpointId: string): OrderwireError =>
  INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_WEBHOOK_NOT_FOUND', { endpointId }, { details: { endpointId } });

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += limit) out.push(...(await Promise.all(items.slice(i, i + limit).map(fn))));
  return out;
}

async function collectKeys(kv: KV, filter: string, max: number): Promise<string[]> {
  const keys: string[] = [];
  const iter = await kv.keys(filter);
  for await (const k of iter) {
    if (keys.length < max) keys.push(k);
  }
  return keys;
}

export async function createWebhookStore(deps: { nc: NatsConnection; retryAfterMs: number; now?: () => number }): Promise<WebhookStore> {
  const kvm = new Kvm(deps.nc);
  const endpoints = await kvm.open(KV_BUCKETS.WEBHOOKS);
  const deliveries = await kvm.open(KV_BUCKETS.WEBHOOK_DELIVERIES);
  const now = deps.now ?? Date.now;
  const iso = (): string => new Date(now()).toISOString();

  /** Runs a KV operation; anything but our own errors is the store being unavailable (503). */
  async function guarded<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: unknown }).code !== undefined && String((err as { code: unknown }).code).startsWith('ORDERWIRE_ERR_')) throw err;
      throw unavailable(err, deps.retryAfterMs);
    }
  }

  async function read(tenant: string, id: string): Promise<{ record: WebhookEndpointRecord; revision: number }> {
    const e = await endpoints.get(webhookEndpointKey(tenant, id));
    if (e === null || e.operation !== 'PUT') throw notFound(id);
    const record = e.json<WebhookEndpointRecord>();
    // The key already names the tenant; this only guards against a hand-edited bucket.
    if (record.tenant !== tenant) throw notFound(id);
    return { record, revision: e.revision };
  }

  /** Read, change, write back by compare-and-set; a concurrent change (the dispatcher) is retried once. */
  async function modify(tenant: string, id: string, change: (r: WebhookEndpointRecord) => WebhookEndpointRecord): Promise<WebhookEndpointRecord> {
    for (let attempt = 0; ; attempt++) {
      const { record, revision } = await read(tenant, id);
      const next = change(record);
      try {
        await endpoints.update(webhookEndpointKey(tenant, id), JSON.stringify(next), revision);
        return next;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
        if (attempt >= 1) {
          throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_WEBHOOK_CONFLICT', { endpointId: id }, { cause: err, details: { endpointId: id } });
        }
      }
    }
  }

  return {
    create: (tenant, input, maxEndpoints) =>
      guarded(async () => {
        // The quota is checked by counting first: two concurrent creates may both pass and end
        // one over the limit, which is harmless (it bounds work, it is not a security boundary).
        const existing = await collectKeys(endpoints, webhookEndpointsFilter(tenant), maxEndpoints + 1);
        if (existing.length >= maxEndpoints) {
          throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_WEBHOOK_QUOTA_EXCEEDED', { max: maxEndpoints }, { details: { max: maxEndpoints } });
        }
        const secret = newSecret();
        const at = iso();
        const record: WebhookEndpointRecord = {
          v: 1,
          id: `ep_${randomBytes(ENDPOINT_ID_BYTES).toString('hex')}`,
          tenant,
          url: input.url,
          events: input.events,
          ...(input.description === undefined ? {} : { description: input.description }),
          enabled: true,
          secrets: [{ secret, createdAt: at }],
          createdAt: at,
          updatedAt: at,
        };
        await endpoints.create(webhookEndpointKey(tenant, record.id), JSON.stringify(record));
        return { record, secret };
      }),

    list: (tenant) =>
      guarded(async () => {
        const keys = await collectKeys(endpoints, webhookEndpointsFilter(tenant), Number.MAX_SAFE_INTEGER);
        const records = await mapLimited(keys, READ_CONCURRENCY, async (k) => {
          const e = await endpoints.get(k);
          return e === null || e.operation !== 'PUT' ? undefined : e.json<WebhookEndpointRecord>();
        });
        return records.filter((r): r is WebhookEndpointRecord => r !== undefined && r.tenant === tenant).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      }),

    get: (tenant, id) => guarded(async () => (await read(tenant, id)).record),

    update: (tenant, id, patch) =>
      guarded(() =>
        modify(tenant, id, (r) => {
          const next: WebhookEndpointRecord = { ...r, updatedAt: iso() };
          if (patch.url !== undefined) next.url = patch.url;
          if (patch.events !== undefined) next.events = patch.events;
          if (patch.description !== undefined) next.description = patch.description;
          if (patch.enabled === true) {
            // Re-enabling starts a fresh record of failure.
            next.enabled = true;
            delete next.disabledReason;
            delete next.disabledAt;
            delete next.failingSince;
          } else if (patch.enabled === false && r.enabled) {
            next.enabled = false;
            next.disabledReason = 'manual';
            next.disabledAt = next.updatedAt;
          }
          return next;
        }),
      ),

    remove: (tenant, id) =>
      guarded(async () => {
        await read(tenant, id);
        // Its pending deliveries fail on their next turn (the dispatcher finds no endpoint).
        await endpoints.delete(webhookEndpointKey(tenant, id));
      }),

    rotate: (tenant, id, graceMs) =>
      guarded(async () => {
        const secret = newSecret();
        const record = await modify(tenant, id, (r) => {
          const at = now();
          const expiresAt = new Date(at + graceMs).toISOString();
          // The current secret keeps signing for the grace period; older ones keep their own
          // (earlier) expiry, and expired ones are dropped.
          const kept = r.secrets
            .map((s, i) => (i === 0 ? { ...s, expiresAt } : s))
            .filter((s) => graceMs > 0 && s.expiresAt !== undefined && Date.parse(s.expiresAt) > at);
          return { ...r, secrets: [{ secret, createdAt: new Date(at).toISOString() }, ...kept], updatedAt: new Date(at).toISOString() };
        });
        return { record, secret };
      }),

    deliveries: (tenant, id, opts) =>
      guarded(async () => {
        await read(tenant, id);
        const keys = await collectKeys(deliveries, webhookDeliveriesFilter(tenant, id), DELIVERY_SCAN_MAX);
        const records = await mapLimited(keys, READ_CONCURRENCY, async (k) => {
          const e = await deliveries.get(k);
          return e === null || e.operation !== 'PUT' ? undefined : e.json<WebhookDeliveryRecord>();
        });
        const list = records
          .filter((r): r is WebhookDeliveryRecord => r !== undefined && r.tenant === tenant && (opts.state === undefined || r.state === opts.state))
          .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id))
          .slice(0, opts.limit);
        return { deliveries: list, scanned: keys.length };
      }),

    retry: (tenant, id, deliveryId) =>
      guarded(async () => {
        await read(tenant, id);
        const key = webhookDeliveryKey(tenant, id, deliveryId);
        const e = await deliveries.get(key);
        if (e === null || e.operation !== 'PUT') {
          throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_WEBHOOK_DELIVERY_NOT_FOUND', { deliveryId, endpointId: id }, { details: { deliveryId, endpointId: id } });
        }
        const record = e.json<WebhookDeliveryRecord>();
        if (record.claim !== undefined && record.claim.until > now()) {
          throw INGEST_ERRORS.create(
            'ORDERWIRE_ERR_INGEST_WEBHOOK_DELIVERY_PENDING',
            { deliveryId },
            { details: { deliveryId, retryAfterSeconds: Math.max(1, Math.ceil((record.claim.until - now()) / 1000)) } },
          );
        }
        const next: WebhookDeliveryRecord = { ...record, state: 'pending', nextAttemptAt: now() };
        delete next.failedReason;
        delete next.claim;
        try {
          await deliveries.update(key, JSON.stringify(next), e.revision);
        } catch (err) {
          if (!isWrongLastSequence(err)) throw err;
          throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_WEBHOOK_DELIVERY_PENDING', { deliveryId }, { cause: err, details: { deliveryId } });
        }
        return next;
      }),
  };
}
