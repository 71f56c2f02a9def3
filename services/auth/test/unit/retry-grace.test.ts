import { describe, expect, it } from 'vitest';
import { retryGraceVerdict } from '../../src/refresh.js';
import type { RefreshFamilyRecord } from '../../src/stores/refresh-families.js';

const ROTATED_AT = Date.parse('2026-01-01T12:00:00.000Z');
const GRACE = 30_000;

/** Generation 5, issued by an ordinary refresh at ROTATED_AT. */
function family(overrides: Partial<RefreshFamilyRecord> = {}): RefreshFamilyRecord {
  return {
    v: 1,
    familyId: 'f'.repeat(22),
    tenant: 'demo',
    displayId: 'kitchen-1',
    generation: 5,
    tokenHash: 'h5',
    spent: ['h4', 'h3', 'h2', 'h1'],
    status: 'active',
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: ROTATED_AT + 86_400_000,
    rotatedAt: new Date(ROTATED_AT).toISOString(),
    rotation: 'refresh',
    ...overrides,
  };
}

const retry = { receivedAt: ROTATED_AT + 2_000, sawCurrent: false };

describe('retryGraceVerdict', () => {
  it('grants the previous generation, shortly after an ordinary rotation, to a request sent after it', () => {
    expect(retryGraceVerdict(family(), 4, retry, GRACE, ROTATED_AT + 2_000)).toBe('granted');
    // Records written before the grace existed carry no `rotation`: they were ordinary refreshes.
    expect(retryGraceVerdict(family({ rotation: undefined }), 4, retry, GRACE, ROTATED_AT + 2_000)).toBe('granted');
  });

  it('refuses everything else, with the reason', () => {
    const now = ROTATED_AT + 2_000;
    expect(retryGraceVerdict(family(), 4, retry, 0, now)).toBe('disabled');
    expect(retryGraceVerdict(family(), 3, retry, GRACE, now)).toBe('not_previous');
    expect(retryGraceVerdict(family({ rotation: 'retry_grace' }), 4, retry, GRACE, now)).toBe('already_used');
    expect(retryGraceVerdict(family(), 4, retry, GRACE, ROTATED_AT + GRACE)).toBe('expired');
    expect(retryGraceVerdict(family({ rotatedAt: 'garbage' }), 4, retry, GRACE, now)).toBe('expired');
    expect(retryGraceVerdict(family(), 4, { ...retry, sawCurrent: true }, GRACE, now)).toBe('concurrent');
    expect(retryGraceVerdict(family(), 4, { receivedAt: ROTATED_AT - 5, sawCurrent: false }, GRACE, now)).toBe('concurrent');
    // Same millisecond as the (truncated) rotation stamp: cannot be a retry of its response.
    expect(retryGraceVerdict(family(), 4, { receivedAt: ROTATED_AT + 0.9, sawCurrent: false }, GRACE, now)).toBe('concurrent');
    expect(retryGraceVerdict(family(), 4, { receivedAt: ROTATED_AT + 1, sawCurrent: false }, GRACE, now)).toBe('granted');
  });
});
