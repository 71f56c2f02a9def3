/**
 * Error catalogue of the DLQ service (HTTP API and CLI). `docs/dlq.md` lists every code
 * (checked by scripts/check-error-docs.mjs).
 */
import { defineErrors } from '@orderwire/platform';

export const DLQ_ERRORS = defineErrors({
  ORDERWIRE_ERR_DLQ_INVALID_FILTER: { status: 400, message: 'invalid filter: {reason}' },
  ORDERWIRE_ERR_DLQ_INVALID_CURSOR: { status: 400, message: 'invalid cursor: {reason}' },
  ORDERWIRE_ERR_DLQ_INVALID_REQUEST: { status: 400, message: 'invalid request: {reason}' },
  ORDERWIRE_ERR_DLQ_INVALID_ID: { status: 400, message: 'invalid DLQ entry id: {reason}' },
  ORDERWIRE_ERR_DLQ_ENTRY_NOT_FOUND: { status: 404, message: 'no DLQ entry {id}' },
  ORDERWIRE_ERR_DLQ_INVALID_STATE: { status: 409, message: 'entry {id} is {status}; {action} needs status {allowed}' },
  ORDERWIRE_ERR_DLQ_ORIGINAL_EXPIRED: {
    status: 409,
    message: 'entry {id} cannot be replayed: the original message had expired before it was captured',
  },
  ORDERWIRE_ERR_DLQ_DISPLAY_GONE: { status: 409, message: 'display {displayId} has no mailbox (consumer {consumer}); nothing to replay to' },
  ORDERWIRE_ERR_DLQ_CONFLICT: { status: 409, message: 'entry {id} kept changing concurrently; retry' },
  ORDERWIRE_ERR_DLQ_RATE_LIMITED: { status: 429, message: 'rate limit of {max} requests per {window} exceeded for this tenant; retry in {after}' },
  ORDERWIRE_ERR_DLQ_UNAVAILABLE: { status: 503, message: 'DLQ unavailable ({reason}); retry later' },
  ORDERWIRE_ERR_DLQ_INDEX_SYNC_TIMEOUT: { status: 503, message: 'DLQ index not synced after {timeoutMs} ms' },
  ORDERWIRE_ERR_DLQ_CLI_USAGE: { status: 400, message: '{reason}' },
});

export type DlqErrorCode = (typeof DLQ_ERRORS.codes)[number];
