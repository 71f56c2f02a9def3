/** The display index built from the display registry (pure, no servers). */
import type { DisplayRecord } from '@orderwire/contracts';
import { describe, expect, it } from 'vitest';
import { createDisplayIndex, parseDisplayRecord } from '../src/display-index.js';

describe('display index', () => {
  const rec = (displayId: string, stations: string[], status: DisplayRecord['status'] = 'enrolled', tenant = 't1'): DisplayRecord => ({
    v: 1,
    tenant,
    displayId,
    storeId: 's1',
    stations,
    consumer: `display_${tenant}_${displayId}`,
    status,
    createdAt: '2024-01-01T00:00:00Z',
  });
  it('indexes active displays by tenant, store and station, following updates and deletes', () => {
    const idx = createDisplayIndex();
    idx.apply('t1.a', rec('a', ['grill', 'fry']));
    idx.apply('t1.b', rec('b', ['grill']));
    idx.apply('t2.a', rec('a', ['grill'], 'enrolled', 't2'));
    expect(idx.stationTargets('t1', 's1', 'grill')).toEqual(['a', 'b']);
    expect(idx.stationTargets('t1', 's1', 'fry')).toEqual(['a']);
    expect(idx.stationTargets('t2', 's1', 'grill')).toEqual(['a']);
    idx.apply('t1.a', rec('a', ['fry'])); // stations changed
    expect(idx.stationTargets('t1', 's1', 'grill')).toEqual(['b']);
    idx.apply('t1.b', rec('b', ['grill'], 'decommissioned'));
    expect(idx.stationTargets('t1', 's1', 'grill')).toEqual([]);
    idx.apply('t1.a', undefined);
    expect(idx.stationTargets('t1', 's1', 'fry')).toEqual([]);
    expect(idx.size()).toBe(1);
  });
  it('refuses malformed records', () => {
    expect(parseDisplayRecord(rec('a', ['grill']))).toBeDefined();
    expect(parseDisplayRecord({ ...rec('a', ['grill']), stations: ['a.b'] })).toBeUndefined();
    expect(parseDisplayRecord({ ...rec('a', ['grill']), tenant: '*' })).toBeUndefined();
    expect(parseDisplayRecord({ ...rec('a', ['grill']), status: 'gone' })).toBeUndefined();
    expect(parseDisplayRecord('x')).toBeUndefined();
  });
});
