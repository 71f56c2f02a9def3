/**
 * `GET /config.json`: the runtime settings of the display web app. The page validates what it
 * gets with `parseSettings` in `web/src/settings.ts`; a test pins the two together.
 */
import type { DisplayServerConfig } from './config.js';

export interface RuntimeSettings {
  authUrl: string;
  edgeUrls: string[];
  ageWarnMs: number;
  ageLateMs: number;
  offlineAfterMs: number;
  recallHistory: number;
  reconnectMaxMs: number;
  /** Lets the display SDK use http:/ws: (DISPLAY_DEVELOPMENT). */
  development: boolean;
}

export function runtimeSettings(config: DisplayServerConfig): RuntimeSettings {
  return {
    authUrl: config.authUrl.replace(/\/+$/, ''),
    edgeUrls: config.edgeUrls.map((u) => u.replace(/\/+$/, '')),
    ageWarnMs: config.ageWarnMs,
    ageLateMs: config.ageLateMs,
    offlineAfterMs: config.offlineAfterMs,
    recallHistory: config.recallHistory,
    reconnectMaxMs: config.reconnectMaxMs,
    development: config.development,
  };
}

/**
 * The page may talk only to itself, auth and the edges (http for Socket.IO's handshake and
 * ws for its transport). No inline script; inline styles are not used either.
 */
export function contentSecurityPolicy(settings: RuntimeSettings): string {
  const origins = new Set<string>();
  for (const raw of [settings.authUrl, ...settings.edgeUrls]) {
    const url = new URL(raw);
    origins.add(url.origin);
    if (raw !== settings.authUrl) origins.add(`${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}`);
  }
  return [
    "default-src 'self'",
    `connect-src 'self' ${[...origins].join(' ')}`,
    "img-src 'self' data:",
    "style-src 'self'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
