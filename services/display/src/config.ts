/**
 * The only file of the display server that reads `process.env`. Validated once at start; a bad
 * variable stops the process with a message naming it. Everything the browser needs at run time
 * (where auth and the edges are, the age colours, the offline bound) is served to the page as
 * `GET /config.json`, so one built site works in every deployment.
 */
import { ConfigError, listenConfig, loadConfig, logConfig, shutdownConfig, type Config } from '@orderwire/platform';

export const DEFAULT_DISPLAY_PORT = 3005;
/** The local auth service of `npm start`. */
export const DEFAULT_AUTH_URL = 'http://127.0.0.1:3001';
/** The two local edge nodes of `npm start`. */
export const DEFAULT_EDGE_URLS = ['http://127.0.0.1:3003', 'http://127.0.0.1:3013'] as const;
/** 5 min — what kitchen display users expect for "getting late" (yellow). */
export const DEFAULT_AGE_WARN = '5m';
/** 8 min — "late" (red). */
export const DEFAULT_AGE_LATE = '8m';
/** 15 s without any reachable edge before the screen says it is offline and shows the banner. */
export const DEFAULT_OFFLINE_AFTER = '15s';
/** 10 — bumped tickets "Recall" can bring back. */
export const DEFAULT_RECALL_HISTORY = 10;
/** 5 s — longest pause between reconnect attempts: a kitchen screen should come back fast. */
export const DEFAULT_RECONNECT_MAX = '5s';

const HTTP_URL = ['http', 'https'] as const;

export const DISPLAY_CONFIG_SPEC = {
  ...listenConfig(DEFAULT_DISPLAY_PORT, 'listen port of the display web app'),
  ...logConfig('instance name in logs'),
  ...shutdownConfig(),
  authUrl: {
    env: 'DISPLAY_AUTH_URL',
    type: 'url',
    protocols: HTTP_URL,
    default: DEFAULT_AUTH_URL,
    doc: 'auth service base URL as the browser reaches it (enrollment, token refresh)',
  },
  edgeUrls: {
    env: 'DISPLAY_EDGE_URLS',
    type: 'list',
    default: DEFAULT_EDGE_URLS,
    itemPattern: /^https?:\/\/[^\s/]+(\/[^\s]*)?$/,
    minItems: 1,
    doc: 'edge nodes as the browser reaches them, comma-separated; the page fails over between them',
  },
  development: {
    env: 'DISPLAY_DEVELOPMENT',
    type: 'bool',
    default: false,
    doc: 'allow unencrypted http:/ws: auth and edge URLs (npm start and tests); the display SDK refuses them otherwise',
  },
  ageWarnMs: { env: 'DISPLAY_AGE_WARN', type: 'duration', default: DEFAULT_AGE_WARN, min: '1s', doc: 'ticket age (since acceptance) shown yellow' },
  ageLateMs: { env: 'DISPLAY_AGE_LATE', type: 'duration', default: DEFAULT_AGE_LATE, min: '1s', doc: 'ticket age shown red; must exceed DISPLAY_AGE_WARN' },
  offlineAfterMs: {
    env: 'DISPLAY_OFFLINE_AFTER',
    type: 'duration',
    default: DEFAULT_OFFLINE_AFTER,
    min: '1s',
    max: '1h',
    doc: 'time without a reachable edge before "Offline since HH:MM" and the stale-screen banner',
  },
  recallHistory: { env: 'DISPLAY_RECALL_HISTORY', type: 'int', default: DEFAULT_RECALL_HISTORY, min: 1, max: 100, doc: 'bumped tickets kept for Recall' },
  reconnectMaxMs: {
    env: 'DISPLAY_RECONNECT_MAX',
    type: 'duration',
    default: DEFAULT_RECONNECT_MAX,
    min: '500ms',
    max: '5m',
    doc: 'longest pause between the page’s reconnect attempts',
  },
} as const;

export type DisplayServerConfig = Config<typeof DISPLAY_CONFIG_SPEC>;

/** @throws ConfigError (ORDERWIRE_ERR_CONFIG_INVALID) naming every bad variable. */
export function loadDisplayConfig(env: Readonly<Record<string, string | undefined>> = process.env): DisplayServerConfig {
  const config = loadConfig(DISPLAY_CONFIG_SPEC, env);
  if (config.ageLateMs <= config.ageWarnMs) {
    throw new ConfigError([{ key: 'ageLateMs', env: 'DISPLAY_AGE_LATE', reason: `must be longer than DISPLAY_AGE_WARN (${config.ageWarnMs} ms)` }]);
  }
  const insecure = [config.authUrl, ...config.edgeUrls].filter((u) => u.startsWith('http:'));
  if (insecure.length > 0 && !config.development) {
    throw new ConfigError([
      { key: 'edgeUrls', env: 'DISPLAY_EDGE_URLS', reason: `unencrypted URLs (${insecure.join(', ')}) need DISPLAY_DEVELOPMENT=true; use https: in production` },
    ]);
  }
  return config;
}
