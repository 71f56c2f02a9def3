import { describe, expect, it } from 'vitest';
import { LOST_SAMPLE_SIZE, Ledger } from '../src/ledger.js';
import type { Fleet } from '../src/plan.js';

// 7 displays, 3 per station: groups {0,1,2} {3,4,5} {6}; order n → group n mod 3.
const fleet: Fleet = { runId: 'r', displays: 7, fanout: 3, stationsPerStore: 4 };

describe('ledger', () => {
  it('expects each accepted order on every display of its group', () => {
    const l = new Ledger(fleet);
    l.accepted(0);
    l.accepted(2);
    for (const slot of [0, 1, 2]) expect(l.shown(slot, 0)).toBe(true);
    expect(l.summary()).toMatchObject({ accepted: 2, expected: 4, displayed: 3, lost: 1, duplicatesShown: 0 });
    expect(l.summary().lostSample).toEqual([{ orderId: 'r-o2', displayId: 'r-d6' }]);
    expect(l.shown(6, 2)).toBe(true);
    expect(l.summary().lost).toBe(0);
  });

  it('counts a second show as a duplicate and a wrong display as misrouted', () => {
    const l = new Ledger(fleet);
    l.accepted(1);
    expect(l.shown(3, 1)).toBe(true);
    expect(l.shown(3, 1)).toBe(false);
    expect(l.shown(0, 1)).toBe(false);
    expect(l.summary()).toMatchObject({ duplicatesShown: 1, misrouted: 1, displayed: 1, lost: 2 });
  });

  it('keeps orders shown without a 202 apart, and grows for long runs', () => {
    const l = new Ledger(fleet);
    expect(l.shown(6, 5000 * 3 + 2)).toBe(true);
    expect(l.isAccepted(15_002)).toBe(false);
    expect(l.summary()).toMatchObject({ accepted: 0, expected: 0, shownUnconfirmed: 1, lost: 0 });
    l.accepted(15_002);
    expect(l.summary()).toMatchObject({ accepted: 1, expected: 1, displayed: 1, shownUnconfirmed: 0 });
  });

  it('lists a bounded sample of what was lost but counts all of it', () => {
    const l = new Ledger(fleet);
    for (let n = 0; n < 100; n++) l.accepted(n);
    const s = l.summary();
    expect(s.lost).toBe(s.expected);
    expect(s.lostSample).toHaveLength(LOST_SAMPLE_SIZE);
  });
});
