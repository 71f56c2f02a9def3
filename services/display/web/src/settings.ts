/** The runtime settings the server hands the page at `/config.json` (server: `src/settings.ts`). */
export interface Settings {
  authUrl: string;
  edgeUrls: string[];
  ageWarnMs: number;
  ageLateMs: number;
  offlineAfterMs: number;
  recallHistory: number;
  reconnectMaxMs: number;
  development: boolean;
}

export class SettingsError extends Error {
  readonly code = 'ORDERWIRE_ERR_DISPLAY_SETTINGS';
}

function positive(v: Record<string, unknown>, key: keyof Settings): number {
  const n = v[key];
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) throw new SettingsError(`config.json: ${key} must be a positive number`);
  return n;
}

function httpUrl(value: unknown, key: string): string {
  if (typeof value !== 'string' || !/^https?:\/\//.test(value)) throw new SettingsError(`config.json: ${key} must be an http(s) URL`);
  return value;
}

/** Checks what the server sent; a broken deployment shows its reason instead of a blank screen. */
export function parseSettings(value: unknown): Settings {
  if (typeof value !== 'object' || value === null) throw new SettingsError('config.json: not an object');
  const v = value as Record<string, unknown>;
  const edgeUrls = v.edgeUrls;
  if (!Array.isArray(edgeUrls) || edgeUrls.length === 0) throw new SettingsError('config.json: edgeUrls must be a non-empty array');
  const settings: Settings = {
    authUrl: httpUrl(v.authUrl, 'authUrl'),
    edgeUrls: edgeUrls.map((u, i) => httpUrl(u, `edgeUrls[${i}]`)),
    ageWarnMs: positive(v, 'ageWarnMs'),
    ageLateMs: positive(v, 'ageLateMs'),
    offlineAfterMs: positive(v, 'offlineAfterMs'),
    recallHistory: Math.floor(positive(v, 'recallHistory')),
    reconnectMaxMs: positive(v, 'reconnectMaxMs'),
    development: v.development === true,
  };
  if (settings.ageLateMs <= settings.ageWarnMs) throw new SettingsError('config.json: ageLateMs must exceed ageWarnMs');
  return settings;
}
