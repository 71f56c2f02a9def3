import { describe, expect, it } from 'vitest';
import { isValidId, isValidOrderId, validateOrder } from '@orderwire/contracts';
import * as k6Plan from '../k6/lib/plan.ts';
import {
  displayPlacement,
  displaysOfGroup,
  groupCount,
  newRunId,
  orderBody,
  orderGroup,
  orderId,
  orderNumber,
  type Fleet,
} from '../src/plan.js';

const fleet: Fleet = { runId: 'bench-abc-1234', displays: 10, fanout: 3, stationsPerStore: 2 };

describe('bench fleet plan', () => {
  it('groups displays fanout to a station and stations into stores', () => {
    expect(groupCount(fleet)).toBe(4);
    expect(displayPlacement(fleet, 0)).toEqual({ displayId: 'bench-abc-1234-d0', storeId: 'bench-abc-1234-s0', station: 'k0' });
    expect(displayPlacement(fleet, 3)).toEqual({ displayId: 'bench-abc-1234-d3', storeId: 'bench-abc-1234-s0', station: 'k1' });
    expect(displayPlacement(fleet, 9)).toEqual({ displayId: 'bench-abc-1234-d9', storeId: 'bench-abc-1234-s1', station: 'k1' });
    expect(displaysOfGroup(fleet, 3)).toEqual({ first: 9, end: 10 });
  });

  it('addresses each order to exactly the displays of its group', () => {
    for (let n = 0; n < 12; n++) {
      const body = orderBody(fleet, n, new Date(0));
      const { first, end } = displaysOfGroup(fleet, orderGroup(fleet, n));
      for (let slot = first; slot < end; slot++) {
        const p = displayPlacement(fleet, slot);
        expect([body.storeId, body.station]).toEqual([p.storeId, p.station]);
      }
    }
  });

  it('produces ids and orders the contract accepts', () => {
    const id = newRunId();
    expect(id).toMatch(/^bench-[a-z0-9]+-[a-z0-9]{4}$/);
    const f = { ...fleet, runId: id };
    const p = displayPlacement(f, 7);
    expect([p.displayId, p.storeId, p.station].every(isValidId)).toBe(true);
    expect(isValidOrderId(orderId(id, 123))).toBe(true);
    expect(validateOrder(orderBody(f, 5, new Date())).ok).toBe(true);
  });

  it('reads its own order numbers back and ignores anybody else’s', () => {
    expect(orderNumber('r1', orderId('r1', 42))).toBe(42);
    expect(orderNumber('r1', 'r2-o42')).toBeUndefined();
    expect(orderNumber('r1', 'r1-ox')).toBeUndefined();
    expect(orderNumber('r1', 'r1-o-1')).toBeUndefined();
  });
});

describe('k6 fleet plan', () => {
  const plan: k6Plan.FleetPlan = { runId: 'k6', displays: 10, stationsPerStore: 2, fanout: 3 };

  it('lays displays out like the bench', () => {
    expect(k6Plan.groupCount(plan)).toBe(4);
    expect(k6Plan.displayPlacement(plan, 4)).toEqual({ displayId: 'k6-d4', storeId: 'k6-s0', station: 'k1' });
    expect(k6Plan.orderGroup(plan, 5)).toBe(1);
  });

  it('builds valid orders for the stations displays watch', () => {
    const body = k6Plan.orderBody(plan, 'k6-1700000000000-5', 1, new Date());
    expect(validateOrder(body).ok).toBe(true);
    expect(body).toMatchObject({ storeId: 'k6-s0', station: 'k1' });
  });

  it('refuses run ids that are not subject tokens and empty fleets', () => {
    expect(() => k6Plan.validatePlan({ ...plan, runId: 'a.b' })).toThrow(RangeError);
    expect(() => k6Plan.validatePlan({ ...plan, displays: 0 })).toThrow(RangeError);
    expect(k6Plan.validatePlan(plan)).toBe(plan);
  });
});
