/**
 * The node's token expiry schedule (src/socket/expiry.ts): every session's expiry on one timer,
 * grouped by the token's `exp` second, each item handed over once when its second has come.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createExpirySchedule, type ExpirySchedule } from '../src/socket/expiry.js';

const activeTimeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let schedule: ExpirySchedule<string> | undefined;
afterEach(() => schedule?.close());

describe('expiry schedule', () => {
  it('runs any number of items on one timer and hands each over once its exp second has come', async () => {
    const due: Array<[string, number]> = [];
    schedule = createExpirySchedule<string>((item) => due.push([item, Date.now()]));
    const before = activeTimeouts();
    const soon = Math.ceil(Date.now() / 1000) + 1;
    for (let i = 0; i < 500; i++) schedule.schedule(`a${i}`, soon);
    schedule.schedule('later', soon + 1);
    expect(schedule.size).toBe(501);
    // One timer for all of them.
    expect(activeTimeouts() - before).toBe(1);

    await sleep(soon * 1000 - Date.now() + 300);
    expect(due.map(([item]) => item).sort()).toEqual(Array.from({ length: 500 }, (_, i) => `a${i}`).sort());
    for (const [, at] of due) expect(at).toBeGreaterThanOrEqual(soon * 1000);
    expect(schedule.size).toBe(1);

    await sleep((soon + 1) * 1000 - Date.now() + 300);
    expect(due.map(([item]) => item)).toContain('later');
    expect(due).toHaveLength(501);
    expect(schedule.size).toBe(0);
    // Nothing left to wait for: no timer (other timers of the process may have ended meanwhile).
    expect(activeTimeouts() - before).toBeLessThanOrEqual(0);
  });

  it('moves a rescheduled item (a refreshed token) and forgets a cancelled one', async () => {
    const due: string[] = [];
    schedule = createExpirySchedule<string>((item) => due.push(item));
    const soon = Math.ceil(Date.now() / 1000) + 1;
    schedule.schedule('refreshed', soon);
    schedule.schedule('cancelled', soon);
    schedule.schedule('kept', soon);
    schedule.schedule('refreshed', soon + 60, soon);
    schedule.cancel('cancelled', soon);
    expect(schedule.size).toBe(2);
    await sleep(soon * 1000 - Date.now() + 300);
    expect(due).toEqual(['kept']);
    expect(schedule.size).toBe(1);
  });

  it('fires at once for an exp already past, and re-arms for one beyond setTimeout’s range', async () => {
    const due: string[] = [];
    schedule = createExpirySchedule<string>((item) => due.push(item));
    const before = activeTimeouts();
    schedule.schedule('far', Math.floor(Date.now() / 1000) + 60 * 24 * 3600 * 365);
    schedule.schedule('past', Math.floor(Date.now() / 1000) - 5);
    await sleep(50);
    expect(due).toEqual(['past']);
    expect(schedule.size).toBe(1);
    expect(activeTimeouts() - before).toBe(1);
  });
});
