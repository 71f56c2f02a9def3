/**
 * The screen's ticket state, on an in-memory Storage: exactly once across "reloads" (a new
 * board on the same storage), bump/recall history, all-day counts, ordering and age colours.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionTracker, type ConnectionView } from '../web/src/connection.js';
import { hhmm, pickStrings } from '../web/src/i18n.js';
import { parseSettings } from '../web/src/settings.js';
import {
  ageLevel,
  formatAge,
  MalformedOrderError,
  SEEN_MAX,
  storageKey,
  TicketBoard,
  type IncomingDelivery,
  type StorageLike,
} from '../web/src/tickets.js';
import { loadDisplayConfig } from '../src/config.js';
import { runtimeSettings } from '../src/settings.js';

function memoryStorage(): StorageLike & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

let seq = 0;
function delivery(orderId: string, order: Record<string, unknown> = {}, extra: Partial<IncomingDelivery> = {}): IncomingDelivery {
  seq++;
  return {
    deliveryId: `ORDERS:${seq}`,
    orderId,
    seq,
    acceptedAt: 1_000 + seq,
    order: { orderId, storeId: 's', station: 'grill', items: [{ name: 'Burger', qty: 1 }], ...order },
    ...extra,
  };
}

const KEY = storageKey('d1');

describe('TicketBoard', () => {
  it('shows a delivery once: a redelivery, the same order under another delivery id, and a reload all find it', () => {
    const storage = memoryStorage();
    const board = new TicketBoard(storage, KEY, 5);
    const d = delivery('o1');
    expect(board.add(d, 0)).toBe('added');
    expect(board.add(d, 0)).toBe('duplicate');
    expect(board.add({ ...d, deliveryId: 'ORDERS:999' }, 0)).toBe('duplicate');
    const reloaded = new TicketBoard(storage, KEY, 5);
    expect(reloaded.tickets().map((t) => t.orderId)).toEqual(['o1']);
    expect(reloaded.add(d, 0)).toBe('duplicate');
  });

  it('never brings a bumped ticket back, even after a reload, unless Recall does', () => {
    const storage = memoryStorage();
    const board = new TicketBoard(storage, KEY, 5);
    const d = delivery('o2');
    board.add(d, 0);
    board.bump('o2', 1);
    const reloaded = new TicketBoard(storage, KEY, 5);
    expect(reloaded.add(d, 2)).toBe('duplicate');
    expect(reloaded.tickets()).toEqual([]);
    expect(reloaded.recall()?.orderId).toBe('o2');
    expect(new TicketBoard(storage, KEY, 5).tickets().map((t) => t.orderId)).toEqual(['o2']);
  });

  it('shows a DLQ replay of an order that is no longer on screen, once', () => {
    const board = new TicketBoard(memoryStorage(), KEY, 5);
    board.add(delivery('o3'), 0);
    board.bump('o3', 1);
    const replay = delivery('o3', {}, { replay: true });
    expect(board.add(replay, 2)).toBe('added');
    expect(board.add(replay, 3)).toBe('duplicate');
  });

  it('keeps a short recall history, newest first', () => {
    const board = new TicketBoard(memoryStorage(), KEY, 2);
    for (const id of ['a', 'b', 'c']) board.add(delivery(id), 0);
    for (const id of ['a', 'b', 'c']) board.bump(id, 0);
    expect(board.history().map((b) => b.ticket.orderId)).toEqual(['b', 'c']);
    expect(board.recall()?.orderId).toBe('c');
    expect(board.recall()?.orderId).toBe('b');
    expect(board.recall()).toBeUndefined();
  });

  it('sorts rush first, then oldest; counts items all day across active tickets', () => {
    const board = new TicketBoard(memoryStorage(), KEY, 5);
    board.add(delivery('old', { items: [{ name: 'Fries', qty: 2 }] }), 0);
    board.add(delivery('new', { items: [{ name: 'Burger', qty: 1, modifiers: ['no onion'] }, { name: 'Fries', qty: 1 }] }), 0);
    board.add(delivery('rush', { priority: 'rush', items: [{ name: 'Burger', qty: 3 }] }), 0);
    expect(board.tickets().map((t) => t.orderId)).toEqual(['rush', 'old', 'new']);
    expect(board.allDay()).toEqual([
      { name: 'Burger', qty: 4 },
      { name: 'Fries', qty: 3 },
    ]);
    board.bump('rush', 0);
    expect(board.allDay()).toEqual([
      { name: 'Fries', qty: 3 },
      { name: 'Burger', qty: 1 },
    ]);
  });

  it('refuses an order it cannot show (the SDK then rejects the delivery) and persists nothing for it', () => {
    const storage = memoryStorage();
    const board = new TicketBoard(storage, KEY, 5);
    expect(() => board.add(delivery('bad', { items: [] }), 0)).toThrow(MalformedOrderError);
    expect(() => board.add(delivery('bad2', { items: [{ qty: 1 }] }), 0)).toThrow(MalformedOrderError);
    expect(storage.data.size).toBe(0);
  });

  it('fails the delivery when storage refuses the write, so it is redelivered rather than acked unrecorded', () => {
    const storage = memoryStorage();
    storage.setItem = () => {
      throw new Error('QuotaExceededError');
    };
    expect(() => new TicketBoard(storage, KEY, 5).add(delivery('q'), 0)).toThrow(/Quota/);
  });

  it('bounds the remembered ids (oldest forgotten first)', () => {
    const storage = memoryStorage();
    const board = new TicketBoard(storage, KEY, 1, 20);
    for (let i = 0; i < 30; i++) {
      board.add(delivery(`s${i}`), 0);
      board.bump(`s${i}`, 0);
    }
    const state = JSON.parse(storage.getItem(KEY)!) as { seen: string[] };
    expect(state.seen).toHaveLength(20);
    expect(state.seen).toContain('s29');
    expect(state.seen).not.toContain('s0');
    expect(SEEN_MAX).toBeGreaterThanOrEqual(1_000);
  });

  it('starts empty from unreadable state', () => {
    const storage = memoryStorage();
    storage.setItem(KEY, '{not json');
    expect(new TicketBoard(storage, KEY, 5).tickets()).toEqual([]);
  });
});

describe('ages', () => {
  it('colours by thresholds and formats m:ss / h:mm:ss', () => {
    expect(ageLevel(299_999, 300_000, 480_000)).toBe('fresh');
    expect(ageLevel(300_000, 300_000, 480_000)).toBe('warn');
    expect(ageLevel(480_000, 300_000, 480_000)).toBe('late');
    expect(formatAge(65_000)).toBe('1:05');
    expect(formatAge(3_725_000)).toBe('1:02:05');
    expect(formatAge(-5)).toBe('0:00');
  });
});

describe('strings', () => {
  it('picks Korean for ko*, English otherwise', () => {
    expect(pickStrings(['ko-KR', 'en']).connected).toBe('연결됨');
    expect(pickStrings(['fr-FR', 'ko']).lang).toBe('ko');
    expect(pickStrings(['de-DE']).connected).toBe('Connected');
    expect(pickStrings(['en-GB']).enrollmentCode).toBe('Enrollment code');
    expect(hhmm(new Date(2026, 0, 1, 7, 5).getTime())).toBe('07:05');
  });
});

describe('ConnectionTracker', () => {
  function fakeTimers(): { timers: ConstructorParameters<typeof ConnectionTracker>[2]; advance(ms: number): void } {
    let now = 0;
    let pending: { at: number; fn: () => void } | undefined;
    return {
      timers: {
        now: () => now,
        setTimeout: (fn, ms) => (pending = { at: now + ms, fn }),
        clearTimeout: () => (pending = undefined),
      },
      advance(ms) {
        now += ms;
        if (pending !== undefined && pending.at <= now) {
          const p = pending;
          pending = undefined;
          p.fn();
        }
      },
    };
  }

  it('goes connecting → offline when no edge answers, connected → reconnecting → offline after a loss, and back', () => {
    const clock = fakeTimers();
    const views: ConnectionView[] = [];
    const tracker = new ConnectionTracker(10_000, (v) => views.push(v), clock.timers);
    clock.advance(10_000);
    expect(views.at(-1)).toEqual({ state: 'offline', since: 0 });
    tracker.connected();
    expect(views.at(-1)).toEqual({ state: 'connected', since: undefined });
    clock.advance(5_000);
    tracker.disconnected();
    expect(views.at(-1)).toEqual({ state: 'reconnecting', since: 15_000 });
    clock.advance(9_999);
    expect(views.at(-1)?.state).toBe('reconnecting');
    tracker.connected();
    clock.advance(20_000);
    expect(views.at(-1)?.state).toBe('connected');
    tracker.disconnected();
    clock.advance(10_000);
    expect(views.at(-1)).toEqual({ state: 'offline', since: 44_999 });
  });
});

describe('settings', () => {
  it('serves what the page accepts', () => {
    const settings = runtimeSettings(loadDisplayConfig({ DISPLAY_DEVELOPMENT: 'true' }));
    expect(parseSettings(JSON.parse(JSON.stringify(settings)))).toEqual(settings);
    expect(settings).toMatchObject({ authUrl: 'http://127.0.0.1:3001', edgeUrls: ['http://127.0.0.1:3003', 'http://127.0.0.1:3013'] });
  });

  it('the page refuses broken settings with a reason', () => {
    expect(() => parseSettings({ authUrl: 'x' })).toThrow(/edgeUrls/);
    expect(() => parseSettings({ edgeUrls: ['ftp://x'], authUrl: 'http://a' })).toThrow(/edgeUrls\[0\]/);
  });
});
