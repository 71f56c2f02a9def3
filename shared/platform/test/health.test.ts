import { describe, expect, it } from 'vitest';
import { createHealth } from '../src/health.js';

describe('createHealth', () => {
  it('is not ready before markStarted and after markStopping', async () => {
    const h = createHealth();
    h.register('db', async () => undefined);
    expect(h.live()).toEqual({ ok: true });
    expect(await h.ready()).toMatchObject({ ok: false, state: 'starting' });
    h.markStarted();
    expect(await h.ready()).toMatchObject({ ok: true, state: 'running', checks: { db: { ok: true, critical: true } } });
    h.markStopping();
    expect(await h.ready()).toMatchObject({ ok: false, state: 'stopping' });
    h.markStarted();
    expect((await h.ready()).ok).toBe(false);
    expect(h.live()).toEqual({ ok: true });
  });

  it('bounds a hanging check by its timeout', async () => {
    const h = createHealth();
    h.register('hangs', () => new Promise(() => undefined), { timeoutMs: 50 });
    h.register('fine', async () => ({ ok: true, detail: 'rtt 1 ms' }));
    h.markStarted();
    const t0 = Date.now();
    const r = await h.ready();
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(r.ok).toBe(false);
    expect(r.checks.hangs).toMatchObject({ ok: false, detail: 'timed out after 50 ms' });
    expect(r.checks.hangs!.ms).toBeGreaterThanOrEqual(45);
    expect(r.checks.fine).toMatchObject({ ok: true, detail: 'rtt 1 ms' });
  });

  it('treats a throwing or failing check as not ok; non-critical failures do not flip readiness', async () => {
    const h = createHealth();
    h.register('throws', async () => {
      throw new Error('connection refused');
    }, { critical: false });
    h.register('syncThrow', () => {
      throw new Error('boom');
    }, { critical: false });
    h.register('reportsDown', async () => ({ ok: false, detail: 'redis down' }), { critical: false });
    h.markStarted();
    const r = await h.ready();
    expect(r.ok).toBe(true);
    expect(r.checks.throws).toMatchObject({ ok: false, detail: 'connection refused', critical: false });
    expect(r.checks.syncThrow).toMatchObject({ ok: false, detail: 'boom' });
    expect(r.checks.reportsDown).toMatchObject({ ok: false, detail: 'redis down' });

    h.register('critical', async () => ({ ok: false }));
    expect((await h.ready()).ok).toBe(false);
  });

  it('refuses two checks with one name', () => {
    const h = createHealth();
    h.register('nats', async () => undefined);
    expect(() => h.register('nats', async () => undefined)).toThrow(/already registered/);
  });
});
