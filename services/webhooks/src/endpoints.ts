/**
 * The dispatcher's view of every webhook endpoint: a KV mirror of `ow_webhooks` indexed by
 * tenant, so an event finds its subscribers without a read. The only writes are the two the
 * dispatcher owns — disabling an endpoint (410, sustained failure) and the start/end of a run of
 * failures — by compare-and-set, so a concurrent change from the management API is never lost.
 */
import { Kvm, type KV } from '@nats-io/kv';
import { webhookEndpointKey, type WebhookEndpointRecord, type WebhookEventType } from '@orderwire/contracts';
import { createKvMirror, isWrongLastSequence, KV_BUCKETS, type KvMirror, type Logger, type NatsConnection } from '@orderwire/platform';

/** Compare-and-set attempts of one dispatcher write before it gives up (logged). */
const CAS_ATTEMPTS = 3;

export interface Endpoints {
  get(tenant: string, id: string): WebhookEndpointRecord | undefined;
  /** Enabled endpoints of `tenant` subscribed to `type`. */
  subscribers(tenant: string, type: WebhookEventType): WebhookEndpointRecord[];
  /** Tenants with at least one enabled endpoint subscribed to one of `types`. */
  tenantsSubscribedTo(types: readonly WebhookEventType[]): string[];
  counts(): { enabled: number; disabled: number };
  /** Disables it with a reason (no-op when already disabled or gone). True when this call disabled it. */
  disable(tenant: string, id: string, reason: 'gone' | 'failing'): Promise<boolean>;
  /** Records the start of a run of failures (once) and returns when it started. */
  failing(tenant: string, id: string, sinceMs: number): Promise<number | undefined>;
  /** Ends a run of failures. */
  healthy(tenant: string, id: string): Promise<void>;
  synced(timeoutMs: number): Promise<void>;
  watching(): boolean;
  stop(): Promise<void>;
}

export async function createEndpoints(deps: { nc: NatsConnection; logger: Logger; onChange?: () => void }): Promise<Endpoints> {
  const log = deps.logger.child({ component: 'endpoints' });
  const byTenant = new Map<string, Map<string, WebhookEndpointRecord>>();
  const kv: KV = await new Kvm(deps.nc).open(KV_BUCKETS.WEBHOOKS);

  const mirror: KvMirror<WebhookEndpointRecord> = await createKvMirror<WebhookEndpointRecord>({
    nc: deps.nc,
    bucket: KV_BUCKETS.WEBHOOKS,
    logger: deps.logger,
    parse: (key, value) => {
      const r = value as WebhookEndpointRecord | undefined;
      if (r === undefined || r === null || typeof r !== 'object' || r.v !== 1 || webhookEndpointKey(r.tenant, r.id) !== key) return undefined;
      return r;
    },
    onChange: (key, value) => {
      const dot = key.indexOf('.');
      const tenant = key.slice(0, dot);
      const id = key.slice(dot + 1);
      let m = byTenant.get(tenant);
      if (value === undefined) {
        m?.delete(id);
        if (m?.size === 0) byTenant.delete(tenant);
      } else {
        if (m === undefined) {
          m = new Map<string, WebhookEndpointRecord>();
          byTenant.set(tenant, m);
        }
        m.set(id, value);
      }
      deps.onChange?.();
    },
  });

  /** Read-modify-write by compare-and-set; `change` returns undefined for "nothing to do". */
  async function modify(tenant: string, id: string, change: (r: WebhookEndpointRecord) => WebhookEndpointRecord | undefined): Promise<WebhookEndpointRecord | undefined> {
    const key = webhookEndpointKey(tenant, id);
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const e = await kv.get(key);
      if (e === null || e.operation !== 'PUT') return undefined;
      const next = change(e.json<WebhookEndpointRecord>());
      if (next === undefined) return undefined;
      try {
        await kv.update(key, JSON.stringify(next), e.revision);
        return next;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    log.warn({ tenant, endpointId: id }, 'endpoint kept changing; dispatcher update skipped');
    return undefined;
  }

  return {
    get: (tenant, id) => byTenant.get(tenant)?.get(id),
    subscribers(tenant, type) {
      const m = byTenant.get(tenant);
      if (m === undefined) return [];
      return [...m.values()].filter((e) => e.enabled && e.events.includes(type));
    },
    tenantsSubscribedTo(types) {
      const out: string[] = [];
      for (const [tenant, m] of byTenant) {
        if ([...m.values()].some((e) => e.enabled && e.events.some((t) => types.includes(t)))) out.push(tenant);
      }
      return out;
    },
    counts() {
      let enabled = 0;
      let disabled = 0;
      for (const m of byTenant.values()) {
        for (const e of m.values()) {
          if (e.enabled) enabled++;
          else disabled++;
        }
      }
      return { enabled, disabled };
    },
    async disable(tenant, id, reason) {
      const at = new Date().toISOString();
      const r = await modify(tenant, id, (e) => (e.enabled ? { ...e, enabled: false, disabledReason: reason, disabledAt: at, updatedAt: at } : undefined));
      if (r !== undefined) log.warn({ tenant, endpointId: id, reason }, 'webhook endpoint disabled');
      return r !== undefined;
    },
    async failing(tenant, id, sinceMs) {
      const cur = byTenant.get(tenant)?.get(id);
      if (cur?.failingSince !== undefined) return Date.parse(cur.failingSince);
      const r = await modify(tenant, id, (e) => (e.failingSince === undefined ? { ...e, failingSince: new Date(sinceMs).toISOString() } : undefined));
      return r?.failingSince === undefined ? sinceMs : Date.parse(r.failingSince);
    },
    async healthy(tenant, id) {
      if (byTenant.get(tenant)?.get(id)?.failingSince === undefined) return;
      await modify(tenant, id, (e) => {
        if (e.failingSince === undefined) return undefined;
        const next = { ...e };
        delete next.failingSince;
        return next;
      });
    },
    synced: (ms) => mirror.synced(ms),
    watching: () => mirror.watching(),
    stop: () => mirror.stop(),
  };
}
