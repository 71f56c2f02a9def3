/**
 * The screen's ticket state: active tickets, the bump history that Recall reads, and the ids
 * already shown — persisted to the browser's storage on every change, synchronously, BEFORE the
 * SDK acks a delivery. That is what makes the screen exactly-once across reloads:
 *
 *   delivery arrives ──▶ id already known? ──yes──▶ ack, change nothing (a redelivery after a
 *        │                                         reload, a reconnect or an edge restart)
 *        no
 *        ▼
 *   add ticket, persist ──▶ handler returns ──▶ SDK acks
 *
 * A reload before the ack gets the message again and finds its id; a reload after the ack never
 * gets it again. A bumped ticket keeps its id in `seen`, so it never comes back. Pure logic on a
 * `StorageLike`: unit-tested in Node, used unchanged in the page.
 */

export interface TicketItem {
  name: string;
  qty: number;
  modifiers?: string[];
  notes?: string;
}

export interface Ticket {
  orderId: string;
  deliveryId: string;
  seq: number;
  station: string;
  items: TicketItem[];
  rush: boolean;
  /** Epoch ms when ingest accepted the order: ages are measured from here. */
  acceptedAt: number;
  customer?: string;
  /** Epoch ms when this screen first showed it. */
  shownAt: number;
}

export interface BumpedTicket {
  ticket: Ticket;
  bumpedAt: number;
}

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** What the SDK hands the app (`Delivery<unknown>`), narrowed to what a ticket needs. */
export interface IncomingDelivery {
  deliveryId: string;
  orderId: string;
  seq: number;
  acceptedAt: number;
  replay?: boolean;
  order: unknown;
}

export const STATE_VERSION = 1;
/** 5000 ids remembered as shown (a day of a busy kitchen); older ones can no longer come back. */
export const SEEN_MAX = 5_000;

interface PersistedState {
  v: typeof STATE_VERSION;
  active: Ticket[];
  bumped: BumpedTicket[];
  /** Order ids and delivery ids already shown, oldest first. */
  seen: string[];
}

export function storageKey(displayId: string): string {
  return `orderwire.display.tickets.${displayId}`;
}

export class MalformedOrderError extends Error {
  readonly code = 'ORDERWIRE_ERR_DISPLAY_MALFORMED_ORDER';
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Turns a delivery into a ticket; throws (→ the SDK rejects the delivery) when it cannot be shown. */
export function ticketFrom(delivery: IncomingDelivery, now: number): Ticket {
  const o = delivery.order as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null) throw new MalformedOrderError('order is not an object');
  const rawItems = o.items;
  if (!Array.isArray(rawItems) || rawItems.length === 0) throw new MalformedOrderError('order has no items');
  const items: TicketItem[] = rawItems.map((raw: unknown, i) => {
    const it = raw as Record<string, unknown> | null;
    if (typeof it !== 'object' || it === null || typeof it.name !== 'string' || typeof it.qty !== 'number') {
      throw new MalformedOrderError(`item ${i} needs a name and a qty`);
    }
    const item: TicketItem = { name: it.name, qty: it.qty };
    if (Array.isArray(it.modifiers)) item.modifiers = it.modifiers.filter((m): m is string => typeof m === 'string');
    const notes = str(it.notes);
    if (notes !== undefined && notes !== '') item.notes = notes;
    return item;
  });
  const customer = str((o.customer as Record<string, unknown> | undefined)?.name);
  return {
    orderId: delivery.orderId,
    deliveryId: delivery.deliveryId,
    seq: delivery.seq,
    station: str(o.station) ?? '',
    items,
    rush: o.priority === 'rush',
    acceptedAt: Number.isFinite(delivery.acceptedAt) ? delivery.acceptedAt : now,
    ...(customer === undefined || customer === '' ? {} : { customer }),
    shownAt: now,
  };
}

/** Rush first, then oldest first (by acceptance, then stream order). */
export function compareTickets(a: Ticket, b: Ticket): number {
  if (a.rush !== b.rush) return a.rush ? -1 : 1;
  return a.acceptedAt - b.acceptedAt || a.seq - b.seq;
}

export type AgeLevel = 'fresh' | 'warn' | 'late';

export function ageLevel(ageMs: number, warnMs: number, lateMs: number): AgeLevel {
  if (ageMs >= lateMs) return 'late';
  if (ageMs >= warnMs) return 'warn';
  return 'fresh';
}

/** `m:ss` up to an hour, then `h:mm:ss`. */
export function formatAge(ageMs: number): string {
  const s = Math.max(0, Math.floor(ageMs / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export interface AllDayLine {
  name: string;
  qty: number;
}

export type AddResult = 'added' | 'duplicate';

export class TicketBoard {
  private active: Ticket[] = [];
  private bumped: BumpedTicket[] = [];
  private seen: string[] = [];
  private seenSet = new Set<string>();
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly storage: StorageLike,
    private readonly key: string,
    private readonly recallHistory: number,
    private readonly seenMax: number = SEEN_MAX,
  ) {
    this.load();
  }

  /** Called after every change (add, bump, recall). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Active tickets in screen order. */
  tickets(): Ticket[] {
    return [...this.active].sort(compareTickets);
  }

  history(): readonly BumpedTicket[] {
    return this.bumped;
  }

  has(orderId: string): boolean {
    return this.active.some((t) => t.orderId === orderId);
  }

  /**
   * Shows a delivery once. A DLQ replay of an order that is not on screen is shown again (that is
   * what an operator's replay asks for); any copy of a delivery already shown is not.
   */
  add(delivery: IncomingDelivery, now: number): AddResult {
    const replayAgain = delivery.replay === true && !this.seenSet.has(delivery.deliveryId) && !this.has(delivery.orderId);
    if (!replayAgain && (this.seenSet.has(delivery.orderId) || this.seenSet.has(delivery.deliveryId))) return 'duplicate';
    const ticket = ticketFrom(delivery, now);
    this.active.push(ticket);
    this.remember(delivery.orderId);
    this.remember(delivery.deliveryId);
    this.changed();
    return 'added';
  }

  bump(orderId: string, now: number): Ticket | undefined {
    const i = this.active.findIndex((t) => t.orderId === orderId);
    if (i < 0) return undefined;
    const [ticket] = this.active.splice(i, 1);
    this.bumped.push({ ticket: ticket!, bumpedAt: now });
    if (this.bumped.length > this.recallHistory) this.bumped.splice(0, this.bumped.length - this.recallHistory);
    this.changed();
    return ticket;
  }

  /** Brings back the most recently bumped ticket. */
  recall(): Ticket | undefined {
    const last = this.bumped.pop();
    if (last === undefined) return undefined;
    this.active.push(last.ticket);
    this.changed();
    return last.ticket;
  }

  /** Total quantity per item name across active tickets, largest first. */
  allDay(): AllDayLine[] {
    const totals = new Map<string, number>();
    for (const t of this.active) for (const it of t.items) totals.set(it.name, (totals.get(it.name) ?? 0) + it.qty);
    return [...totals].map(([name, qty]) => ({ name, qty })).sort((a, b) => b.qty - a.qty || a.name.localeCompare(b.name));
  }

  private remember(id: string): void {
    if (this.seenSet.has(id)) return;
    this.seen.push(id);
    this.seenSet.add(id);
    if (this.seen.length > this.seenMax) for (const old of this.seen.splice(0, this.seen.length - this.seenMax)) this.seenSet.delete(old);
  }

  private changed(): void {
    this.save();
    for (const l of this.listeners) l();
  }

  private save(): void {
    const state: PersistedState = { v: STATE_VERSION, active: this.active, bumped: this.bumped, seen: this.seen };
    // Throws on a full or disabled storage: the delivery is then rejected and redelivered rather
    // than acked without a durable record of it.
    this.storage.setItem(this.key, JSON.stringify(state));
  }

  private load(): void {
    const raw = this.storage.getItem(this.key);
    if (raw === null) return;
    try {
      const state = JSON.parse(raw) as Partial<PersistedState>;
      if (state.v !== STATE_VERSION) return;
      this.active = Array.isArray(state.active) ? state.active : [];
      this.bumped = Array.isArray(state.bumped) ? state.bumped.slice(-this.recallHistory) : [];
      this.seen = Array.isArray(state.seen) ? state.seen.filter((s) => typeof s === 'string').slice(-this.seenMax) : [];
      this.seenSet = new Set(this.seen);
      // Anything on screen is seen, whatever the stored list says.
      for (const t of [...this.active, ...this.bumped.map((b) => b.ticket)]) {
        this.remember(t.orderId);
        this.remember(t.deliveryId);
      }
    } catch {
      // Unreadable state (hand-edited, another version): start empty rather than not at all.
      this.active = [];
      this.bumped = [];
      this.seen = [];
      this.seenSet = new Set();
    }
  }
}
