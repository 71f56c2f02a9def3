/**
 * Display presence in Redis: written by the edges, read by auth's `GET /v1/displays`. Redis
 * holds nothing that cannot be lost — presence rebuilds itself within one refresh interval of
 * Redis coming back, and an edge that dies stops refreshing, so its displays go offline when
 * their live keys expire.
 *
 * - `ow:presence:live:<tenant>:<displayId>` — string, a `PresenceLive` JSON, with a TTL the edge
 *   refreshes. Present = online. Written on connect (unconditionally: the newest session owns
 *   it), refreshed and deleted only while it still holds the writer's own value, so an old
 *   session closing on one node never marks a display offline that has moved to another.
 * - `ow:presence:seen:<tenant>` — hash, field `<displayId>` → `PresenceSeen` JSON: when the
 *   display was last connected, and where.
 *
 * Ids match `ID_PATTERN`, which has no `:`, so these names are injective.
 */

export const PRESENCE_KEY_PREFIX = 'ow:presence';

export interface PresenceLive {
  /** Edge instance (INSTANCE_ID) holding the session. */
  edge: string;
  socketId: string;
  storeId: string;
  /** Epoch ms the session started. */
  connectedAt: number;
}

export interface PresenceSeen {
  /** Epoch ms the display was last known connected. */
  at: number;
  edge: string;
}

export function presenceLiveKey(tenant: string, displayId: string): string {
  return `${PRESENCE_KEY_PREFIX}:live:${tenant}:${displayId}`;
}

export function presenceSeenKey(tenant: string): string {
  return `${PRESENCE_KEY_PREFIX}:seen:${tenant}`;
}
