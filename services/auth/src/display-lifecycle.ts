/**
 * Display lifecycle: register (mailbox consumer + registry record + one-time code), enroll
 * (code → first access token and refresh-token family), decommission (everything revoked,
 * mailbox deleted, edges told).
 */
import { randomBytes } from 'node:crypto';
import { assertId, displayConsumerName, type DisplayRecord } from '@orderwire/contracts';
import { ensureDisplayConsumer, deleteDisplayConsumer, orderStreamFor } from '@orderwire/platform';
import type { AuthContext, RequestInfo } from './context.js';
import { normalizeEnrollmentCode, randomEnrollmentCode, randomSecret, sha256 } from './crypto/secrets.js';
import { AUTH_ERRORS } from './errors.js';
import { recordFailure } from './failures.js';
import { deleteLegacyMailbox, migrateDisplayMailbox } from './mailbox-migration.js';
import type { FamilyRevokeReason, RefreshFamilyRecord } from './stores/refresh-families.js';
import { formatRefreshToken } from './tokens/refresh-tokens.js';

export interface Caller {
  tenant: string;
  clientId: string;
}

export interface RegisterDisplayInput {
  displayId: string;
  storeId: string;
  stations: string[];
  label?: string;
}

export interface RegisterDisplayResult {
  displayId: string;
  enrollmentCode: string;
  /** Seconds until the code expires. */
  expiresIn: number;
}

export interface DisplayTokens {
  displayId: string;
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  /** Seconds until the refresh-token family ends (absolute). */
  refreshExpiresIn: number;
}

/** 128-bit family ids: unguessable, subject- and KV-key-safe. */
export function newFamilyId(): string {
  return randomBytes(16).toString('base64url');
}

export async function registerDisplay(
  ctx: AuthContext,
  caller: Caller,
  input: RegisterDisplayInput,
  reissue: boolean,
  info: RequestInfo,
): Promise<RegisterDisplayResult> {
  const tenant = assertId('tenant', caller.tenant);
  const displayId = assertId('display', input.displayId);
  const storeId = assertId('store', input.storeId);
  const stations = [...new Set(input.stations.map((s) => assertId('station', s)))];

  const existing = await ctx.displays.get(tenant, displayId);
  const live = existing !== undefined && existing.value.status !== 'decommissioned';
  if (live && !reissue) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_DISPLAY_EXISTS', { displayId });
  if (!live) await checkDisplayQuota(ctx, tenant);

  // The mailbox exists before the registry says the display does, so ingest never routes to
  // a display without a consumer to hold its orders.
  const { ackWaitMs, maxAckPending, maxDeliver, backoffMs } = ctx.config.consumer;
  // A mailbox still under its legacy name moves first, with its backlog (in-flight messages are
  // redelivered: an operator re-registering the display is the moment to move it). Only a display
  // with a registry record can have one: legacy mailboxes were made by earlier versions of this
  // registration, and one orphaned without a record is moved by the start-up migration.
  if (existing !== undefined) {
    await migrateDisplayMailbox({ jsm: ctx.jsm, displays: ctx.displays, logger: ctx.logger }, tenant, displayId, { force: true });
  }
  const mailbox = await ensureDisplayConsumer(
    ctx.jsm,
    { tenant, store: storeId, displayId, stations },
    // A display never registered has no mailbox: create it in one request (a taken name still gets every check).
    { ackWaitMs, maxAckPending, maxDeliver, ...(backoffMs === undefined ? {} : { backoffMs }), expectNew: existing === undefined },
  );
  // A display moved to a store of another partition stream has a new mailbox there; its old one
  // would keep the old store's orders coming. Within one stream the filters are updated in place,
  // which drops the old store's backlog the same way.
  if (live && existing.value.storeId !== storeId) {
    const old = await orderStreamFor(ctx.jsm, tenant, existing.value.storeId);
    if (old !== undefined && old !== mailbox.stream) await deleteDisplayConsumer(ctx.jsm, tenant, displayId, { stream: old });
  }

  const now = new Date().toISOString();
  const record: DisplayRecord =
    live && existing !== undefined
      ? { ...existing.value, storeId, stations, consumer: displayConsumerName(tenant, displayId) }
      : {
          v: 1,
          tenant,
          displayId,
          storeId,
          stations,
          consumer: displayConsumerName(tenant, displayId),
          status: 'registered',
          createdAt: now,
        };
  if (input.label !== undefined) record.label = input.label;
  if ((await ctx.displays.write(record, existing?.revision)) === undefined) {
    // Someone registered (or changed) the same display between our read and write.
    throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_DISPLAY_EXISTS', { displayId });
  }

  const code = randomEnrollmentCode();
  const expiresAt = Date.now() + ctx.config.enrollmentTtlMs;
  // The registration is committed (mailbox and record): its audit event goes out with the code's
  // writes, not after them (`record` never rejects; the code is handed out only once stored).
  await Promise.all([
    ctx.enrollments.issue(tenant, displayId, sha256(normalizeEnrollmentCode(code)), expiresAt, { firstCode: existing === undefined }),
    ctx.audit.record('display_registered', {
      tenant,
      actor: { type: 'client', id: caller.clientId },
      displayId,
      ip: info.ip,
      requestId: info.requestId,
      details: { storeId, stations, reissue: live },
    }),
  ]);
  return { displayId, enrollmentCode: code, expiresIn: Math.floor(ctx.config.enrollmentTtlMs / 1000) };
}

/**
 * A new display must fit in the tenant's quota (its record's `quotas.maxDisplays`, else
 * AUTH_TENANT_MAX_DISPLAYS); re-registering a live display creates nothing and is not counted.
 * @throws ORDERWIRE_ERR_AUTH_DISPLAY_QUOTA_EXCEEDED (429)
 */
async function checkDisplayQuota(ctx: AuthContext, tenant: string): Promise<void> {
  const count = ctx.displayCounts.live(tenant);
  // The override as watched: no tenant-record read per registration.
  if (count < (ctx.displayCounts.maxDisplays(tenant) ?? ctx.config.tenantMaxDisplays)) return;
  // The watch may lag a quota just raised: the record itself decides before a refusal.
  const quota = (await ctx.tenants.get(tenant))?.quotas?.maxDisplays ?? ctx.config.tenantMaxDisplays;
  if (count < quota) return;
  ctx.metrics.quotaExceeded.inc({ quota: 'displays' });
  throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_DISPLAY_QUOTA_EXCEEDED', { tenant, count, quota }, { details: { quota, count } });
}

export async function getDisplay(ctx: AuthContext, tenant: string, displayId: string): Promise<DisplayRecord> {
  const found = await ctx.displays.get(tenant, assertId('display', displayId));
  if (found === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_DISPLAY_NOT_FOUND', { displayId });
  return found.value;
}

/**
 * Revokes one family. Announces on NATS unless `announce` is false (decommission announces
 * once for the whole display). Returns true when this call changed it.
 */
export async function revokeFamily(
  ctx: AuthContext,
  familyId: string,
  reason: FamilyRevokeReason,
  info: RequestInfo,
  options: { announce?: boolean; actor?: { type: 'client' | 'display' | 'system'; id?: string } } = {},
): Promise<boolean> {
  const res = await ctx.families.revoke(familyId, reason);
  if (res === undefined || !res.changed) return false;
  const { tenant, displayId } = res.before;
  ctx.metrics.revocations.inc({ reason });
  if (options.announce ?? true) {
    await ctx.revocations.announce({ tenant, displayId, familyId, reason: 'token_revoked' });
  }
  await ctx.audit.record('revoked', {
    tenant,
    displayId,
    familyId,
    reason,
    actor: options.actor ?? { type: 'system' },
    ip: info.ip,
    requestId: info.requestId,
  });
  return true;
}

export async function enrollDisplay(ctx: AuthContext, rawCode: string, info: RequestInfo): Promise<DisplayTokens> {
  const invalid = async (reason: 'enrollment_invalid' | 'enrollment_expired' | 'enrollment_used', fields = {}) => {
    await recordFailure(ctx, info, reason, { actor: { type: 'anonymous' }, ...fields });
    const code =
      reason === 'enrollment_expired'
        ? 'ORDERWIRE_ERR_AUTH_ENROLLMENT_EXPIRED'
        : reason === 'enrollment_used'
          ? 'ORDERWIRE_ERR_AUTH_ENROLLMENT_USED'
          : 'ORDERWIRE_ERR_AUTH_ENROLLMENT_INVALID';
    return AUTH_ERRORS.create(code);
  };

  const codeHash = sha256(normalizeEnrollmentCode(rawCode));
  const owner = await ctx.enrollments.lookup(codeHash);
  if (owner === undefined) throw await invalid('enrollment_invalid');
  const { tenant, displayId } = owner;
  const target = { tenant, displayId };
  // Both reads at once (one write to the server, one wait); the display's is used only if the code holds.
  const [pending, display] = await Promise.all([ctx.enrollments.forDisplay(tenant, displayId), ctx.displays.get(tenant, displayId)]);
  // A reissued code replaces the display's record, so an older code no longer matches.
  if (pending === undefined || pending.value.codeHash !== codeHash) throw await invalid('enrollment_invalid', target);
  if (pending.value.status === 'used') throw await invalid('enrollment_used', target);
  if (pending.value.expiresAt <= Date.now()) throw await invalid('enrollment_expired', target);
  if (display === undefined || display.value.status === 'decommissioned') throw await invalid('enrollment_invalid', target);
  // The one atomic step: of any number of concurrent redemptions, one CAS succeeds.
  if (!(await ctx.enrollments.markUsed(pending))) throw await invalid('enrollment_used', target);

  // A new enrollment supersedes the display's earlier sessions (e.g. a replaced device). The
  // first code of a display never registered before has none to list (a STREAM.INFO less).
  if (pending.value.firstCode !== true) {
    for (const fam of await ctx.families.familyIdsOf(tenant, displayId)) {
      await revokeFamily(ctx, fam, 'superseded', info, { actor: { type: 'display', id: displayId } });
    }
  }

  const now = Date.now();
  const familyId = newFamilyId();
  const secret = randomSecret();
  const family: RefreshFamilyRecord = {
    v: 1,
    familyId,
    tenant,
    displayId,
    generation: 1,
    tokenHash: sha256(secret),
    spent: [],
    status: 'active',
    createdAt: new Date(now).toISOString(),
    expiresAt: now + ctx.config.refreshTtlMs,
    rotatedAt: new Date(now).toISOString(),
  };
  await ctx.families.create(family);

  // From the record read above (a change since then loses the CAS and is read again).
  const enrolled = await ctx.displays.mutate(
    tenant,
    displayId,
    (cur) => (cur.status === 'decommissioned' ? undefined : { ...cur, status: 'enrolled', enrolledAt: new Date(now).toISOString() }),
    display,
  );
  if (enrolled === undefined || enrolled.status === 'decommissioned') {
    // Decommissioned while we were enrolling: the family must not outlive the display.
    await revokeFamily(ctx, familyId, 'display_decommissioned', info);
    throw await invalid('enrollment_invalid', target);
  }

  // The enrollment is committed: its audit event is appended while the token is signed (`record`
  // never rejects). The kid is the one the signature uses: both read the signer in this tick.
  const [access] = await Promise.all([
    ctx.tokens.issueDisplayToken({
      tenant,
      displayId,
      storeId: enrolled.storeId,
      stations: enrolled.stations,
      familyId,
    }),
    ctx.audit.record('enrolled', {
      tenant,
      displayId,
      familyId,
      kid: ctx.keys.signer().kid,
      actor: { type: 'display', id: displayId },
      ip: info.ip,
      requestId: info.requestId,
    }),
  ]);
  ctx.metrics.tokensIssued.inc({ kind: 'display_enroll' });
  return {
    displayId,
    accessToken: access.token,
    refreshToken: formatRefreshToken(familyId, secret),
    expiresIn: access.expiresIn,
    refreshExpiresIn: Math.floor(ctx.config.refreshTtlMs / 1000),
  };
}

export interface DecommissionResult {
  displayId: string;
  status: 'decommissioned';
  revokedFamilies: number;
  consumerDeleted: boolean;
}

/** Idempotent: running it again after a partial failure finishes the job. */
export async function decommissionDisplay(
  ctx: AuthContext,
  caller: Caller,
  displayId: string,
  info: RequestInfo,
): Promise<DecommissionResult> {
  const tenant = caller.tenant;
  assertId('display', displayId);
  // Registry first: from here on, refresh refuses this display even before families flip.
  const record = await ctx.displays.mutate(tenant, displayId, (cur) =>
    cur.status === 'decommissioned' ? undefined : { ...cur, status: 'decommissioned', decommissionedAt: new Date().toISOString() },
  );
  if (record === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_DISPLAY_NOT_FOUND', { displayId });

  let revoked = 0;
  for (const fam of await ctx.families.familyIdsOf(tenant, displayId)) {
    const changed = await revokeFamily(ctx, fam, 'display_decommissioned', info, {
      announce: false,
      actor: { type: 'client', id: caller.clientId },
    });
    if (changed) revoked++;
  }
  // A mailbox not migrated yet is deleted under its legacy name — only when provably this display's.
  const legacyDeleted = await deleteLegacyMailbox({ jsm: ctx.jsm, displays: ctx.displays, logger: ctx.logger }, tenant, displayId);
  const consumerDeleted = (await deleteDisplayConsumer(ctx.jsm, tenant, displayId)) || legacyDeleted;
  await ctx.revocations.announce({ tenant, displayId, reason: 'display_decommissioned' });
  await ctx.audit.record('display_decommissioned', {
    tenant,
    displayId,
    actor: { type: 'client', id: caller.clientId },
    ip: info.ip,
    requestId: info.requestId,
    details: { revokedFamilies: revoked, consumerDeleted },
  });
  return { displayId, status: 'decommissioned', revokedFamilies: revoked, consumerDeleted };
}
