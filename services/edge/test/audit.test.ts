/**
 * Refused handshakes, and refused in-band `auth:refresh` on a live socket, reach the AUDIT stream
 * aggregated (issue 12, item 11): one `auth_failures` event per client address per window, with a
 * count per refusal code — not one event per attempt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAMS } from '@orderwire/platform';
import { TestDisplay, handshakeRefusal } from './support/display.js';
import { startEdge, type TestEdge } from './support/edge.js';
import { newDisplay, registerDisplay, startInfra, type Infra } from './support/infra.js';

let infra: Infra;
let edge: TestEdge;

beforeAll(async () => {
  infra = await startInfra();
  edge = await startEdge(infra);
});

afterAll(async () => {
  await edge?.close();
  await infra?.dispose();
});

/** Refused handshakes in the test. */
const ATTEMPTS = 30;

describe('audit of refused handshakes', () => {
  it(`${ATTEMPTS} refused handshakes from one address become one aggregated auth_failures event`, async () => {
    await edge.app.audit.flush();
    const d = newDisplay();
    await registerDisplay(infra, d);
    const now = Math.floor(Date.now() / 1000);
    const expired = await infra.jwks.sign(d, { exp: now - 60 });
    for (let i = 0; i < ATTEMPTS; i++) {
      expect(await handshakeRefusal(edge.url, i % 3 === 0 ? expired : `forged-${i}`)).toMatch(/^(unauthorized|token_expired)$/);
    }
    await edge.app.audit.flush();
    const consumer = await infra.js.consumers.get(STREAMS.AUDIT, { filter_subjects: ['audit._system.auth_failures'] });
    const pending = (await consumer.info()).num_pending;
    const events: Array<Record<string, unknown>> = [];
    for await (const m of await consumer.fetch({ max_messages: pending, expires: 2_000 })) {
      events.push(m.json<Record<string, unknown>>());
      if (events.length >= pending) break;
    }
    const mine = events.filter((e) => e.service === 'edge' && e.instance === edge.instanceId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      event: 'auth_failures',
      aggregated: true,
      count: ATTEMPTS,
      reasons: { ORDERWIRE_ERR_EDGE_UNAUTHORIZED: (ATTEMPTS * 2) / 3, ORDERWIRE_ERR_EDGE_TOKEN_EXPIRED: ATTEMPTS / 3 },
    });
    expect(typeof mine[0]!.source).toBe('string');
  });

  it('refused in-band auth:refresh (garbage, another display\'s token) is audited under the display\'s tenant, aggregated', async () => {
    await edge.app.audit.flush();
    const d = newDisplay({ tenant: `ta${Date.now() % 100_000}` });
    await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d, { ttlSec: 600 }));
    await display.connect(edge.url);
    try {
      expect(await display.refresh('garbage')).toMatchObject({ ok: false, reason: 'unauthorized' });
      expect(await display.refresh(await infra.jwks.sign(newDisplay({ tenant: d.tenant })))).toMatchObject({ ok: false, reason: 'unauthorized' });
      expect(await display.refresh('garbage-2')).toMatchObject({ ok: false, reason: 'unauthorized' });
    } finally {
      display.disconnect();
    }
    await edge.app.audit.flush();
    const consumer = await infra.js.consumers.get(STREAMS.AUDIT, { filter_subjects: [`audit.${d.tenant}.auth_failures`] });
    const events: Array<Record<string, unknown>> = [];
    const pending = (await consumer.info()).num_pending;
    for await (const m of await consumer.fetch({ max_messages: pending, expires: 2_000 })) {
      events.push(m.json<Record<string, unknown>>());
      if (events.length >= pending) break;
    }
    const mine = events.filter((e) => e.service === 'edge' && e.instance === edge.instanceId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ event: 'auth_failures', aggregated: true, count: 3 });
    expect(Object.values(mine[0]!.reasons as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(3);
    expect((mine[0]!.reasons as Record<string, number>).foreign_display_token).toBe(1);
  });
});
