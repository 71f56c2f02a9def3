/**
 * The ticket screen: header (status, Recall, mute), stale-screen banner, the ticket grid and the
 * all-day panel. Rebuilt from the TicketBoard on every change; ages and colours tick once a
 * second in place. Keyboard / bump bar: ←/→/↑/↓ or 1–9 select, Enter bumps, R recalls.
 */
import type { ConnectionView } from './connection.js';
import { h } from './dom.js';
import { hhmm, type Strings } from './i18n.js';
import type { Chime } from './sound.js';
import { ageLevel, formatAge, type Ticket, type TicketBoard } from './tickets.js';

/** 4 s — how long a new ticket stays highlighted. */
export const NEW_TICKET_HIGHLIGHT_MS = 4_000;
/** 1 s — age refresh. */
const TICK_MS = 1_000;

export interface BoardViewOptions {
  root: HTMLElement;
  board: TicketBoard;
  strings: Strings;
  chime: Chime;
  displayId: string;
  ageWarnMs: number;
  ageLateMs: number;
}

export interface BoardView {
  /** A ticket that just arrived live: highlight it and chime. */
  announce(orderId: string): void;
  connection(view: ConnectionView): void;
  /**
   * Orders that expired while the screen was offline (the SDK's `orders_expired`): an alert that
   * stays until someone dismisses it (further notices add up).
   */
  ordersExpired(total: number): void;
  destroy(): void;
}

export function createBoardView(options: BoardViewOptions): BoardView {
  const { root, board, strings: t, chime } = options;
  const freshUntil = new Map<string, number>();
  let selected: string | undefined;

  const status = h('div', { role: 'status', class: 'status', 'data-state': 'connecting', 'aria-live': 'polite' }, t.connecting);
  const recallButton = h('button', { type: 'button', class: 'recall', 'aria-keyshortcuts': 'R' }, t.recall);
  const muteButton = h('button', { type: 'button', class: 'mute' });
  const banner = h('div', { role: 'alert', class: 'banner', hidden: true });
  let expiredCount = 0;
  const expiredText = h('span', {});
  const dismissExpired = h('button', { type: 'button', class: 'dismiss' }, t.dismiss);
  const expiredAlert = h('div', { role: 'alert', class: 'expired', hidden: true }, expiredText, dismissExpired);
  dismissExpired.addEventListener('click', () => {
    expiredCount = 0;
    expiredAlert.hidden = true;
  });
  const grid = h('main', { class: 'tickets', 'aria-label': t.title });
  const allDayList = h('ul', { class: 'allday-list' });
  const allDay = h('aside', { class: 'allday', 'aria-label': t.allDay }, h('h2', {}, t.allDay), allDayList);
  const screen = h(
    'div',
    { class: 'board' },
    h('header', { class: 'bar' }, h('span', { class: 'title' }, t.display(options.displayId)), status, recallButton, muteButton),
    banner,
    expiredAlert,
    h('div', { class: 'layout' }, grid, allDay),
    h('footer', { class: 'help' }, t.keyboardHelp),
  );
  root.replaceChildren(screen);

  const renderMute = (): void => {
    muteButton.textContent = chime.muted ? t.unmute : t.mute;
    muteButton.setAttribute('aria-pressed', String(chime.muted));
  };
  renderMute();

  const articles = new Map<string, HTMLElement>();

  function ticketArticle(ticket: Ticket, index: number): HTMLElement {
    const label = [t.order(ticket.orderId), ticket.station, ticket.rush ? t.rush : undefined].filter(Boolean).join(', ');
    const items = h(
      'ul',
      { class: 'items' },
      ...ticket.items.map((it) =>
        h(
          'li',
          { class: 'item' },
          h('span', { class: 'qty' }, `${it.qty}×`),
          h('span', { class: 'name' }, it.name),
          it.modifiers !== undefined && it.modifiers.length > 0 && h('ul', { class: 'mods' }, ...it.modifiers.map((m) => h('li', {}, m))),
          it.notes !== undefined && h('p', { class: 'notes' }, it.notes),
        ),
      ),
    );
    const bump = h('button', { type: 'button', class: 'bump' }, t.bump);
    bump.addEventListener('click', () => doBump(ticket.orderId));
    const article = h(
      'article',
      { class: 'ticket', 'aria-label': label, 'data-order-id': ticket.orderId, tabindex: '-1' },
      h(
        'header',
        {},
        h('span', { class: 'pos', 'aria-hidden': 'true' }, index < 9 ? String(index + 1) : ''),
        h('h3', { class: 'order-id' }, ticket.orderId),
        h('span', { class: 'age', title: t.age }),
      ),
      h(
        'div',
        { class: 'meta' },
        ticket.rush && h('span', { class: 'rush-tag' }, t.rush),
        h('span', { class: 'station' }, ticket.station),
        ticket.customer !== undefined && h('span', { class: 'customer' }, ticket.customer),
      ),
      items,
      bump,
    );
    article.classList.toggle('rush', ticket.rush);
    article.addEventListener('click', (e) => {
      if (e.target !== bump) select(ticket.orderId);
    });
    return article;
  }

  function tick(): void {
    const now = Date.now();
    for (const ticket of board.tickets()) {
      const el = articles.get(ticket.orderId);
      if (el === undefined) continue;
      const age = now - ticket.acceptedAt;
      const level = ageLevel(age, options.ageWarnMs, options.ageLateMs);
      el.dataset.age = level;
      const ageEl = el.querySelector('.age');
      if (ageEl !== null) ageEl.textContent = formatAge(age);
      const until = freshUntil.get(ticket.orderId);
      el.classList.toggle('new', until !== undefined && until > now);
      if (until !== undefined && until <= now) freshUntil.delete(ticket.orderId);
    }
  }

  function render(): void {
    const tickets = board.tickets();
    if (selected !== undefined && !tickets.some((x) => x.orderId === selected)) selected = tickets[0]?.orderId;
    if (selected === undefined) selected = tickets[0]?.orderId;
    articles.clear();
    const els = tickets.map((ticket, i) => {
      const el = ticketArticle(ticket, i);
      el.classList.toggle('selected', ticket.orderId === selected);
      articles.set(ticket.orderId, el);
      return el;
    });
    if (els.length === 0) grid.replaceChildren(h('p', { class: 'empty' }, t.noTickets));
    else grid.replaceChildren(...els);
    allDayList.replaceChildren(
      ...board.allDay().map((line) => h('li', {}, h('span', { class: 'qty' }, String(line.qty)), h('span', { class: 'name' }, line.name))),
    );
    recallButton.disabled = board.history().length === 0;
    recallButton.title = board.history().length === 0 ? t.recallNothing : '';
    tick();
  }

  function select(orderId: string | undefined): void {
    if (orderId === undefined) return;
    selected = orderId;
    for (const [id, el] of articles) el.classList.toggle('selected', id === orderId);
    articles.get(orderId)?.scrollIntoView({ block: 'nearest' });
  }

  function doBump(orderId: string | undefined): void {
    if (orderId === undefined) return;
    const order = board.tickets().map((x) => x.orderId);
    const i = order.indexOf(orderId);
    board.bump(orderId, Date.now());
    // Selection stays at the same position, like a bump bar.
    const next = board.tickets();
    selected = next[Math.min(i, next.length - 1)]?.orderId;
    render();
  }

  function doRecall(): void {
    const ticket = board.recall();
    if (ticket !== undefined) {
      selected = ticket.orderId;
      render();
    }
  }

  recallButton.addEventListener('click', doRecall);
  muteButton.addEventListener('click', () => {
    chime.setMuted(!chime.muted);
    renderMute();
  });

  const onKey = (e: KeyboardEvent): void => {
    chime.unlock();
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const target = e.target as HTMLElement | null;
    if (target?.tagName === 'INPUT' || target?.tagName === 'TEXTAREA') return;
    const ids = board.tickets().map((x) => x.orderId);
    const i = selected === undefined ? -1 : ids.indexOf(selected);
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') select(ids[Math.min(ids.length - 1, i + 1)]);
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') select(ids[Math.max(0, i - 1)]);
    else if (/^[1-9]$/.test(e.key)) select(ids[Number(e.key) - 1]);
    else if (e.key === 'Enter') {
      // Enter on a focused button is that button's click, not a bump of the selection.
      if (target?.tagName === 'BUTTON') return;
      doBump(selected);
    } else if (e.key === 'r' || e.key === 'R') doRecall();
    else return;
    e.preventDefault();
  };
  const onPointer = (): void => chime.unlock();
  document.addEventListener('keydown', onKey);
  document.addEventListener('pointerdown', onPointer);
  const unsubscribe = board.onChange(render);
  const ticker = setInterval(tick, TICK_MS);
  render();

  return {
    announce(orderId) {
      freshUntil.set(orderId, Date.now() + NEW_TICKET_HIGHLIGHT_MS);
      tick();
      chime.play();
    },
    connection(view) {
      status.dataset.state = view.state;
      const since = view.since === undefined ? '' : hhmm(view.since);
      status.textContent =
        view.state === 'connected' ? t.connected : view.state === 'reconnecting' ? t.reconnecting : view.state === 'offline' ? t.offlineSince(since) : t.connecting;
      banner.hidden = view.state !== 'offline';
      banner.textContent = view.state === 'offline' ? t.offlineBanner(since) : '';
      document.body.dataset.connection = view.state;
    },
    ordersExpired(total) {
      if (total <= 0) return;
      expiredCount += total;
      expiredText.textContent = t.ordersExpired(expiredCount);
      expiredAlert.hidden = false;
    },
    destroy() {
      clearInterval(ticker);
      unsubscribe();
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('pointerdown', onPointer);
    },
  };
}
