/**
 * Doorbells. ORDERS republishes the headers of every stored message to
 * `ow.ring.<order subject>` (see `ORDER_RING_PREFIX`), after the store — so a pull woken by a ring
 * finds its message, and the edge receives headers, not whole orders. The edge holds one
 * subscription per store with connected displays (`ow.ring.orders.<vp>.<tenant>.<store>.>`,
 * ref-counted) and rings exactly the mailboxes whose consumer filter lists the order subject.
 * Doorbells are at-most-once: a missed ring is caught by the mailbox's follow-up and sweep pulls.
 */
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { orderSubjectOfRing, parseOrderSubject, ringSubject, storeOrdersWildcard } from '@orderwire/contracts';
import type { Logger } from 'pino';

export interface Ringable {
  ring(): void;
}

export interface Doorbell {
  /** Rings `target` for every message on one of `subjects` (exact subjects, no wildcards). */
  register(target: Ringable, subjects: readonly string[]): void;
  unregister(target: Ringable, subjects: readonly string[]): void;
  /** Distinct store subscriptions held. */
  readonly subscriptions: number;
  close(): void;
}

/** `orders.<vp>.<tenant>.<store>.<...>` → the store's ring wildcard `ow.ring.orders.<vp>.<tenant>.<store>.>` */
export function storeWildcard(subject: string): string {
  const p = parseOrderSubject(subject);
  // Filters are built by contracts; anything else rings on its own subject only.
  return ringSubject(p === undefined ? subject : storeOrdersWildcard(p.tenant, p.store));
}

/** Observes every ring received: `matched` false when no registered mailbox listens on its subject. */
export type RingObserver = (matched: boolean) => void;

export function createDoorbell(nc: NatsConnection, logger: Logger, observe?: RingObserver): Doorbell {
  /**
   * Who rings on each subject: one mailbox (the common case: a display's own subject, its
   * station's with one display per station) or a Set of them — a Set per subject and display
   * was a measurable part of what a connected display costs (bench/session-memory.mjs).
   */
  const bySubject = new Map<string, Ringable | Set<Ringable>>();
  const stores = new Map<string, { sub: Subscription; refs: number }>();

  function onRing(subject: string): void {
    const targets = bySubject.get(subject);
    observe?.(targets !== undefined);
    if (targets === undefined) return;
    if (!(targets instanceof Set)) targets.ring();
    else for (const t of targets) t.ring();
  }

  function retain(wildcard: string): void {
    const s = stores.get(wildcard);
    if (s !== undefined) {
      s.refs++;
      return;
    }
    const sub = nc.subscribe(wildcard, {
      callback: (err, msg) => {
        if (err !== null) logger.error({ err, subject: wildcard }, 'doorbell subscription failed');
        else {
          const subject = orderSubjectOfRing(msg.subject);
          if (subject !== undefined) onRing(subject);
        }
      },
    });
    stores.set(wildcard, { sub, refs: 1 });
  }

  function releaseStore(wildcard: string): void {
    const s = stores.get(wildcard);
    if (s === undefined) return;
    if (--s.refs > 0) return;
    stores.delete(wildcard);
    if (!nc.isClosed()) s.sub.unsubscribe();
  }

  return {
    register(target, subjects) {
      for (const subject of new Set(subjects)) {
        const current = bySubject.get(subject);
        if (current === target || (current instanceof Set && current.has(target))) continue;
        if (current === undefined) bySubject.set(subject, target);
        else if (current instanceof Set) current.add(target);
        else bySubject.set(subject, new Set([current, target]));
        retain(storeWildcard(subject));
      }
    },
    unregister(target, subjects) {
      for (const subject of new Set(subjects)) {
        const current = bySubject.get(subject);
        if (current === target) bySubject.delete(subject);
        else if (!(current instanceof Set) || !current.delete(target)) continue;
        else if (current.size === 1) bySubject.set(subject, current.values().next().value!);
        releaseStore(storeWildcard(subject));
      }
    },
    get subscriptions() {
      return stores.size;
    },
    close() {
      for (const { sub } of stores.values()) if (!nc.isClosed()) sub.unsubscribe();
      stores.clear();
      bySubject.clear();
    },
  };
}
