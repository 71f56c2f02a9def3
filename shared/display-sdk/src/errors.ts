/**
 * Error catalogue of the display SDK. Every error the SDK throws or emits is a
 * `DisplaySdkError` with one of these stable codes; the README lists them all
 * (scripts/check-error-docs.mjs keeps the two in step). Messages never contain tokens.
 */

export const SDK_ERRORS = {
  ORDERWIRE_ERR_SDK_INVALID_OPTIONS: 'invalid options: {reason}',
  ORDERWIRE_ERR_SDK_NOT_ENROLLED: 'no tokens in the store; call enroll() with an enrollment code first',
  ORDERWIRE_ERR_SDK_REENROLL_REQUIRED: 'the refresh-token family is no longer valid ({serverCode}); enroll again',
  ORDERWIRE_ERR_SDK_ENROLL_FAILED: 'enrollment rejected with HTTP {status} ({serverCode}): {serverMessage}',
  ORDERWIRE_ERR_SDK_REFRESH_FAILED: 'token {operation} rejected with HTTP {status} ({serverCode}): {serverMessage}',
  ORDERWIRE_ERR_SDK_AUTH_UNAVAILABLE: 'auth service unreachable after {attempts} attempt(s): {reason}',
  ORDERWIRE_ERR_SDK_BAD_RESPONSE: 'auth service answered HTTP {status} with an unexpected body: {reason}',
  ORDERWIRE_ERR_SDK_STORE_FAILED: 'token store {operation} failed: {reason}',
  ORDERWIRE_ERR_SDK_CLOSED: 'the token manager was closed',
  ORDERWIRE_ERR_SDK_CONNECT_FAILED: 'connection to {url} failed: {reason}',
  ORDERWIRE_ERR_SDK_AUTH_REFRESH_REJECTED: 'edge rejected the in-band token refresh: {reason}',
  ORDERWIRE_ERR_SDK_MALFORMED_DELIVERY: 'edge sent a malformed delivery: {reason}',
  ORDERWIRE_ERR_SDK_LISTENER_FAILED: 'a {event} listener threw: {reason}',
  ORDERWIRE_ERR_SDK_INTERNAL: 'unexpected failure during {operation}: {reason}',
} as const;

export type SdkErrorCode = keyof typeof SDK_ERRORS;

export type SdkErrorParams = Record<string, string | number | undefined>;

export interface DisplaySdkErrorOptions {
  /** HTTP status of the auth response that caused the error, when there was one. */
  status?: number;
  /** Error code from the server's `{ error: { code } }` body, when there was one. */
  serverCode?: string;
  cause?: unknown;
}

export class DisplaySdkError extends Error {
  readonly code: SdkErrorCode;
  readonly status?: number;
  readonly serverCode?: string;

  constructor(code: SdkErrorCode, params: SdkErrorParams = {}, options: DisplaySdkErrorOptions = {}) {
    super(
      interpolate(SDK_ERRORS[code], params),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'DisplaySdkError';
    this.code = code;
    if (options.status !== undefined) this.status = options.status;
    if (options.serverCode !== undefined) this.serverCode = options.serverCode;
  }
}

export function isDisplaySdkError(err: unknown, code?: SdkErrorCode): err is DisplaySdkError {
  return err instanceof DisplaySdkError && (code === undefined || err.code === code);
}

/** A short, token-free description of any thrown value, for messages and reject reasons. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message === '' ? err.name : err.message;
  if (typeof err === 'string') return err;
  return String(err);
}

function interpolate(template: string, params: SdkErrorParams): string {
  // A placeholder without a value stays verbatim, so a forgotten param shows in the message.
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => {
    const value = params[name];
    return value === undefined ? whole : String(value);
  });
}
