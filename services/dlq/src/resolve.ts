/**
 * From an advisory to "which order, which display": fetch the original message from ORDERS by
 * stream sequence, then find tenant, store and display.
 *
 * Consumer names are `display_<tenant>_<displayId>` and ids may contain `_`, so the name alone
 * is ambiguous (`display_a_b_c` is tenant `a` display `b_c`, or tenant `a_b` display `c`). The
 * split is decided by evidence, most direct first:
 *   1. the original's subject: `orders.<tenant>.<store>.display.<id>` names everything;
 *      `orders.<tenant>.<store>.<station>` names the tenant, and the display is what follows the
 *      `display_<tenant>_` prefix of the consumer name — unambiguous once the tenant is known;
 *   2. the consumer itself (original expired): its filter subjects contain the display's own
 *      subject, which names tenant, store and display;
 *   3. the display registry (consumer deleted too): every split of the name is tried against
 *      `ow_displays`, and the record whose `consumer` is this name wins.
 * A consumer that is not a display mailbox (`display_` prefix) is not ours to dead-letter.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  displayConsumerName,
  displayRegistryKey,
  HEADERS,
  isValidId,
  isValidOrderId,
  parseOrderSubject,
  type DisplayRecord,
} from '@orderwire/contracts';
import { KV_BUCKETS, STREAMS } from '@orderwire/platform';
import type { StoredOriginal } from './entry.js';

export const DISPLAY_CONSUMER_PREFIX = 'display_';

export interface Target {
  tenant: string;
  storeId: string | null;
  displayId: string;
  /** How the split was decided (logged). */
  via: 'subject' | 'consumer' | 'registry';
}

export interface Original {
  stored: StoredOriginal;
  orderId: string | null;
  traceId: string | null;
  /** `Ow-Dlq-Id` of a replayed copy: the entry it was replayed from. */
  dlqId: string | null;
  headerTenant: string | null;
}

export interface Resolver {
  /** The ORDERS message at `seq`, or undefined when it is gone. */
  original(seq: number): Promise<Original | undefined>;
  target(consumer: string, original: Original | undefined): Promise<Target | undefined>;
  /** Creation time of ORDERS (its incarnation); cached for `ORDERS_INFO_TTL_MS`. */
  ordersCreated(): Promise<string>;
  /** Subject of a display's own mailbox, from its consumer's filter subjects; undefined when it has no consumer. */
  displayMailbox(tenant: string, displayId: string): Promise<{ subject: string; storeId: string } | undefined>;
}

/** How long the ORDERS creation time is trusted before it is read again. */
export const ORDERS_INFO_TTL_MS = 60_000;

function headersOf(m: StoredMsg): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (m.header === undefined) return out;
  for (const [k, v] of m.header) out[k] = [...v];
  return out;
}

function first(h: Record<string, string[]>, name: string): string | null {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === want && v[0] !== undefined && v[0] !== '') return v[0];
  return null;
}

function envelopeField(data: Uint8Array, pick: (env: Record<string, unknown>) => unknown): unknown {
  try {
    const env = JSON.parse(new TextDecoder().decode(data)) as unknown;
    return env !== null && typeof env === 'object' ? pick(env as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound;
}

/** Every way to read `display_<tenant>_<displayId>` as two valid ids. */
export function candidateSplits(consumer: string): { tenant: string; displayId: string }[] {
  if (!consumer.startsWith(DISPLAY_CONSUMER_PREFIX)) return [];
  const rest = consumer.slice(DISPLAY_CONSUMER_PREFIX.length);
  const out: { tenant: string; displayId: string }[] = [];
  for (let i = rest.indexOf('_'); i !== -1; i = rest.indexOf('_', i + 1)) {
    const tenant = rest.slice(0, i);
    const displayId = rest.slice(i + 1);
    if (isValidId(tenant) && isValidId(displayId)) out.push({ tenant, displayId });
  }
  return out;
}

/** The display's own subject among a consumer's filter subjects. */
function mailboxIn(subjects: readonly string[]): { tenant: string; store: string; displayId: string; subject: string } | undefined {
  for (const subject of subjects) {
    const p = parseOrderSubject(subject);
    if (p?.kind === 'display') return { tenant: p.tenant, store: p.store, displayId: p.displayId, subject };
  }
  return undefined;
}

export interface ResolverOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
}

export function createResolver(options: ResolverOptions): Resolver {
  const { jsm } = options;
  let created: { value: string; at: number } | undefined;
  let registry: KV | undefined;

  async function kv(): Promise<KV> {
    registry ??= await new Kvm(options.nc).open(KV_BUCKETS.DISPLAYS);
    return registry;
  }

  async function consumerSubjects(consumer: string): Promise<string[] | undefined> {
    try {
      const info = await jsm.consumers.info(STREAMS.ORDERS, consumer);
      const c = info.config;
      return c.filter_subjects ?? (c.filter_subject === undefined ? [] : [c.filter_subject]);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  return {
    async ordersCreated() {
      if (created === undefined || Date.now() - created.at > ORDERS_INFO_TTL_MS) {
        const info = await jsm.streams.info(STREAMS.ORDERS);
        created = { value: info.created, at: Date.now() };
      }
      return created.value;
    },

    async original(seq) {
      const m = await jsm.streams.getMessage(STREAMS.ORDERS, { seq });
      if (m === null) return undefined;
      const headers = headersOf(m);
      const stored: StoredOriginal = {
        subject: m.subject,
        seq: m.seq,
        storedAt: m.time.toISOString(),
        headers,
        data: Buffer.from(m.data).toString('base64'),
      };
      let orderId = first(headers, HEADERS.orderId);
      if (orderId === null) {
        const fromBody = envelopeField(m.data, (e) => (e.order as { orderId?: unknown } | undefined)?.orderId);
        orderId = isValidOrderId(fromBody) ? fromBody : null;
      }
      let traceId = first(headers, HEADERS.traceId);
      if (traceId === null) {
        const fromBody = envelopeField(m.data, (e) => e.traceId);
        traceId = typeof fromBody === 'string' ? fromBody : null;
      }
      return { stored, orderId, traceId, dlqId: first(headers, HEADERS.dlqId), headerTenant: first(headers, HEADERS.tenant) };
    },

    async target(consumer, original) {
      if (!consumer.startsWith(DISPLAY_CONSUMER_PREFIX)) return undefined;
      if (original !== undefined) {
        const p = parseOrderSubject(original.stored.subject);
        if (p?.kind === 'display' && displayConsumerName(p.tenant, p.displayId) === consumer) {
          return { tenant: p.tenant, storeId: p.store, displayId: p.displayId, via: 'subject' };
        }
        if (p?.kind === 'station') {
          const prefix = `${DISPLAY_CONSUMER_PREFIX}${p.tenant}_`;
          const displayId = consumer.slice(prefix.length);
          if (consumer.startsWith(prefix) && isValidId(displayId)) {
            return { tenant: p.tenant, storeId: p.store, displayId, via: 'subject' };
          }
        }
      }
      const subjects = await consumerSubjects(consumer);
      const mailbox = subjects === undefined ? undefined : mailboxIn(subjects);
      if (mailbox !== undefined && displayConsumerName(mailbox.tenant, mailbox.displayId) === consumer) {
        return { tenant: mailbox.tenant, storeId: mailbox.store, displayId: mailbox.displayId, via: 'consumer' };
      }
      const splits = candidateSplits(consumer);
      if (splits.length === 0) return undefined;
      const bucket = await kv();
      for (const s of splits) {
        const e = await bucket.get(displayRegistryKey(s.tenant, s.displayId));
        if (e === null || e.operation !== 'PUT') continue;
        let record: Partial<DisplayRecord>;
        try {
          record = e.json<Partial<DisplayRecord>>();
        } catch {
          continue;
        }
        if (record.consumer === consumer || (record.tenant === s.tenant && record.displayId === s.displayId)) {
          return {
            tenant: s.tenant,
            storeId: isValidId(record.storeId) ? record.storeId : null,
            displayId: s.displayId,
            via: 'registry',
          };
        }
      }
      // A single possible split is still an answer: only the store is unknown.
      if (splits.length === 1) return { tenant: splits[0]!.tenant, storeId: null, displayId: splits[0]!.displayId, via: 'registry' };
      return undefined;
    },

    async displayMailbox(tenant, displayId) {
      const subjects = await consumerSubjects(displayConsumerName(tenant, displayId));
      if (subjects === undefined) return undefined;
      const mailbox = mailboxIn(subjects);
      if (mailbox === undefined || mailbox.tenant !== tenant || mailbox.displayId !== displayId) return undefined;
      return { subject: mailbox.subject, storeId: mailbox.store };
    },
  };
}
