/**
 * Refresh-token rotation with reuse detection (RFC 9700 §4.14.2).
 *
 * Every refresh spends the presented token and issues the next generation, written with a CAS
 * on the family's KV revision. Presenting a spent token revokes the whole family. This is
 * strict on purpose: two concurrent refreshes with the same token are indistinguishable from
 * a thief racing the display, so the loser's CAS fails, it re-reads the family, finds its token
 * spent, and revokes the family — the winner's new token dies with it. There is no grace
 * window; the display SDK makes refresh single-flight so a well-behaved client never races.
 */
import type { AuthContext, RequestInfo } from './context.js';
import { digestEquals, randomSecret, sha256 } from './crypto/secrets.js';
import { revokeFamily, type DisplayTokens } from './displays.js';
import { AUTH_ERRORS } from './errors.js';
import { recordFailure, type AuthFailureReason } from './failures.js';
import { MAX_CAS_ATTEMPTS } from './kv.js';
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

function knows(family: RefreshFamilyRecord, hash: string): 'current' | 'spent' | undefined {
  if (digestEquals(hash, family.tokenHash)) return 'current';
  return family.spent.some((s) => digestEquals(hash, s)) ? 'spent' : undefined;
}

export async function refreshDisplayToken(ctx: AuthContext, token: string, info: RequestInfo): Promise<DisplayTokens> {
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

  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const found = await ctx.families.get(parsed.familyId);
    if (found === undefined) throw await fail('invalid');
    const family = found.value;
    const match = knows(family, hash);
    // Without a match the caller has not proven possession of any token of this family:
    // it learns nothing and revokes nothing (the family id alone is not a secret).
    if (match === undefined) throw await fail('invalid');
    if (family.status === 'revoked') throw await fail('revoked', family);

    if (match === 'spent') {
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
          details: { generation: family.generation },
        });
      }
      throw await fail('reused', family);
    }

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
      spent: [family.tokenHash, ...family.spent].slice(0, SPENT_HISTORY),
      rotatedAt: new Date().toISOString(),
    };
    // Lost the race: loop; the re-read will find this token spent (→ reuse) or the family revoked.
    if ((await ctx.families.replace(next, found.revision)) === undefined) continue;

    const access = await ctx.tokens.issueDisplayToken({
      tenant: family.tenant,
      displayId: family.displayId,
      storeId: display.value.storeId,
      stations: display.value.stations,
      familyId: family.familyId,
    });
    ctx.metrics.refresh.inc({ outcome: 'success' });
    ctx.metrics.tokensIssued.inc({ kind: 'display_refresh' });
    await ctx.audit.record('refreshed', {
      tenant: family.tenant,
      displayId: family.displayId,
      familyId: family.familyId,
      kid: ctx.keys.signer().kid,
      actor: { type: 'display', id: family.displayId },
      ip: info.ip,
      requestId: info.requestId,
      details: { generation: next.generation },
    });
    return {
      displayId: family.displayId,
      accessToken: access.token,
      refreshToken: formatRefreshToken(family.familyId, secret),
      expiresIn: access.expiresIn,
      refreshExpiresIn: Math.max(0, Math.floor((family.expiresAt - Date.now()) / 1000)),
    };
  }
  throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CONFLICT', { what: 'refresh token family' });
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
  if (found === undefined || knows(found.value, sha256(parsed.secret)) === undefined) return;
  await revokeFamily(ctx, parsed.familyId, 'token_revoked', info, {
    actor: { type: 'display', id: found.value.displayId },
  });
}
