/**
 * From an advisory to "which order, which display": fetch the original message from ORDERS by
 * stream sequence, then find tenant, store and display.
 *
 * Mailbox names are `mailbox_<len>_<tenant>_<displayId>` (contracts `displayConsumerName`),
 * which name tenant and display unambiguously; the store comes from the original's subject, the
 * consumer's own display subject, or the registry. A message whose subject is of another tenant
 * (or is another display's own subject) is never filed under this display: an edge terminates
 * such a foreign message, and its order is not this tenant's to read or replay.
 *
 * Advisories about consumers still under the legacy name `display_<tenant>_<displayId>` (ids may
 * contain `_`, so the name alone is ambiguous: `display_a_b_c` is tenant `a` display `b_c`, or
 * tenant `a_b` display `c`) are resolved by evidence, most direct first:
 *   1. the original's subject: `orders.<tenant>.<store>.display.<id>` names everything;
 *      `orders.<tenant>.<store>.<station>` names the tenant, and the display is what follows the
 *      `display_<tenant>_` prefix of the consumer name — unambiguous once the tenant is known;
 *   2. the consumer itself (original expired): its filter subjects contain the display's own
 *      subject, which names tenant, store and display;
 *   3. the display registry (consumer deleted too): every split of the name is tried against
 *      `ow_displays`, and the record whose `consumer` is this name wins.
 * A consumer that is neither is not a display mailbox and not ours to dead-letter.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  DISPLAY_CONSUMER_PREFIX,
  LEGACY_DISPLAY_CONSUMER_PREFIX,
  displayConsumerName,
  displayRegistryKey,
  HEADERS,
  isValidId,
  isValidOrderId,
  legacyDisplayConsumerName,
  legacyDisplayConsumerSplits,
  parseDisplayConsumerName,
  displaySubject,
  parseLegacyOrderSubject,
  parseOrderSubject,
  type DisplayRecord,
  type ParsedLegacyOrderSubject,
} from '@orderwire/contracts';
import { KV_BUCKETS, LEGACY_ORDERS_STREAM, listOrderStreams } from '@orderwire/platform';
import type { StoredOriginal } from './entry.js';

/** Whether a consumer name is a display mailbox (current or legacy layout). */
export function isDisplayMailbox(consumer: string): boolean {
  return consumer.startsWith(DISPLAY_CONSUMER_PREFIX) || consumer.startsWith(LEGACY_DISPLAY_CONSUMER_PREFIX);
}

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
  /** The message at `seq` of order stream `stream`, or undefined when it is gone. */
  original(stream: string, seq: number): Promise<Original | undefined>;
  /** Whose the failure on `consumer` of order stream `stream` is. */
  target(stream: string, consumer: string, original: Original | undefined): Promise<Target | undefined>;
  /** Creation time of an order stream (its incarnation); cached for `ORDERS_INFO_TTL_MS`. */
  ordersCreated(stream: string): Promise<string>;
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
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.ConsumerNotFound || err.code === JetStreamApiCodes.StreamNotFound);
}

/** Every way to read a legacy `display_<tenant>_<displayId>` as two valid ids. */
export const candidateSplits = legacyDisplayConsumerSplits;

/** An order subject of `stream`: the legacy `ORDERS` stream holds the pre-partition layout. */
function parseSubjectOf(stream: string, subject: string): ParsedLegacyOrderSubject | undefined {
  return stream === LEGACY_ORDERS_STREAM ? parseLegacyOrderSubject(subject) : parseOrderSubject(subject);
}

/** The display's own subject among a consumer's filter subjects. */
function mailboxIn(stream: string, subjects: readonly string[]): { tenant: string; store: string; displayId: string; subject: string } | undefined {
  for (const subject of subjects) {
    const p = parseSubjectOf(stream, subject);
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
  const created = new Map<string, { value: string; at: number }>();
  let registry: KV | undefined;

  async function kv(): Promise<KV> {
    registry ??= await new Kvm(options.nc).open(KV_BUCKETS.DISPLAYS);
    return registry;
  }

  async function consumerSubjects(stream: string, consumer: string): Promise<string[] | undefined> {
    try {
      const info = await jsm.consumers.info(stream, consumer);
      const c = info.config;
      return c.filter_subjects ?? (c.filter_subject === undefined ? [] : [c.filter_subject]);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** A current mailbox names its display; only the store is looked up. */
  async function mailboxTarget(
    stream: string,
    consumer: string,
    mailbox: { tenant: string; displayId: string },
    original: Original | undefined,
  ): Promise<Target | undefined> {
    const { tenant, displayId } = mailbox;
    if (original !== undefined) {
      const p = parseSubjectOf(stream, original.stored.subject);
      // Foreign: another tenant's order, or another display's own subject. Not this tenant's DLQ.
      if (p === undefined || p.tenant !== tenant || (p.kind === 'display' && p.displayId !== displayId)) return undefined;
      return { tenant, storeId: p.store, displayId, via: 'subject' };
    }
    const subjects = await consumerSubjects(stream, consumer);
    const own = subjects === undefined ? undefined : mailboxIn(stream, subjects);
    if (own !== undefined && own.tenant === tenant && own.displayId === displayId) return { tenant, storeId: own.store, displayId, via: 'consumer' };
    const e = await (await kv()).get(displayRegistryKey(tenant, displayId));
    let storeId: string | null = null;
    if (e !== null && e.operation === 'PUT') {
      try {
        const record = e.json<Partial<DisplayRecord>>();
        if (isValidId(record.storeId)) storeId = record.storeId;
      } catch {
        // An unreadable record still leaves tenant and display known.
      }
    }
    return { tenant, storeId, displayId, via: 'registry' };
  }

  return {
    async ordersCreated(stream) {
      let c = created.get(stream);
      if (c === undefined || Date.now() - c.at > ORDERS_INFO_TTL_MS) {
        const info = await jsm.streams.info(stream);
        c = { value: info.created, at: Date.now() };
        created.set(stream, c);
      }
      return c.value;
    },

    async original(stream, seq) {
      const m = await jsm.streams.getMessage(stream, { seq });
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

    async target(stream, consumer, original) {
      const mailbox = parseDisplayConsumerName(consumer);
      if (mailbox !== undefined) return mailboxTarget(stream, consumer, mailbox, original);
      if (!consumer.startsWith(LEGACY_DISPLAY_CONSUMER_PREFIX)) return undefined;
      if (original !== undefined) {
        const p = parseSubjectOf(stream, original.stored.subject);
        if (p?.kind === 'display' && legacyDisplayConsumerName(p.tenant, p.displayId) === consumer) {
          return { tenant: p.tenant, storeId: p.store, displayId: p.displayId, via: 'subject' };
        }
        if (p?.kind === 'station') {
          const prefix = `${LEGACY_DISPLAY_CONSUMER_PREFIX}${p.tenant}_`;
          const displayId = consumer.slice(prefix.length);
          if (consumer.startsWith(prefix) && isValidId(displayId)) {
            return { tenant: p.tenant, storeId: p.store, displayId, via: 'subject' };
          }
        }
      }
      const subjects = await consumerSubjects(stream, consumer);
      const own = subjects === undefined ? undefined : mailboxIn(stream, subjects);
      if (own !== undefined && legacyDisplayConsumerName(own.tenant, own.displayId) === consumer) {
        return { tenant: own.tenant, storeId: own.store, displayId: own.displayId, via: 'consumer' };
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
      // The mailbox is on its store's partition stream — or, while a repartition retires it, on
      // two (the legacy one with the old subject layout, or a mailbox not migrated yet under its
      // legacy name). Its own subject (checked below) proves whose it is; the replay goes to the
      // display subject contracts builds, which lands in the stream that owns its vp now.
      for (const stream of [...(await listOrderStreams(jsm)), LEGACY_ORDERS_STREAM]) {
        const subjects =
          (await consumerSubjects(stream, displayConsumerName(tenant, displayId))) ??
          (await consumerSubjects(stream, legacyDisplayConsumerName(tenant, displayId)));
        if (subjects === undefined) continue;
        const mailbox = mailboxIn(stream, subjects);
        if (mailbox === undefined || mailbox.tenant !== tenant || mailbox.displayId !== displayId) return undefined;
        return { subject: displaySubject(tenant, mailbox.store, displayId), storeId: mailbox.store };
      }
      return undefined;
    },
  };
}
