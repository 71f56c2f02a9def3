/** Error codes of the load harness (`ORDERWIRE_ERR_BENCH_*`); each error carries its code and cause. */

export const BENCH_ERRORS = {
  ORDERWIRE_ERR_BENCH_USAGE: 'bad command line',
  ORDERWIRE_ERR_BENCH_NOT_BUILT: 'a service or package is not built',
  ORDERWIRE_ERR_BENCH_STACK_START: 'the stack did not start',
  ORDERWIRE_ERR_BENCH_CREDENTIALS: 'credentials missing or unusable',
  ORDERWIRE_ERR_BENCH_HTTP: 'an HTTP call failed',
  ORDERWIRE_ERR_BENCH_PROVISION: 'displays could not be registered',
  ORDERWIRE_ERR_BENCH_WORKER: 'a display worker failed',
  ORDERWIRE_ERR_BENCH_CONNECT: 'displays did not connect in time',
  ORDERWIRE_ERR_BENCH_FAULT: 'fault injection failed',
  ORDERWIRE_ERR_BENCH_FLOOR: 'floor measurement failed',
  ORDERWIRE_ERR_BENCH_PREFILL: 'RECEIPTS could not be prefilled',
} as const;

export type BenchErrorCode = keyof typeof BENCH_ERRORS;

export class BenchError extends Error {
  readonly code: BenchErrorCode;
  constructor(code: BenchErrorCode, detail: string, options?: { cause?: unknown }) {
    super(`${BENCH_ERRORS[code]}: ${detail}`, options);
    this.name = 'BenchError';
    this.code = code;
  }
}

export function isBenchError(err: unknown): err is BenchError {
  return err instanceof BenchError;
}
