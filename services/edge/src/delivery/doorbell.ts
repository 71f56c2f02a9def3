/**
 * Doorbells. ORDERS republishes the headers of every stored message to
 * `ow.ring.<order subject>` (see `ORDER_RING_PREFIX`), after the store — so a pull woken by a ring
 * finds its message, and the edge receives headers, not whole orders. The edge holds one core
 * subscription per distinct subject in its connected displays' consumer filters (a display's own
 * subject and its stations': `ow.ring.<subject>`), ref-counted by the mailboxes listening on it,
 * and rings exactly those mailboxes. nats-server therefore sends a ring only to the edges holding a
 * display that listens on its subject: a load balancer spreads a store's displays over the edges,
 * and the former subscription per store (`ow.ring.orders.<vp>.<tenant>.<store>.>`) brought every
 * order of the store to each of them, where all but one found no mailbox (ADR 0002).
 * Doorbells are at-most-once: a missed ring is caught by the mailbox's follow-up and sweep pulls.
 */
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { ringSubject } from '@orderwire/contracts';
import type { Logger } from 'pino';

export interface Ringable {
  ring(): void;
}

export interface Doorbell {
  /** Rings `target` for every message on one of `subjects` (the consumer's filter subjects). */
  register(target: Ringable, subjects: readonly string[]): void;
  unregister(target: Ringable, subjects: readonly string[]): void;
  /** Ring subscriptions held: one per distinct subject with a registered mailbox. */
  readonly subscriptions: number;
  close(): void;
}

/** Observes every ring received: `matched` false when no registered mailbox listens on its subject. */
export type RingObserver = (matched: boolean) => void;

/** One ring subject: its subscription and who listens on it. */
interface Bell {
  sub: Subscription | undefined;
  /**
   * One mailbox (the common case: a display's own subject, its station's with one display per
   * station) or a Set of them — a Set per subject and display was a measurable part of what a
   * connected display costs (bench/session-memory.mjs). Never an empty Set: the bell is shut
   * (undefined here, unsubscribed, out of the map) with its last mailbox.
   */
  targets: Ringable | Set<Ringable> | undefined;
}

export function createDoorbell(nc: NatsConnection, logger: Logger, observe?: RingObserver): Doorbell {
  const bells = new Map<string, Bell>();

  function open(subject: string, target: Ringable): Bell {
    const bell: Bell = { sub: undefined, targets: target };
    // The subscription is exact, so the callback knows its bell: no subject to decode or look up.
    bell.sub = nc.subscribe(ringSubject(subject), {
      callback: (err) => {
        if (err !== null) {
          logger.error({ err, subject }, 'doorbell subscription failed');
          return;
        }
        const targets = bell.targets;
        // Unsubscribed bells get nothing from nats.js; `unmatched` would mean interest kept for nobody.
        observe?.(targets !== undefined);
        if (targets === undefined) return;
        if (!(targets instanceof Set)) targets.ring();
        else for (const t of targets) t.ring();
      },
    });
    return bell;
  }

  function shut(subject: string, bell: Bell): void {
    bells.delete(subject);
    bell.targets = undefined;
    if (!nc.isClosed()) bell.sub?.unsubscribe();
  }

  return {
    register(target, subjects) {
      for (const subject of new Set(subjects)) {
        const bell = bells.get(subject);
        if (bell === undefined) {
          try {
            bells.set(subject, open(subject, target));
          } catch (err) {
            // A closed or draining connection refuses new subscriptions. Rings are a shortcut, not
            // the guarantee: the mailbox's connect, follow-up and sweep pulls still find its messages.
            logger.warn({ err, subject }, 'doorbell not subscribed');
          }
          continue;
        }
        const current = bell.targets;
        if (current === target || (current instanceof Set && current.has(target))) continue;
        if (current instanceof Set) current.add(target);
        else bell.targets = current === undefined ? target : new Set([current, target]);
      }
    },
    unregister(target, subjects) {
      for (const subject of new Set(subjects)) {
        const bell = bells.get(subject);
        if (bell === undefined) continue;
        const current = bell.targets;
        if (current === target) shut(subject, bell);
        else if (current instanceof Set && current.delete(target) && current.size === 1) bell.targets = current.values().next().value!;
      }
    },
    get subscriptions() {
      return bells.size;
    },
    close() {
      for (const [subject, bell] of [...bells]) shut(subject, bell);
    },
  };
}
