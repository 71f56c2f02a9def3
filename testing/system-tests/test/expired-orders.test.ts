/**
 * Orders that expire unseen (issue 16 §2–3), through the real processes: ingest records each
 * order's targets, ORDERS keeps orders 3 s (JETSTREAM_ORDERS_MAX_AGE), the DLQ service's expiry
 * detector marks what a display never acknowledged `expired`, and the edge tells that display on
 * its next connection — once — through the SDK's `orders_expired` event. The display that was
 * online the whole time got every order and is never told anything; GET /v1/orders/:orderId says
 * the same as the receipts. Every service runs as its own NATS identity (the generated
 * authorization), so the new subjects — the detector's consumer on RECEIPTS, the notices bucket
 * written by the dlq and cleared by the edge — are exercised under least privilege. Last, the
 * display web app in Debian's Chromium shows "2 orders expired while this screen was offline".
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findRepoRoot, freePort, waitFor } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, startDisplayApp } from '../src/browser.js';
import { makeOrder, metricValue, startStack, type Stack, type TestDisplay } from '../src/stack.js';

/** How long ORDERS keeps an order: short, so the test waits seconds, not days. */
const ORDERS_MAX_AGE = '3s';
/** Max age + the server's expiry tick + the detector's recheck, with room for a loaded machine. */
const EXPIRY_TIMEOUT_MS = 30_000;
/** After a reconnect, how long an `orders:expired` that should not come is waited for. */
const QUIET_MS = 1_500;

let stack: Stack;
let dir: string;
/** Port of the display web app (its origin must pass CORS on auth and the edge's origin check). */
let appPort: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orderwire-expiry-'));
  await promisify(execFile)(process.execPath, [join(findRepoRoot()!, 'scripts/nats-auth.mjs'), '--out', dir]);
  const seed = (identity: string) => ({ NATS_NKEY_SEED_FILE: join(dir, `${identity}.seed`) });
  appPort = await freePort();
  const origin = `http://127.0.0.1:${appPort}`;
  stack = await startStack({
    edges: 1,
    dlq: true,
    nats: { config: await readFile(join(dir, 'auth.conf'), 'utf8') },
    env: {
      topology: { ...seed('topology'), JETSTREAM_ORDERS_MAX_AGE: ORDERS_MAX_AGE, JETSTREAM_ORDERS_DUPLICATE_WINDOW: '1s' },
      auth: { ...seed('auth'), CORS_ALLOWED_ORIGINS: origin },
      ingest: seed('ingest'),
      edge: { ...seed('edge'), EDGE_ALLOWED_ORIGINS: origin },
      dlq: seed('dlq'),
    },
  });
}, 180_000);

afterAll(async () => {
  await stack?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Lines where the server refused a service something (a missing grant in NATS_PERMISSIONS). */
function permissionViolations(): string[] {
  return stack.services().flatMap((h) => h.logs().split('\n').filter((l) => l.includes('PermissionViolationError') || l.includes('Permissions Violation')).map((l) => `${h.name}: ${l.slice(0, 300)}`));
}

async function statusOf(orderId: string, displayId: string): Promise<string | undefined> {
  const res = await stack.orderStatus(orderId);
  return res.body.displays?.find((d) => d.displayId === displayId)?.status;
}

async function reconnect(display: TestDisplay): Promise<void> {
  display.client.stop();
  display.client.start();
  await display.waitConnected();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('orders that expire unseen', () => {
  it('a display offline past retention is told exactly once (not on each reconnect), an online one never; status and receipts agree', async () => {
    const storeId = 'store-expiry';
    const online = await stack.newDisplay({ displayId: 'exp-online', storeId, stations: ['grill'] });
    const offline = await stack.newDisplay({ displayId: 'exp-offline', storeId, stations: ['grill'] });
    offline.client.stop();

    const ids = ['exp-1', 'exp-2', 'exp-3'];
    for (const id of ids) {
      const { createdAt: _omitted, ...order } = makeOrder(id, storeId, 'grill'); // createdAt is optional
      const res = await stack.postOrder(order);
      expect(res.status, JSON.stringify(res.body)).toBe(202);
    }
    await waitFor(() => ids.every((id) => online.shownIds().has(id)) || undefined, { timeoutMs: 10_000, message: 'the online display shows every order' });

    // Accepted, owed to the offline display: pending until the order ages out, then expired.
    const before = await stack.orderStatus('exp-1');
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ status: 'accepted', targetCount: 2 });
    await waitFor(
      async () => {
        const all = await Promise.all(ids.map((id) => statusOf(id, 'exp-offline')));
        return all.every((s) => s === 'expired') || undefined;
      },
      { timeoutMs: EXPIRY_TIMEOUT_MS, message: () => `every order expired for the offline display\n${stack.tails(30)}` },
    );
    for (const id of ids) {
      const res = await stack.orderStatus(id);
      expect(res.body.summary).toMatchObject({ delivered: 1, expired: 1, pending: 0 });
      const expired = res.body.displays.find((d) => d.displayId === 'exp-offline')!;
      expect(expired).toMatchObject({ status: 'expired', reason: 'max_age', stream: expect.stringMatching(/^ORDERS_P\d+$/) as string });
      expect(res.body.displays.find((d) => d.displayId === 'exp-online')!.status).toBe('delivered');
    }

    // Back online: told once, with the orders, then never again — reconnects and an app restart.
    offline.client.start();
    await offline.waitConnected();
    await waitFor(() => offline.count('orders_expired') === 1 || undefined, { timeoutMs: 10_000, message: 'orders:expired after the handshake' });
    const told = offline.events.find((e) => e.type === 'orders_expired');
    expect(told).toMatchObject({ total: 3 });
    expect(told?.type === 'orders_expired' ? [...told.orderIds].sort() : []).toEqual(ids);
    expect(offline.shown).toEqual([]);

    await reconnect(offline);
    await reconnect(offline);
    offline.restartClient();
    await offline.waitConnected();
    await sleep(QUIET_MS);
    expect(offline.count('orders_expired')).toBe(1);

    // The display that was online the whole time: never told, also after a reconnect.
    await reconnect(online);
    await sleep(QUIET_MS);
    expect(online.count('orders_expired')).toBe(0);

    const scraped = await stack.scrape();
    const dlq = scraped.find((s) => s.service.startsWith('dlq'))!.text;
    const edge = scraped.find((s) => s.service.startsWith('edge'))!.text;
    expect(metricValue(dlq, 'orderwire_dlq_expired_orders_total')).toBe(3);
    expect(metricValue(edge, 'orderwire_edge_expired_notices_total', { outcome: 'acked' })).toBe(1);
    expect(permissionViolations()).toEqual([]);
  });

  it('an accepted order no display receives answers 200 with zero targets; a never-accepted one 404', async () => {
    const res = await stack.postOrder(makeOrder('exp-nobody', 'store-without-displays', 'grill'));
    expect(res.status).toBe(202);
    const status = await stack.orderStatus('exp-nobody');
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ orderId: 'exp-nobody', status: 'accepted', targetCount: 0, displays: [] });
    expect((await stack.orderStatus('exp-never-sent')).status).toBe(404);
  });
  it.runIf(chromiumAvailable())('the display web app says how many orders expired while the screen was offline, once', async () => {
    const STORE = 'store-web-expiry';
    const app = await startDisplayApp(stack, { port: appPort, env: { DISPLAY_RECONNECT_MAX: '1s' } });
    try {
      const page = app.page;
      const code = await stack.registerDisplay({ displayId: 'kds-expiry-1', storeId: STORE, stations: ['grill'] });
      await page.goto(app.url);
      await page.getByLabel('Enrollment code').fill(code);
      await page.getByRole('button', { name: 'Enroll' }).click();
      await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ state: 'visible', timeout: 15_000 });

      // The screen's only edge is down while two orders arrive and age out.
      await stack.edges[0]!.kill();
      for (const id of ['web-exp-1', 'web-exp-2']) expect((await stack.postOrder(makeOrder(id, STORE, 'grill'))).status).toBe(202);
      await waitFor(
        async () => {
          const all = await Promise.all(['web-exp-1', 'web-exp-2'].map(async (id) => (await stack.orderStatus(id)).body.displays?.[0]?.status));
          return all.every((s) => s === 'expired') || undefined;
        },
        { timeoutMs: EXPIRY_TIMEOUT_MS, message: 'both orders expired for the screen' },
      );
      await stack.edges[0]!.start();

      const notice = page.getByRole('alert').filter({ hasText: '2 orders expired while this screen was offline' });
      await notice.waitFor({ state: 'visible', timeout: 20_000 });
      await app.screenshot('expired-orders');
      expect(await page.getByRole('article').count()).toBe(0);
      await notice.getByRole('button', { name: 'Dismiss' }).click();
      await notice.waitFor({ state: 'hidden', timeout: 5_000 });

      // Told once: a reload connects again and is not told again.
      await page.reload();
      await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ state: 'visible', timeout: 15_000 });
      await sleep(QUIET_MS);
      expect(await page.getByRole('alert').filter({ hasText: 'expired while this screen was offline' }).count()).toBe(0);
    } finally {
      await app.dispose();
    }
  });
});
