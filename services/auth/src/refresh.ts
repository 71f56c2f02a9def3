/**
 * Refresh-token rotation with reuse detection (RFC 9700 §4.14.2) and a bounded retry grace.
 *
 * Every refresh spends the presented token and issues the next generation, written with a CAS
 * on the family's KV revision. Presenting a spent token revokes the whole family, with one
 * exception: the retry of a lost response. A display whose refresh response never arrived
 * (flaky store Wi-Fi) still holds generation N−1 while N is current and unseen; it gets the
 * family rotated once more, to N+1 (so the lost N dies too), when all of these hold:
 *   - the token is exactly N−1, and N came from an ordinary refresh, not from a grace retry
 *     (once per generation). N itself cannot have been presented: that rotates or revokes;
 *   - the rotation to N is less than AUTH_REFRESH_RETRY_GRACE old (0 disables the grace);
 *   - the request arrived after that rotation and never saw N−1 as current. A retry is sent
 *     after the response was lost; a request in flight during the rotation is a concurrent
 *     duplicate — indistinguishable from a thief racing the display — and stays strict: its
 *     CAS loses, it re-reads, finds its token spent, and revokes the family.
 * The grace rotation is the same CAS, so of concurrent retries one wins; the others then find
 * N−1 two generations back, which is reuse.
 */
import { CAS_CONFLICT, compareAndSet } from '@orderwire/platform';
import type { AuthContext, RequestInfo } from './context.js';
import { digestEquals, randomSecret, sha256 } from './crypto/secrets.js';
import { revokeFamily, type DisplayTokens } from './display-lifecycle.js';
import { AUTH_ERRORS } from './errors.js';
import { recordFailure, type AuthFailureReason } from './failures.js';
import type { RefreshFamilyRecord } from './stores/refresh-families.js';
import { formatRefreshToken, parseRefreshToken, SPENT_HISTORY } from './tokens/refresh-tokens.js';

type Outcome = 'invalid' | 'expired' | 'revoked' | 'reused';

const OUTCOME_ERROR = {
  invalid: 'ORDERWIRE_ERR_AUTH_REFRESH_INVALID',
  expired: 'ORDERWIRE_ERR_AUTH_REFRESH_EXPIRED',
  revoked: 'ORDERWIRE_ERR_AUTH_REFRESH_REVOKED',
  reused: 'ORDERWIRE_ERR_AUTH_REFRESH_REUSED',
} as const;

const OUTCOME_REASON: Record<Outcome, AuthFailureReason> = {
  invalid: 'refresh_invalid',
  expired: 'refresh_expired',
  revoked: 'refresh_revoked',
  reused: 'refresh_reused',
};

/** A refresh request: who, plus when it reached this replica. */
export interface RefreshRequestInfo extends RequestInfo {
  /** Epoch ms when the request arrived (before rate limiting), to tell retries from duplicates. */
  receivedAt: number;
}

/** Which of the family's tokens was presented; spent ones with their generation. */
type Presented = { kind: 'current' } | { kind: 'spent'; generation: number };

function presented(family: RefreshFamilyRecord, hash: string): Presented | undefined {
  if (digestEquals(hash, family.tokenHash)) return { kind: 'current' };
  // `spent` is newest first and every rotation adds exactly one hash: index i is generation − 1 − i.
  const i = family.spent.findIndex((s) => digestEquals(hash, s));
  return i < 0 ? undefined : { kind: 'spent', generation: family.generation - 1 - i };
}

/**
 * Whether a spent token gets the retry grace (`granted`), or why not — the reason is audited
 * with the reuse it becomes:
 *   `disabled` (AUTH_REFRESH_RETRY_GRACE = 0), `not_previous` (older than generation − 1, e.g.
 *   its successor was already used or already retried), `already_used` (the current generation
 *   is itself a grace retry), `expired` (the rotation is older than the grace), `concurrent`
 *   (the request was in flight when the rotation happened).
 */
export type RetryGraceVerdict = 'granted' | 'disabled' | 'not_previous' | 'already_used' | 'expired' | 'concurrent';

export function retryGraceVerdict(
  family: RefreshFamilyRecord,
  presentedGeneration: number,
  request: { receivedAt: number; sawCurrent: boolean },
  graceMs: number,
  now: number,
): RetryGraceVerdict {
  if (graceMs <= 0) return 'disabled';
  if (presentedGeneration !== family.generation - 1) return 'not_previous';
  if (family.rotation === 'retry_grace') return 'already_used';
  const rotatedAt = Date.parse(family.rotatedAt);
  // Written as "not within" so an unparsable timestamp (NaN) refuses the grace.
  if (!(now - rotatedAt < graceMs)) return 'expired';
  // `rotatedAt` has millisecond resolution and is stamped just before the CAS: only a request
  // that arrived in a later millisecond can be a retry of that rotation's response.
  if (request.sawCurrent || Math.floor(request.receivedAt) <= rotatedAt) return 'concurrent';
  return 'granted';
}

export async function refreshDisplayToken(ctx: AuthContext, token: string, info: RefreshRequestInfo): Promise<DisplayTokens> {
  const fail = async (outcome: Outcome, family?: RefreshFamilyRecord): Promise<Error> => {
    ctx.metrics.refresh.inc({ outcome });
    const fields =
      family === undefined
        ? { actor: { type: 'anonymous' as const } }
        : {
            tenant: family.tenant,
            displayId: family.displayId,
            familyId: family.familyId,
            actor: { type: 'display' as const, id: family.displayId },
          };
    await recordFailure(ctx, info, OUTCOME_REASON[outcome], fields);
    return AUTH_ERRORS.create(OUTCOME_ERROR[outcome]);
  };

  const parsed = parseRefreshToken(token);
  if (parsed === undefined) throw await fail('invalid');
  const hash = sha256(parsed.secret);
  // Set once this request has seen its token as the current one: it was then in flight during
  // any rotation that spends it, so it is a concurrent duplicate, never a lost-response retry.
  let sawCurrent = false;

  return compareAndSet(
    async () => {
      const found = await ctx.families.get(parsed.familyId);
      if (found === undefined) throw await fail('invalid');
      const family = found.value;
      const match = presented(family, hash);
      // Without a match the caller has not proven possession of any token of this family:
      // it learns nothing and revokes nothing (the family id alone is not a secret).
      if (match === undefined) throw await fail('invalid');
      if (family.status === 'revoked') throw await fail('revoked', family);

      if (match.kind === 'current') {
        sawCurrent = true;
      } else {
        const request = { receivedAt: info.receivedAt, sawCurrent };
        const verdict = retryGraceVerdict(family, match.generation, request, ctx.config.refreshRetryGraceMs, Date.now());
        if (verdict !== 'granted') {
          const revoked = await revokeFamily(ctx, family.familyId, 'reuse_detected', info, {
            actor: { type: 'display', id: family.displayId },
          });
          if (revoked) {
            ctx.metrics.reuseDetected.inc();
            await ctx.audit.record('refresh_reuse_detected', {
              tenant: family.tenant,
              displayId: family.displayId,
              familyId: family.familyId,
              actor: { type: 'display', id: family.displayId },
              ip: info.ip,
              requestId: info.requestId,
              details: { generation: family.generation, presentedGeneration: match.generation, retryGrace: verdict },
            });
          }
          throw await fail('reused', family);
        }
      }
      const retryGrace = match.kind === 'spent';

      if (family.expiresAt <= Date.now()) throw await fail('expired', family);

      const display = await ctx.displays.get(family.tenant, family.displayId);
      if (display === undefined || display.value.status === 'decommissioned') {
        await revokeFamily(ctx, family.familyId, 'display_decommissioned', info);
        throw await fail('revoked', family);
      }

      const secret = randomSecret();
      const next: RefreshFamilyRecord = {
        ...family,
        generation: family.generation + 1,
        tokenHash: sha256(secret),
        // A grace rotation spends the unseen current token too: the lost response's token is dead.
        spent: [family.tokenHash, ...family.spent].slice(0, SPENT_HISTORY),
        rotatedAt: new Date().toISOString(),
        rotation: retryGrace ? 'retry_grace' : 'refresh',
      };
      // Lost the race: loop; the re-read will find this token spent (→ reuse) or the family revoked.
      if ((await ctx.families.replace(next, found.revision)) === undefined) return CAS_CONFLICT;

      const access = await ctx.tokens.issueDisplayToken({
        tenant: family.tenant,
        displayId: family.displayId,
        storeId: display.value.storeId,
        stations: display.value.stations,
        familyId: family.familyId,
      });
      ctx.metrics.refresh.inc({ outcome: retryGrace ? 'retry_grace' : 'success' });
      ctx.metrics.tokensIssued.inc({ kind: 'display_refresh' });
      await ctx.audit.record(retryGrace ? 'refresh_retry_grace' : 'refreshed', {
        tenant: family.tenant,
        displayId: family.displayId,
        familyId: family.familyId,
        kid: ctx.keys.signer().kid,
        actor: { type: 'display', id: family.displayId },
        ip: info.ip,
        requestId: info.requestId,
        // For a grace retry: the token presented (N−1), the one whose response was lost (N), the new one.
        details: retryGrace
          ? { generation: next.generation, presentedGeneration: family.generation - 1, lostGeneration: family.generation }
          : { generation: next.generation },
      });
      return {
        displayId: family.displayId,
        accessToken: access.token,
        refreshToken: formatRefreshToken(family.familyId, secret),
        expiresIn: access.expiresIn,
        refreshExpiresIn: Math.max(0, Math.floor((family.expiresAt - Date.now()) / 1000)),
      };
    },
    { exhausted: () => AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CONFLICT', { what: 'refresh token family' }) },
  );
}

/**
 * RFC 7009-style revocation: always succeeds from the caller's view (an unknown token is not
 * an error, so the endpoint cannot be used to probe tokens). Revokes only when the caller
 * proves possession of a current or recently spent token of the family.
 */
export async function revokeRefreshToken(ctx: AuthContext, token: string, info: RequestInfo): Promise<void> {
  const parsed = parseRefreshToken(token);
  if (parsed === undefined) return;
  const found = await ctx.families.get(parsed.familyId);
  if (found === undefined || presented(found.value, sha256(parsed.secret)) === undefined) return;
  await revokeFamily(ctx, parsed.familyId, 'token_revoked', info, {
    actor: { type: 'display', id: found.value.displayId },
  });
}
