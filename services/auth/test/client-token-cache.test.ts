/**
 * The management API remembers client tokens it verified (an operator registering a fleet presents
 * the same token on every request). Remembering must not widen what is accepted: a withdrawn
 * signing key and an expired token are refused exactly as without it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { clientToken, makeClient, startAuth, startInfra, type Infra, type TestAuth } from './helpers.js';

let infra: Infra;
let t: TestAuth;

beforeAll(async () => {
  infra = await startInfra();
  t = await startAuth(infra, { AUTH_CLIENT_TOKEN_TTL: '1s', AUTH_DISPLAY_TOKEN_TTL: '1s', AUTH_REFRESH_RETRY_GRACE: '1s', AUTH_KEY_ROTATION_INTERVAL: '1h' });
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  await t?.close();
  await infra?.dispose();
});

describe('verified client tokens', () => {
  it('a remembered token is refused once its signing key has left the keyring', async () => {
    const client = await makeClient(t, ['displays:manage']);
    const token = await clientToken(t, client);
    const first = await t.auth.ctx.tokens.verifyClientToken(token);
    expect(first.sub).toBe(client.clientId);
    expect((await t.auth.ctx.tokens.verifyClientToken(token)).jti).toBe(first.jti);

    // Two rotations: the token's key goes current → previous → gone (the token is still inside
    // the 5 s clock-skew allowance, so only the missing key can refuse it).
    await t.auth.ctx.keys.rotateNow({ maxTokenTtlMs: 1_000 });
    await new Promise((r) => setTimeout(r, 1_100));
    await t.auth.ctx.keys.rotateNow({ maxTokenTtlMs: 1_000 });
    await expect(t.auth.ctx.tokens.verifyClientToken(token)).rejects.toMatchObject({
      code: 'ORDERWIRE_ERR_AUTH_INVALID_TOKEN',
      message: expect.stringContaining('unknown signing key') as unknown,
    });
  });

  it('a remembered token is refused once it has expired', async () => {
    const client = await makeClient(t, ['displays:manage']);
    const token = await clientToken(t, client);
    await t.auth.ctx.tokens.verifyClientToken(token);
    vi.useFakeTimers({ toFake: ['Date'] });
    // Past exp (1 s) and the 5 s clock skew, well inside the 60 s the token is remembered.
    vi.setSystemTime(Date.now() + 10_000);
    await expect(t.auth.ctx.tokens.verifyClientToken(token)).rejects.toMatchObject({
      code: 'ORDERWIRE_ERR_AUTH_INVALID_TOKEN',
      message: expect.stringContaining('expired') as unknown,
    });
  });
});
