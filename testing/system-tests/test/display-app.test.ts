/**
 * The display web app in Debian's Chromium against the real stack (auth, ingest, two edges on
 * real NATS and Redis): enrollment through the UI, live tickets, bump/recall by mouse and
 * keyboard, failover when the page's edge is SIGKILLed, exactly-once across reload, the offline
 * banner, and revocation back to enrollment. One stack and one browser for the whole file, run
 * in order: each step starts from the screen the previous one left.
 */
import { freePort, waitFor } from '@orderwire/test-harness';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, CHROMIUM_PATH, startDisplayApp, type DisplayAppHandle } from '../src/browser.js';
import { httpJson, makeOrder, metricValue, startStack, type Stack } from '../src/stack.js';

/** The bound: an accepted order is on screen within a second. */
const ON_SCREEN_MS = 1_000;
/** DISPLAY_OFFLINE_AFTER for this run; the banner must show within it plus a scheduling margin. */
const OFFLINE_AFTER_MS = 3_000;
const OFFLINE_MARGIN_MS = 2_000;
/** Presence refresh and TTL for this run: a killed edge's display reads offline within the TTL. */
const PRESENCE_TTL_MS = 2_000;
/** DISPLAY_AGE_WARN / DISPLAY_AGE_LATE for this run: a ticket turns yellow, then red. */
const AGE_WARN_MS = 20_000;
const AGE_LATE_MS = 40_000;
const STORE = 'store-web';
const STATION = 'grill';
const DISPLAY_ID = 'kds-web-1';

const run = `w${Date.now().toString(36)}`;
const oid = (n: string): string => `${run}-${n}`;

let stack: Stack;
let app: DisplayAppHandle;
let page: Page;

const ticket = (orderId: string): Locator => page.getByRole('article', { name: new RegExp(`\\b${orderId}\\b`) });
const status = (): Locator => page.getByRole('status');

async function waitStatus(text: string | RegExp, timeout = 15_000): Promise<void> {
  await status().filter({ hasText: text }).waitFor({ state: 'visible', timeout });
}

/** Text of the all-day panel as `{ name: qty }`. */
async function allDay(): Promise<Record<string, number>> {
  const rows = await page.getByRole('complementary', { name: 'All day' }).locator('li').allInnerTexts();
  return Object.fromEntries(
    rows.map((r) => {
      const m = /^\s*(\d+)\s+(.+?)\s*$/s.exec(r.replace(/\n/g, ' '));
      return [m?.[2] ?? r, Number(m?.[1] ?? NaN)];
    }),
  );
}

/** Order ids of the tickets on screen, in screen order. */
async function onScreen(): Promise<string[]> {
  const articles = await page.locator('article').all();
  return Promise.all(articles.map(async (a) => (await a.getAttribute('data-order-id')) ?? ''));
}

async function post(orderId: string, extra: Parameters<typeof makeOrder>[3] = {}): Promise<number> {
  const res = await stack.postOrder(makeOrder(orderId, STORE, STATION, extra));
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return Date.now();
}

/** Index of the edge holding the page's socket (the one whose connection gauge is 1). */
async function edgeOfPage(): Promise<number> {
  let last: number[] = [];
  return waitFor(
    async () => {
      const counts = await Promise.all(
        stack.edges.map(async (e) => (e.running ? metricValue((await httpJson<string>('GET', `${e.url}/metrics`)).body, 'orderwire_edge_connections') : 0)),
      );
      last = counts;
      const i = counts.findIndex((c) => c === 1);
      // 1-based: waitFor waits for a truthy value.
      return i >= 0 && counts.reduce((a, b) => a + b, 0) === 1 ? i + 1 : undefined;
    },
    { timeoutMs: 10_000, message: () => `exactly one edge holds the page (connections per edge: ${last.join(', ')})` },
  ).then((n) => (n as number) - 1);
}

interface ListedDisplay {
  displayId: string;
  online: boolean | null;
  edge: string | null;
  connectedSince: string | null;
  lastSeen: string | null;
  backlog: { pending: number; ackPending: number; total: number } | null;
}

/** The operator's view: `GET /v1/displays?storeId=` on auth. */
async function listed(): Promise<ListedDisplay | undefined> {
  const token = await stack.clientToken(['displays:manage']);
  const res = await httpJson<{ displays: ListedDisplay[] }>('GET', `${stack.auth.url}/v1/displays?storeId=${STORE}`, { token });
  expect(res.status).toBe(200);
  return res.body.displays.find((d) => d.displayId === DISPLAY_ID);
}

// Missing Chromium is a failure with instructions, not a silent skip of the whole browser suite.
it('has Debian Chromium for the browser tests', () => {
  expect(chromiumAvailable(), `${CHROMIUM_PATH} missing: run \`npm run tools\` as root, or \`sudo apt-get install chromium\``).toBe(true);
});

describe.runIf(chromiumAvailable())(`display web app in ${CHROMIUM_PATH}`, () => {
  beforeAll(async () => {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    stack = await startStack({
      edges: 2,
      dlq: false,
      // The browser's origin must pass both CORS on auth and the edges' origin check.
      env: {
        auth: { CORS_ALLOWED_ORIGINS: origin },
        edge: { EDGE_ALLOWED_ORIGINS: origin, EDGE_PRESENCE_REFRESH: '500ms', EDGE_PRESENCE_TTL: `${PRESENCE_TTL_MS}ms` },
      },
    });
    app = await startDisplayApp(stack, {
      port,
      env: { DISPLAY_OFFLINE_AFTER: `${OFFLINE_AFTER_MS}ms`, DISPLAY_RECONNECT_MAX: '1s', DISPLAY_AGE_WARN: `${AGE_WARN_MS}ms`, DISPLAY_AGE_LATE: `${AGE_LATE_MS}ms` },
    });
    page = app.page;
  });

  afterAll(async () => {
    await app?.dispose();
    await stack?.dispose();
  });

  it('enrolls through the UI with a code from auth', async () => {
    const code = await stack.registerDisplay({ displayId: DISPLAY_ID, storeId: STORE, stations: [STATION] });
    await page.goto(app.url);
    await page.getByLabel('Enrollment code').fill(code);
    await app.screenshot('01-enrollment');
    await page.getByRole('button', { name: 'Enroll' }).click();
    await waitStatus('Connected');
    expect(await status().textContent()).toBe('Connected');

    // Operators see it: online, on the edge that holds it, nothing pending; and in the per-store gauge.
    const holder = await edgeOfPage();
    const row = await waitFor(async () => ((await listed())?.online === true ? listed() : undefined), { timeoutMs: 5_000 });
    expect(row).toMatchObject({ online: true, edge: stack.edges[holder]!.name, backlog: { total: 0 } });
    expect(Date.now() - Date.parse(row!.connectedSince!)).toBeLessThan(30_000);
    const text = (await httpJson<string>('GET', `${stack.edges[holder]!.url}/metrics`)).body;
    expect(metricValue(text, 'orderwire_edge_displays_online', { store: STORE })).toBe(1);
  });

  it('shows an order posted to ingest within a second, with its items, modifiers, notes and station', async () => {
    const postedAt = await post(oid('a'), {
      items: [
        { name: 'Cheeseburger', qty: 2, modifiers: ['no onion', 'extra cheese'] },
        { name: 'Fries', qty: 1, notes: 'extra crispy' },
      ],
      customer: { name: 'Kim' },
    });
    await ticket(oid('a')).waitFor({ state: 'visible', timeout: 10_000 });
    const elapsed = Date.now() - postedAt;
    expect(elapsed, `on screen after ${elapsed} ms`).toBeLessThan(ON_SCREEN_MS);
    const text = await ticket(oid('a')).innerText();
    for (const part of ['2×', 'Cheeseburger', 'no onion', 'extra cheese', '1×', 'Fries', 'extra crispy', STATION, 'Kim']) {
      expect(text).toContain(part);
    }
    expect(await ticket(oid('a')).getByRole('button', { name: 'Bump' }).count()).toBe(1);
  });

  it('sorts rush first; bump and recall by mouse and by keyboard; all-day counts follow', async () => {
    await post(oid('b'), { items: [{ name: 'Cheeseburger', qty: 1 }], priority: 'rush' });
    await post(oid('c'), { items: [{ name: 'Fries', qty: 3 }] });
    await ticket(oid('c')).waitFor({ state: 'visible', timeout: 10_000 });
    await ticket(oid('b')).waitFor({ state: 'visible', timeout: 10_000 });
    expect(await onScreen()).toEqual([oid('b'), oid('a'), oid('c')]);
    expect(await allDay()).toEqual({ Cheeseburger: 3, Fries: 4 });
    await app.screenshot('02-tickets');

    // Mouse: bump a, recall it.
    await ticket(oid('a')).getByRole('button', { name: 'Bump' }).click();
    await ticket(oid('a')).waitFor({ state: 'detached', timeout: 5_000 });
    expect(await allDay()).toEqual({ Cheeseburger: 1, Fries: 3 });
    await page.getByRole('button', { name: 'Recall' }).click();
    await ticket(oid('a')).waitFor({ state: 'visible', timeout: 5_000 });
    expect(await allDay()).toEqual({ Cheeseburger: 3, Fries: 4 });

    // Keyboard: 1 selects the first ticket (the rush one), Enter bumps, R recalls.
    await page.keyboard.press('1');
    await page.keyboard.press('Enter');
    await ticket(oid('b')).waitFor({ state: 'detached', timeout: 5_000 });
    expect(await onScreen()).toEqual([oid('a'), oid('c')]);
    expect(await allDay()).toEqual({ Cheeseburger: 2, Fries: 4 });
    await page.keyboard.press('r');
    await ticket(oid('b')).waitFor({ state: 'visible', timeout: 5_000 });
    expect(await onScreen()).toEqual([oid('b'), oid('a'), oid('c')]);

    // Arrows move the selection: 1, → selects the second ticket (a); Enter bumps it for good.
    await page.keyboard.press('1');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    await ticket(oid('a')).waitFor({ state: 'detached', timeout: 5_000 });
    expect(await onScreen()).toEqual([oid('b'), oid('c')]);
    expect(await allDay()).toEqual({ Cheeseburger: 1, Fries: 3 });
  });

  it('fails over when its edge is SIGKILLed: reconnecting, then connected elsewhere; an order posted during the outage appears once', async () => {
    const victim = await edgeOfPage();
    await stack.edges[victim]!.kill();
    await post(oid('d'), { items: [{ name: 'Salad', qty: 1 }] });
    await waitStatus('Reconnecting…', 5_000).catch(async (err: unknown) => {
      // Failover may already have finished; then the status went through Reconnecting too fast to see.
      if ((await status().textContent()) !== 'Connected') throw err;
    });
    await waitStatus('Connected', 15_000);
    expect(await edgeOfPage()).toBe(1 - victim);
    await waitFor(async () => (await listed())?.edge === stack.edges[1 - victim]!.name, {
      timeoutMs: 5_000,
      message: 'GET /v1/displays names the edge the page failed over to',
    });
    await ticket(oid('d')).waitFor({ state: 'visible', timeout: 10_000 });
    // Redeliveries (the killed edge's unacked messages come back after ack_wait) must not duplicate.
    await page.waitForTimeout(1_000);
    const ids = await onScreen();
    expect(ids.filter((id) => id === oid('d'))).toHaveLength(1);
    expect(new Set(ids).size).toBe(ids.length);
    await stack.edges[victim]!.start();
  });

  it('after a reload is still enrolled: every unbumped ticket once, bumped ones not', async () => {
    await page.reload();
    await waitStatus('Connected');
    expect(await page.getByLabel('Enrollment code').count()).toBe(0);
    await ticket(oid('d')).waitFor({ state: 'visible', timeout: 5_000 });
    // A posted-after-reload order proves the live path is back, and gives redeliveries time to land.
    await post(oid('e'), { items: [{ name: 'Soup', qty: 2 }] });
    await ticket(oid('e')).waitFor({ state: 'visible', timeout: 10_000 });
    const ids = await onScreen();
    expect(ids).toEqual([oid('b'), oid('c'), oid('d'), oid('e')]);
    expect(await allDay()).toEqual({ Cheeseburger: 1, Fries: 3, Salad: 1, Soup: 2 });
    // The same screen on a 10" tablet (1280×800): every ticket still reachable.
    await page.setViewportSize({ width: 1280, height: 800 });
    for (const id of ids) expect(await ticket(id).isVisible()).toBe(true);
    await app.screenshot('03-tablet');
    await page.setViewportSize({ width: 1920, height: 1080 });
  });

  it(`shows the offline banner within ${OFFLINE_AFTER_MS + OFFLINE_MARGIN_MS} ms when every edge is down, and recovers`, async () => {
    const down = Date.now();
    await Promise.all(stack.edges.map((e) => e.kill()));
    const banner = page.getByRole('alert').filter({ hasText: 'No connection since' });
    await banner.waitFor({ state: 'visible', timeout: OFFLINE_AFTER_MS + OFFLINE_MARGIN_MS });
    const elapsed = Date.now() - down;
    expect(elapsed).toBeGreaterThanOrEqual(OFFLINE_AFTER_MS - 500);
    expect(await status().textContent()).toMatch(/^Offline since \d\d:\d\d$/);
    await app.screenshot('04-offline');
    // The killed edges never said goodbye: the display reads offline once its presence TTL ran out.
    await waitFor(async () => (await listed())?.online === false, { timeoutMs: PRESENCE_TTL_MS + 3_000, message: 'display listed offline' });
    expect((await listed())?.lastSeen).not.toBeNull();
    await Promise.all(stack.edges.map((e) => e.start()));
    await waitStatus('Connected', 20_000);
    expect(await banner.count()).toBe(0);
  });

  it('colours tickets by age: yellow from DISPLAY_AGE_WARN (20 s in this run)', async () => {
    // A ticket of its own, timed from its post: the earlier tickets' ages depend on how long the
    // tests before this one took (on a loaded box ticket b was past DISPLAY_AGE_LATE — red —
    // before this test started looking for yellow).
    const sentAt = Date.now(); // ≤ the order's acceptedAt, which the page ages it from
    await post(oid('f'), { items: [{ name: 'Tea', qty: 1 }] });
    const f = ticket(oid('f'));
    await f.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await f.getAttribute('data-age'), 'a new ticket is fresh (green)').toBe('fresh');
    let level: string | null = null;
    await waitFor(async () => (level = await f.getAttribute('data-age')) === 'warn', {
      timeoutMs: AGE_WARN_MS + 10_000,
      intervalMs: 250,
      message: () => `ticket f turns yellow; data-age ${level} ${Date.now() - sentAt} ms after its post`,
    });
    expect(Date.now() - sentAt, 'not yellow before DISPLAY_AGE_WARN').toBeGreaterThanOrEqual(AGE_WARN_MS);
    // (The page's CSP forbids string evaluation; this file is type-checked without the DOM library.)
    type Win = { getComputedStyle(el: unknown): { borderTopColor: string } };
    expect(await f.evaluate((el: unknown) => (globalThis as unknown as Win).getComputedStyle(el).borderTopColor)).toBe('rgb(250, 204, 21)');
    const age = await f.locator('.age').innerText();
    const [m, sec] = age.split(':').map(Number);
    expect(m! * 60 + sec!).toBeGreaterThanOrEqual(AGE_WARN_MS / 1000);
    // The older tickets are past DISPLAY_AGE_WARN too: yellow, or red once past DISPLAY_AGE_LATE.
    for (const id of [oid('b'), oid('c'), oid('d'), oid('e')]) expect(['warn', 'late'], id).toContain(await ticket(id).getAttribute('data-age'));
    // By now anything the killed edges held has come back (after the consumers' ack_wait) and
    // was recognised: still every ticket exactly once.
    expect(await onScreen()).toEqual([oid('b'), oid('c'), oid('d'), oid('e'), oid('f')]);
  });

  it('returns to enrollment with a message when the display’s token family is revoked', async () => {
    const stored = await page.evaluate<string | null>("localStorage.getItem('orderwire.display.tokens')");
    const { refreshToken } = JSON.parse(stored ?? '{}') as { refreshToken?: string };
    expect(refreshToken).toBeTypeOf('string');
    const res = await httpJson('POST', `${stack.auth.url}/v1/token/revoke`, { body: { refreshToken } });
    expect(res.status).toBeLessThan(300);
    await page.getByLabel('Enrollment code').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await page.getByRole('alert').innerText()).toMatch(/signed out.*revoked/i);
    // Forgotten: a reload stays on enrollment.
    expect(await page.evaluate<string | null>("localStorage.getItem('orderwire.display.tokens')")).toBeNull();
    await app.screenshot('05-revoked');
    await page.reload();
    await page.getByLabel('Enrollment code').waitFor({ state: 'visible', timeout: 10_000 });
  });

  it('returns to enrollment with a message when an operator decommissions the display, and forgets it', async () => {
    const code = await stack.registerDisplay({ displayId: `${DISPLAY_ID}-b`, storeId: STORE, stations: [STATION] });
    await page.getByLabel('Enrollment code').fill(code);
    await page.getByRole('button', { name: 'Enroll' }).click();
    await waitStatus('Connected');
    const token = await stack.clientToken(['displays:manage']);
    const res = await httpJson('DELETE', `${stack.auth.url}/v1/displays/${DISPLAY_ID}-b`, { token });
    expect(res.status).toBe(200);
    await page.getByLabel('Enrollment code').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await page.getByRole('alert').innerText()).toMatch(/signed out.*removed by an operator/i);
    expect(await page.evaluate<string | null>("localStorage.getItem('orderwire.display.tokens')")).toBeNull();
  });
});
