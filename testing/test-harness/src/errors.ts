/**
 * Error catalogue of the test harness. Every error thrown by this package is a
 * {@link HarnessError} with one of these stable codes, so callers (and CI log
 * scrapers) can tell a missing binary from a server that failed to start.
 */
export const HarnessErrorCode = {
  /** nats-server / redis-server could not be found (env, `.tools/bin`, PATH). */
  BinaryNotFound: 'ORDERWIRE_ERR_HARNESS_BINARY_NOT_FOUND',
  /** The OS refused to spawn the process (ENOENT, EACCES, ...). */
  SpawnFailed: 'ORDERWIRE_ERR_HARNESS_SPAWN_FAILED',
  /** The server process exited before it became ready. */
  ExitedEarly: 'ORDERWIRE_ERR_HARNESS_EXITED_EARLY',
  /** The server did not become ready within the start timeout. */
  StartTimeout: 'ORDERWIRE_ERR_HARNESS_START_TIMEOUT',
  /** The requested/pinned port stayed in use after the retry window. */
  PortInUse: 'ORDERWIRE_ERR_HARNESS_PORT_IN_USE',
  /** `waitFor` ran out of time before its condition became truthy. */
  WaitTimeout: 'ORDERWIRE_ERR_HARNESS_WAIT_TIMEOUT',
  /** A handle was used after `dispose()`. */
  Disposed: 'ORDERWIRE_ERR_HARNESS_DISPOSED',
  /** One or more handles failed to dispose (see the AggregateError's errors). */
  DisposeFailed: 'ORDERWIRE_ERR_HARNESS_DISPOSE_FAILED',
  /** A `beforeStart` set-up command (e.g. topology apply) failed. */
  SetupFailed: 'ORDERWIRE_ERR_HARNESS_SETUP_FAILED',
  /** Invalid arguments (e.g. cluster size < 1, node index out of range). */
  InvalidArgument: 'ORDERWIRE_ERR_HARNESS_INVALID_ARGUMENT',
} as const;

export type HarnessErrorCode = (typeof HarnessErrorCode)[keyof typeof HarnessErrorCode];

export class HarnessError extends Error {
  override readonly name = 'HarnessError';
  readonly code: HarnessErrorCode;

  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}
