/**
 * The display app: runtime settings from `/config.json`, the display SDK's TokenManager (refresh
 * token in localStorage) and DisplayClient (failover across the edge URLs, exactly-once handler
 * calls), and two screens — enrollment, and the ticket board.
 *
 *   load ──▶ tokens stored? ──no──▶ enrollment ──code accepted──▶ board
 *                 │ yes                  ▲                          │
 *                 └──────────▶ board ────┴── auth: family revoked / ┘
 *                                             display decommissioned (tokens forgotten)
 */
import {
  createDisplayClient,
  createTokenManager,
  isDisplaySdkError,
  webStorageTokenStore,
  type DisplayClient,
  type ReenrollInfo,
  type TokenManager,
} from '@orderwire/display-sdk';
import { createBoardView, type BoardView } from './board-view.js';
import { ConnectionTracker } from './connection.js';
import { h } from './dom.js';
import { pickStrings, type Strings } from './i18n.js';
import { parseSettings, type Settings } from './settings.js';
import { createChime, type Chime } from './sound.js';
import { storageKey, TicketBoard } from './tickets.js';
import './style.css';

/** 250 ms — first reconnect pause; doubles up to `reconnectMaxMs`. */
const RECONNECT_BASE_MS = 250;
/** 5 s — a handshake to a dead edge fails fast (refused); this bounds a silent one. */
const CONNECT_TIMEOUT_MS = 5_000;

const strings = pickStrings(navigator.languages.length > 0 ? navigator.languages : [navigator.language]);
document.documentElement.lang = strings.lang;
document.title = strings.title;
const root = document.getElementById('app')!;

interface Running {
  client: DisplayClient;
  view: BoardView;
  tracker: ConnectionTracker;
  offTokens: () => void;
}

let running: Running | undefined;

function fatal(message: string): void {
  root.replaceChildren(h('main', { class: 'fatal' }, h('p', { role: 'alert' }, message)));
}

/**
 * Auth answers a dead family with the same 401 whatever killed it; the edge said why just before
 * (`session:end` or the handshake refusal), so that reason, when there is one, names the cause.
 */
function reenrollMessage(t: Strings, info: ReenrollInfo, edgeReason: string | undefined): string {
  const decommissioned = edgeReason === 'display_decommissioned' || info.reason === 'display_decommissioned' || /decommission/i.test(info.message);
  return t.signedOut(decommissioned ? t.decommissioned : t.revoked);
}

function showEnrollment(settings: Settings, tokens: TokenManager, chime: Chime, message?: string): void {
  const input = h('input', {
    id: 'enrollment-code',
    name: 'enrollmentCode',
    autocomplete: 'off',
    autocapitalize: 'characters',
    spellcheck: 'false',
    required: true,
  });
  const button = h('button', { type: 'submit' }, strings.enroll);
  const notice = h('p', { role: 'alert', class: 'notice' }, message ?? '');
  const form = h(
    'form',
    { class: 'enroll-form' },
    h('label', { for: 'enrollment-code' }, strings.enrollmentCode),
    input,
    button,
  );
  root.replaceChildren(h('main', { class: 'enroll' }, h('h1', {}, strings.enrollTitle), h('p', {}, strings.enrollHelp), notice, form));
  input.focus();
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    chime.unlock();
    const code = input.value.trim();
    if (code === '') return;
    button.disabled = true;
    button.textContent = strings.enrolling;
    tokens.enroll(code).then(
      (info) => startBoard(settings, tokens, chime, info.displayId),
      (err: unknown) => {
        button.disabled = false;
        button.textContent = strings.enroll;
        const reason = isDisplaySdkError(err) ? (err.serverCode ?? err.message) : String(err);
        notice.textContent = strings.enrollFailed(reason);
      },
    );
  });
}

function stopBoard(): void {
  if (running === undefined) return;
  running.client.stop();
  running.tracker.stop();
  running.view.destroy();
  running.offTokens();
  running = undefined;
}

function startBoard(settings: Settings, tokens: TokenManager, chime: Chime, displayId: string): void {
  stopBoard();
  const board = new TicketBoard(localStorage, storageKey(displayId), settings.recallHistory);
  const view = createBoardView({ root, board, strings, chime, displayId, ageWarnMs: settings.ageWarnMs, ageLateMs: settings.ageLateMs });
  const tracker = new ConnectionTracker(settings.offlineAfterMs, (v) => view.connection(v), {
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  });
  view.connection(tracker.view);
  const client = createDisplayClient({
    edgeUrls: settings.edgeUrls,
    tokens,
    reconnect: { baseMs: RECONNECT_BASE_MS, maxMs: settings.reconnectMaxMs },
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    development: settings.development,
  });

  // Returns only once the ticket is in storage: the SDK acks after this, so a reload can never
  // lose a ticket the edge already considers shown.
  client.on('order', (delivery) => {
    if (board.add(delivery, Date.now()) === 'added') view.announce(delivery.orderId);
  });
  client.on('orders_expired', (info) => view.ordersExpired(info.total));
  client.on('connected', () => tracker.connected());
  client.on('disconnected', () => tracker.disconnected());

  let leaving = false;
  let edgeReason: string | undefined;
  const reenroll = (info: ReenrollInfo): void => {
    if (leaving) return;
    leaving = true;
    stopBoard();
    showEnrollment(settings, tokens, chime, reenrollMessage(strings, info, edgeReason));
  };
  client.on('reenroll_required', reenroll);
  running = { client, view, tracker, offTokens: tokens.on('reenroll_required', reenroll) };
  client.on('error', (err) => {
    console.warn(err.code, err.serverCode ?? '', err.message);
    if (err.serverCode !== undefined) edgeReason = err.serverCode;
    // The edge found no mailbox: ask auth whether this display still exists (a 401 clears the
    // stored tokens and announces re-enrollment).
    if (err.serverCode === 'display_decommissioned') {
      tokens.refresh().then(
        () => undefined,
        (e: unknown) => console.warn('display check after decommission notice', e),
      );
    }
  });
  client.on('session_end', (info) => {
    edgeReason = info.reason;
    if (!info.reconnect) console.warn('session ended', info.reason);
  });
  client.start();
}

async function boot(): Promise<void> {
  let settings: Settings;
  try {
    const res = await fetch('/config.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
    settings = parseSettings(await res.json());
  } catch (err) {
    fatal(strings.settingsFailed(err instanceof Error ? err.message : String(err)));
    return;
  }
  const chime = createChime(localStorage);
  const tokens = createTokenManager({ authUrl: settings.authUrl, store: webStorageTokenStore(localStorage), development: settings.development });
  tokens.on('error', (err) => console.warn(err.code, err.message));
  const info = await tokens.info();
  if (info === undefined) showEnrollment(settings, tokens, chime);
  else startBoard(settings, tokens, chime, info.displayId);
}

boot().catch((err: unknown) => fatal(strings.settingsFailed(err instanceof Error ? err.message : String(err))));
