/**
 * Property: the display consumer declaration is derived from (tenant, store, display) alone and
 * never points at anything else — its name parses back to exactly the display, its owner
 * metadata names it, and every filter subject is of its tenant and store.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDisplayConsumerName, parseOrderSubject } from '@orderwire/contracts';
import { displayConsumerConfig } from '../src/topology.js';

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const idArb = fc.oneof(
  fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 64 }),
  fc.string({ unit: fc.constantFrom('_', '-', 'a'), minLength: 1, maxLength: 8 }),
);

describe('displayConsumerConfig', () => {
  it('names, owns and filters exactly its display', () => {
    fc.assert(
      fc.property(idArb, idArb, idArb, fc.array(idArb, { maxLength: 6 }), (tenant, store, displayId, stations) => {
        const cfg = displayConsumerConfig({ tenant, store, displayId, stations });
        expect(parseDisplayConsumerName(cfg.durable_name)).toEqual({ tenant, displayId });
        expect(cfg.metadata).toEqual({ 'orderwire.tenant': tenant, 'orderwire.display': displayId, 'orderwire.store': store });
        for (const s of cfg.filter_subjects) {
          const p = parseOrderSubject(s);
          expect(p).toBeDefined();
          expect([p!.tenant, p!.store]).toEqual([tenant, store]);
          if (p!.kind === 'display') expect(p!.displayId).toBe(displayId);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
