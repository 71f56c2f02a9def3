/**
 * Filters, ordering and cursor pagination of entry lists — shared by the HTTP API and the CLI.
 *
 * Order: newest first by `firstFailedAt`, then by id (a total order on immutable fields, so pages
 * never skip or repeat an entry while others are added or change status). The cursor is opaque to
 * callers: base64url JSON of the last returned (time, id) plus a fingerprint of the filter, so a
 * cursor is refused when reused with a different filter instead of silently paging something else.
 */
import { createHash } from 'node:crypto';
import { isValidId, isValidOrderId } from '@orderwire/contracts';
import { ENTRY_REASONS, ENTRY_STATUSES, isEntryId, type EntryReason, type EntryStatus, type EntrySummary } from './entry.js';
import type { IndexedEntry } from './entry-index.js';
import { DLQ_ERRORS } from './errors.js';

/** 50 entries per page. */
export const DEFAULT_PAGE_LIMIT = 50;
/** Most entries per page. */
export const MAX_PAGE_LIMIT = 200;
/** 1024 characters — far above any cursor we issue. */
const CURSOR_MAX = 1024;

export interface EntryFilter {
  storeId?: string;
  displayId?: string;
  orderId?: string;
  reason?: EntryReason;
  status?: EntryStatus;
  /** Epoch ms, inclusive, on `firstFailedAt`. */
  from?: number;
  /** Epoch ms, exclusive, on `firstFailedAt`. */
  to?: number;
}

export const FILTER_KEYS = ['storeId', 'displayId', 'orderId', 'reason', 'status', 'from', 'to'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;

function invalid(reason: string, field?: string): Error {
  return DLQ_ERRORS.create('ORDERWIRE_ERR_DLQ_INVALID_FILTER', { reason }, { details: field === undefined ? { reason } : { field, reason } });
}

/** One value of a query-string or JSON field: a single string. */
function single(field: string, value: unknown): string {
  if (Array.isArray(value)) throw invalid(`${field} must be given once`, field);
  if (typeof value !== 'string') throw invalid(`${field} must be a string`, field);
  return value;
}

function time(field: string, text: string): number {
  const ms = RFC3339_RE.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw invalid(`${field} must be an RFC 3339 timestamp such as 2025-01-31T12:00:00Z`, field);
  return ms;
}

/**
 * Parses a filter from loose input (query string, JSON body, CLI flags), refusing unknown keys,
 * repeated keys, ids that could not exist and empty time ranges.
 */
export function parseFilter(raw: Record<string, unknown>, options: { statuses?: readonly EntryStatus[] } = {}): EntryFilter {
  const f: EntryFilter = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    switch (key) {
      case 'storeId':
      case 'displayId': {
        const v = single(key, value);
        if (!isValidId(v)) throw invalid(`${key} must be 1-64 of [A-Za-z0-9_-]`, key);
        f[key] = v;
        break;
      }
      case 'orderId': {
        const v = single(key, value);
        if (!isValidOrderId(v)) throw invalid('orderId must be 1-128 of [A-Za-z0-9_.:#/-]', key);
        f.orderId = v;
        break;
      }
      case 'reason': {
        const v = single(key, value);
        if (!(ENTRY_REASONS as readonly string[]).includes(v)) throw invalid(`reason must be one of ${ENTRY_REASONS.join(', ')}`, key);
        f.reason = v as EntryReason;
        break;
      }
      case 'status': {
        const v = single(key, value);
        const allowed = options.statuses ?? ENTRY_STATUSES;
        if (!allowed.includes(v as EntryStatus)) throw invalid(`status must be one of ${allowed.join(', ')}`, key);
        f.status = v as EntryStatus;
        break;
      }
      case 'from':
      case 'to':
        f[key] = time(key, single(key, value));
        break;
      default:
        throw invalid(`unknown filter ${JSON.stringify(key)}; known: ${FILTER_KEYS.join(', ')}`, key);
    }
  }
  if (f.from !== undefined && f.to !== undefined && f.from >= f.to) throw invalid('from must be before to', 'from');
  return f;
}

export function matches(e: IndexedEntry, f: EntryFilter): boolean {
  const s = e.summary;
  if (f.storeId !== undefined && s.storeId !== f.storeId) return false;
  if (f.displayId !== undefined && s.displayId !== f.displayId) return false;
  if (f.orderId !== undefined && s.orderId !== f.orderId) return false;
  if (f.reason !== undefined && s.reason !== f.reason) return false;
  if (f.status !== undefined && s.status !== f.status) return false;
  if (f.from !== undefined && e.firstFailedMs < f.from) return false;
  if (f.to !== undefined && e.firstFailedMs >= f.to) return false;
  return true;
}

/** Newest first; ties broken by id, descending. */
function newestFirst(a: IndexedEntry, b: IndexedEntry): number {
  if (a.firstFailedMs !== b.firstFailedMs) return b.firstFailedMs - a.firstFailedMs;
  return a.summary.id < b.summary.id ? 1 : a.summary.id > b.summary.id ? -1 : 0;
}

interface CursorBody {
  v: 1;
  t: number;
  id: string;
  f: string;
}

function fingerprint(tenant: string, f: EntryFilter): string {
  const canonical = JSON.stringify([tenant, ...FILTER_KEYS.map((k) => f[k] ?? null)]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 12);
}

export function encodeCursor(tenant: string, f: EntryFilter, last: IndexedEntry): string {
  const body: CursorBody = { v: 1, t: last.firstFailedMs, id: last.summary.id, f: fingerprint(tenant, f) };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

function badCursor(reason: string): Error {
  return DLQ_ERRORS.create('ORDERWIRE_ERR_DLQ_INVALID_CURSOR', { reason }, { details: { reason } });
}

export function decodeCursor(tenant: string, f: EntryFilter, cursor: string): CursorBody {
  if (cursor.length === 0 || cursor.length > CURSOR_MAX || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw badCursor('not a cursor this API issued');
  let body: Partial<CursorBody>;
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<CursorBody>;
  } catch {
    throw badCursor('not a cursor this API issued');
  }
  if (body === null || typeof body !== 'object' || body.v !== 1 || typeof body.t !== 'number' || !isEntryId(body.id) || typeof body.f !== 'string') {
    throw badCursor('not a cursor this API issued');
  }
  if (body.f !== fingerprint(tenant, f)) throw badCursor('the cursor belongs to a different filter; pass the same filter as the first page');
  return body as CursorBody;
}

export interface PageRequest {
  limit?: number;
  cursor?: string;
}

export interface Page {
  items: EntrySummary[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export function page(tenant: string, all: readonly IndexedEntry[], f: EntryFilter, req: PageRequest): Page {
  const limit = req.limit ?? DEFAULT_PAGE_LIMIT;
  const after = req.cursor === undefined ? undefined : decodeCursor(tenant, f, req.cursor);
  const selected = all
    .filter((e) => matches(e, f))
    .filter((e) => after === undefined || e.firstFailedMs < after.t || (e.firstFailedMs === after.t && e.summary.id < after.id))
    .sort(newestFirst);
  const items = selected.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map((e) => e.summary),
    nextCursor: selected.length > limit && last !== undefined ? encodeCursor(tenant, f, last) : null,
  };
}

/** Page parameters from loose input. */
export function parsePageRequest(raw: { limit?: unknown; cursor?: unknown }): PageRequest {
  const out: PageRequest = {};
  if (raw.limit !== undefined) {
    const text = single('limit', raw.limit);
    const n = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
    if (!(n >= 1 && n <= MAX_PAGE_LIMIT)) throw invalid(`limit must be an integer from 1 to ${MAX_PAGE_LIMIT}`, 'limit');
    out.limit = n;
  }
  if (raw.cursor !== undefined) out.cursor = single('cursor', raw.cursor);
  return out;
}

/** Entries a filtered replay would touch: oldest original first (the order displays first saw them). */
export function replaySelection(all: readonly IndexedEntry[], f: EntryFilter, max: number): { selected: EntrySummary[]; matched: number } {
  const matching = all.filter((e) => matches(e, f)).sort((a, b) => a.summary.seq - b.summary.seq || (a.summary.id < b.summary.id ? -1 : 1));
  return { selected: matching.slice(0, max).map((e) => e.summary), matched: matching.length };
}
