/**
 * Standard Webhooks v1 signing (https://www.standardwebhooks.com, "Signature scheme"):
 * `webhook-signature: v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`,
 * where the key is the base64-decoded part of the `whsec_` secret. Several signatures (secret
 * rotation) are separated by spaces; a receiver accepts the message when any one matches.
 */
import { createHmac } from 'node:crypto';
import { WEBHOOK_HEADERS, WEBHOOK_SECRET_PREFIX, type WebhookSecret } from '@orderwire/contracts';

export function signatureOf(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret, 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

/** The secrets that sign at `nowMs`: the current one and any rotated-out one still in its grace period. */
export function signingSecrets(secrets: readonly WebhookSecret[], nowMs: number): string[] {
  return secrets.filter((s) => s.expiresAt === undefined || Date.parse(s.expiresAt) > nowMs).map((s) => s.secret);
}

/** The three Standard Webhooks headers of one attempt. */
export function webhookHeaders(secrets: readonly string[], id: string, nowMs: number, body: string): Record<string, string> {
  const ts = Math.floor(nowMs / 1000);
  return {
    [WEBHOOK_HEADERS.id]: id,
    [WEBHOOK_HEADERS.timestamp]: String(ts),
    [WEBHOOK_HEADERS.signature]: secrets.map((s) => signatureOf(s, id, ts, body)).join(' '),
  };
}
