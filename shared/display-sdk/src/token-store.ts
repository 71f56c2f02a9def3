/**
 * Where a display keeps its tokens between restarts. The TokenManager is the only reader and
 * writer; apps pick the backend (memory, localStorage, a file via their own TokenStore, ...).
 */

export interface StoredTokens {
  displayId: string;
  accessToken: string;
  refreshToken: string;
  /** Epoch ms, local clock, when the access token expires (clock-skew corrected). */
  accessExpiresAt: number;
  /** Epoch ms, local clock, when the access token was obtained. */
  obtainedAt: number;
  /** Epoch ms, local clock, when the refresh-token family expires, if the server said. */
  refreshExpiresAt?: number;
}

export interface TokenStore {
  load(): Promise<StoredTokens | undefined>;
  save(tokens: StoredTokens): Promise<void>;
  clear(): Promise<void>;
}

/** The subset of the Web Storage API the SDK uses (`localStorage`, `sessionStorage`, or a shim). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** storage key of `webStorageTokenStore` */
export const DEFAULT_STORAGE_KEY = 'orderwire.display.tokens';

/** Keeps tokens in memory only: a restart means enrolling again. */
export function memoryTokenStore(initial?: StoredTokens): TokenStore {
  let value = initial === undefined ? undefined : { ...initial };
  return {
    load: async () => (value === undefined ? undefined : { ...value }),
    save: async (tokens) => {
      value = { ...tokens };
    },
    clear: async () => {
      value = undefined;
    },
  };
}

/**
 * Keeps tokens in a Web Storage object as JSON. Several tabs sharing one storage key share one
 * identity: the TokenManager re-reads the store before refreshing, so a tab adopts tokens
 * another tab just rotated instead of replaying a spent refresh token.
 */
export function webStorageTokenStore(storage: StorageLike, key: string = DEFAULT_STORAGE_KEY): TokenStore {
  return {
    load: async () => {
      const raw = storage.getItem(key);
      if (raw === null) return undefined;
      const parsed = parseStoredTokens(raw);
      // A corrupt entry is useless and would shadow a fresh enrollment; drop it.
      if (parsed === undefined) storage.removeItem(key);
      return parsed;
    },
    save: async (tokens) => {
      storage.setItem(key, JSON.stringify(tokens));
    },
    clear: async () => {
      storage.removeItem(key);
    },
  };
}

/** Parses and shape-checks serialized tokens; `undefined` when they are not usable. */
export function parseStoredTokens(raw: string): StoredTokens | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  return isStoredTokens(value) ? value : undefined;
}

export function isStoredTokens(value: unknown): value is StoredTokens {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.displayId === 'string' &&
    typeof v.accessToken === 'string' &&
    v.accessToken !== '' &&
    typeof v.refreshToken === 'string' &&
    v.refreshToken !== '' &&
    Number.isFinite(v.accessExpiresAt) &&
    Number.isFinite(v.obtainedAt) &&
    (v.refreshExpiresAt === undefined || Number.isFinite(v.refreshExpiresAt))
  );
}
