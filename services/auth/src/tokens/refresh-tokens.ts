/**
 * Opaque refresh tokens: `<familyId>.<secret>`. The family id says where to look; the secret
 * (256 random bits) is what proves possession, and only its SHA-256 is stored.
 */

const FAMILY_ID_RE = /^[A-Za-z0-9_-]{22}$/;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

/** How many spent generations a family remembers for reuse detection. */
export const SPENT_HISTORY = 64;

export function formatRefreshToken(familyId: string, secret: string): string {
  return `${familyId}.${secret}`;
}

export function parseRefreshToken(token: string): { familyId: string; secret: string } | undefined {
  const dot = token.indexOf('.');
  if (dot < 0) return undefined;
  const familyId = token.slice(0, dot);
  const secret = token.slice(dot + 1);
  return FAMILY_ID_RE.test(familyId) && SECRET_RE.test(secret) ? { familyId, secret } : undefined;
}
