/**
 * Revocation reaches the APIs (issue 12, item 8), with the real services as processes: a client's
 * token works at ingest and dlq, `orderwire-auth client revoke` runs, and within
 * REVOCATION_BOUND_MS both refuse the same token with 401 ORDERWIRE_ERR_TOKEN_REVOKED — not at
 * the token's expiry, although both services had it cached as verified. A second client of the
 * same tenant keeps working. Then a dlq restarted after the revocation refuses the token too: the
 * revoked-clients bucket is read before a replica serves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../src/stack.js';

/** "Within seconds": the bound asserted, with room for a loaded 2-core box (measured: milliseconds). */
const REVOCATION_BOUND_MS = 5_000;
/** Poll interval while waiting for the refusal. */
const POLL_MS = 20;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ edges: 1, dlq: true });
});

afterAll(async () => {
  await stack?.dispose();
});

interface Created {
  clientId: string;
  clientSecret: string;
}

async function createClient(): Promise<Created> {
  const created = (await stack.authCli(['client', 'create', '--tenant', stack.tenant, '--scopes', 'orders:read,dlq:read'])) as Created;
  expect(created.clientId).toMatch(/^owc_/);
  return created;
}

async function statusAt(token: string): Promise<{ ingest: number; dlq: number; codes: string[] }> {
  const [ingest, dlq] = await Promise.all([
    stack.request<{ error?: { code: string } }>('GET', `${stack.ingest.url}/v1/orders/revocation-probe`, { token }),
    stack.request<{ error?: { code: string } }>('GET', `${stack.dlq!.url}/v1/dlq`, { token }),
  ]);
  return { ingest: ingest.status, dlq: dlq.status, codes: [ingest.body.error?.code ?? '', dlq.body.error?.code ?? ''] };
}

describe('client revocation at ingest and dlq', () => {
  it(`a revoked client's token is refused by both within ${REVOCATION_BOUND_MS} ms, not at its expiry`, async () => {
    const victim = await createClient();
    const bystander = await createClient();
    const token = await stack.clientToken(['orders:read', 'dlq:read'], victim);
    const other = await stack.clientToken(['orders:read', 'dlq:read'], bystander);
    // Works (404: the probe order is unknown, but the caller is authenticated) and is now cached.
    expect(await statusAt(token)).toMatchObject({ ingest: 404, dlq: 200 });
    expect(await statusAt(token)).toMatchObject({ ingest: 404, dlq: 200 });

    await stack.authCli(['client', 'revoke', victim.clientId]);
    const revokedAt = Date.now();
    let last = await statusAt(token);
    while ((last.ingest !== 401 || last.dlq !== 401) && Date.now() - revokedAt < REVOCATION_BOUND_MS) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      last = await statusAt(token);
    }
    const tookMs = Date.now() - revokedAt;
    expect(last, `after ${tookMs} ms`).toEqual({ ingest: 401, dlq: 401, codes: ['ORDERWIRE_ERR_TOKEN_REVOKED', 'ORDERWIRE_ERR_TOKEN_REVOKED'] });
    expect(tookMs).toBeLessThan(REVOCATION_BOUND_MS);
    console.log(`revocation reached ingest and dlq ${tookMs} ms after the CLI returned`);

    // Another client of the same tenant is untouched; auth issues the revoked one nothing new.
    expect(await statusAt(other)).toMatchObject({ ingest: 404, dlq: 200 });
    await expect(stack.clientToken(['orders:read'], victim)).rejects.toThrow();
  });

  it('a dlq replica started after the revocation refuses the token from its first request', async () => {
    const victim = await createClient();
    const token = await stack.clientToken(['dlq:read'], victim);
    expect((await stack.request('GET', `${stack.dlq!.url}/v1/dlq`, { token })).status).toBe(200);
    await stack.authCli(['client', 'revoke', victim.clientId]);
    await stack.dlq!.restart();
    const res = await stack.request<{ error: { code: string } }>('GET', `${stack.dlq!.url}/v1/dlq`, { token });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('ORDERWIRE_ERR_TOKEN_REVOKED');
  });
});
