/**
 * The display web app in Debian's Chromium, told about orders that expired while it was offline
 * (issue 16 §3): ORDERS keeps orders 3 s here; the screen's edge is down while two orders arrive
 * and age out; when the edge is back the screen says so once — "2 orders expired while this
 * screen was offline" — and a reload does not say it again.
 */
import { freePort, waitFor } from '@orderwire/test-harness';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, startDisplayApp, type DisplayAppHandle } from '../src/browser.js';
import { makeOrder, startStack, type Stack } from '../src/stack.js';

const STORE = 'store-web-expiry';
const DISPLAY_ID = 'kds-expiry-1';

let stack: Stack;
let app: DisplayAppHandle;
let page: Page;

describe.runIf(chromiumAvailable())('display web app: orders that expired while offline', () => {
  beforeAll(async () => {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    stack = await startStack({
      edges: 1,
      dlq: true,
      env: {
        topology: { JETSTREAM_ORDERS_MAX_AGE: '3s', JETSTREAM_ORDERS_DUPLICATE_WINDOW: '1s' },
        auth: { CORS_ALLOWED_ORIGINS: origin },
        edge: { EDGE_ALLOWED_ORIGINS: origin },
      },
    });
    app = await startDisplayApp(stack, { port, env: { DISPLAY_RECONNECT_MAX: '1s' } });
    page = app.page;
  }, 180_000);

  afterAll(async () => {
    await app?.dispose();
    await stack?.dispose();
  });

  it('says how many orders expired while the screen was offline, once', async () => {
    const code = await stack.registerDisplay({ displayId: DISPLAY_ID, storeId: STORE, stations: ['grill'] });
    await page.goto(app.url);
    await page.getByLabel('Enrollment code').fill(code);
    await page.getByRole('button', { name: 'Enroll' }).click();
    await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ state: 'visible', timeout: 15_000 });

    await stack.edges[0]!.kill();
    for (const id of ['web-exp-1', 'web-exp-2']) expect((await stack.postOrder(makeOrder(id, STORE, 'grill'))).status).toBe(202);
    await waitFor(
      async () => {
        const all = await Promise.all(['web-exp-1', 'web-exp-2'].map(async (id) => (await stack.orderStatus(id)).body.displays?.[0]?.status));
        return all.every((s) => s === 'expired') || undefined;
      },
      { timeoutMs: 30_000, message: 'both orders expired for the screen' },
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
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await page.getByRole('alert').filter({ hasText: 'expired while this screen was offline' }).count()).toBe(0);
  });
});
