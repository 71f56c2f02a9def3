/**
 * Property: JetStream message ids (`Nats-Msg-Id`, the ORDERS duplicate window is shared by every
 * tenant) are injective in (tenant, display, key) — one tenant's Idempotency-Key can never
 * swallow another tenant's order, nor a targeted copy another display's — and none can begin like
 * a DLQ replay's (`!replay:`).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_KEY_MAX, idempotencyKey, stationMsgId, targetMsgId } from '../src/idempotency.js';

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const idArb = fc.oneof(
  fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 64 }),
  fc.string({ unit: fc.constantFrom('a', '_', '-'), minLength: 1, maxLength: 6 }),
);
/** Visible ASCII, biased to the separators the ids are joined with. */
const keyArb = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: IDEMPOTENCY_KEY_MAX }),
  fc.string({ unit: fc.constantFrom('a', ':', '/', '!', '_', '-'), minLength: 1, maxLength: 12 }),
);
type Id = { kind: 'station'; tenant: string; key: string } | { kind: 'target'; tenant: string; display: string; key: string };
const msgArb: fc.Arbitrary<Id> = fc.oneof(
  fc.record({ kind: fc.constant('station' as const), tenant: idArb, key: keyArb }),
  fc.record({ kind: fc.constant('target' as const), tenant: idArb, display: idArb, key: keyArb }),
);
const msgId = (m: Id): string => (m.kind === 'station' ? stationMsgId(m.tenant, m.key) : targetMsgId(m.tenant, m.display, m.key));

describe('message ids', () => {
  it('are injective across tenants, displays, keys and the two layouts', () => {
    fc.assert(
      fc.property(msgArb, msgArb, (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b));
        expect(msgId(a)).not.toBe(msgId(b));
      }),
      { numRuns: 10_000 },
    );
  });

  it('every accepted Idempotency-Key gives an id that cannot be a DLQ replay id', () => {
    fc.assert(
      fc.property(idArb, keyArb, idArb, (tenant, header, display) => {
        const key = idempotencyKey(header, 'o-1');
        expect(stationMsgId(tenant, key).startsWith('!')).toBe(false);
        expect(targetMsgId(tenant, display, key).startsWith('!')).toBe(false);
      }),
      { numRuns: 2_000 },
    );
  });
});
