/**
 * Error catalogue of the webhooks dispatcher: why an attempt did not reach a receiver. These are
 * recorded in a delivery's attempts (`error`) and logs, never answered over HTTP (the service has
 * no API; the management API is ingest's). docs/webhooks.md lists every code (checked by
 * scripts/check-error-docs.mjs).
 */
import { defineErrors } from '@orderwire/platform';

export const WEBHOOKS_ERRORS = defineErrors({
  ORDERWIRE_ERR_WEBHOOKS_ADDRESS_REFUSED: { status: 502, message: 'refused to connect to {host}: {reason}' },
  ORDERWIRE_ERR_WEBHOOKS_URL_REFUSED: { status: 502, message: 'endpoint url refused: {reason}' },
  ORDERWIRE_ERR_WEBHOOKS_TIMEOUT: { status: 504, message: 'no answer from the endpoint within {timeoutMs} ms' },
});

export type WebhooksErrorCode = (typeof WEBHOOKS_ERRORS.codes)[number];
