/**
 * One HTTP attempt: POST the signed body, no redirects followed, bounded in time, the answer's
 * body discarded. SSRF protection lives here, where the socket is made: the agents resolve names
 * through `guardedLookup`, which refuses a refused address (unless allowlisted) — the address
 * checked is the address connected to, so DNS rebinding between a check and the connect is not
 * possible — and an IP-literal host (which Node never looks up) is checked before the request.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { WebhookAttemptOutcome } from '@orderwire/contracts';
import { checkWebhookUrl, type AddressPolicy, type OrderwireError } from '@orderwire/platform';
import { WEBHOOKS_ERRORS } from './errors.js';

/** Sockets kept open per receiver host (keep-alive; attempts to one endpoint are bounded anyway). */
const MAX_SOCKETS_PER_HOST = 16;
/** Bytes of the answer read before the connection is dropped: the body is never used. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** The User-Agent receivers see. */
export const USER_AGENT = 'Orderwire-Webhooks/1';

export interface AttemptResult {
  outcome: WebhookAttemptOutcome;
  status?: number;
  /** From a Retry-After header (seconds or HTTP date), in ms from now. */
  retryAfterMs?: number;
  error?: string;
  durationMs: number;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for http(s) agents that fails with ADDRESS_REFUSED when any resolved address is refused. */
export function guardedLookup(policy: AddressPolicy) {
  return (hostname: string, options: LookupOptions | number | LookupCallback, callback?: LookupCallback): void => {
    const cb = typeof options === 'function' ? options : (callback as LookupCallback);
    const opts: LookupOptions = typeof options === 'object' ? options : typeof options === 'number' ? { family: options } : {};
    const all: LookupAllOptions = { ...opts, all: true };
    dnsLookup(hostname, all, (err, addresses) => {
      if (err !== null) return cb(err, []);
      // Every answer must pass: a name resolving to one public and one private address is refused.
      for (const a of addresses) {
        const verdict = policy.check(a.address);
        if (!verdict.ok) {
          const refused = WEBHOOKS_ERRORS.create('ORDERWIRE_ERR_WEBHOOKS_ADDRESS_REFUSED', { host: hostname, reason: verdict.reason });
          return cb(refused, []);
        }
      }
      if (opts.all === true) return cb(null, addresses);
      const first = addresses[0];
      if (first === undefined) return cb(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      return cb(null, first.address, first.family);
    });
  };
}

export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

function outcomeOf(status: number): WebhookAttemptOutcome {
  if (status >= 200 && status < 300) return 'success';
  if (status === 410) return 'gone';
  // A redirect is not followed (it could point anywhere, also inside our network): a failure.
  if (status >= 300 && status < 400) return 'redirect';
  return 'http_error';
}

export interface Sender {
  send(url: string, headers: Record<string, string>, body: string): Promise<AttemptResult>;
  close(): void;
}

export function createSender(opts: { policy: AddressPolicy; allowHttp: boolean; timeoutMs: number; now?: () => number }): Sender {
  const lookup = guardedLookup(opts.policy);
  const agentOptions = { keepAlive: true, maxSockets: MAX_SOCKETS_PER_HOST, lookup: lookup as unknown as http.AgentOptions['lookup'] };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);
  const now = opts.now ?? Date.now;

  function refused(err: OrderwireError, start: number): AttemptResult {
    return { outcome: 'refused_address', error: err.message, durationMs: now() - start };
  }

  return {
    send(url, headers, body) {
      const start = now();
      // Checked again on every attempt: the allowlist or http setting may have changed since the
      // endpoint was created.
      const verdict = checkWebhookUrl(url, { allowHttp: opts.allowHttp, policy: opts.policy });
      if (!verdict.ok) {
        return Promise.resolve(refused(WEBHOOKS_ERRORS.create('ORDERWIRE_ERR_WEBHOOKS_URL_REFUSED', { reason: verdict.reason }), start));
      }
      const target = verdict.url;
      const host = target.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0) {
        const v = opts.policy.check(host);
        if (!v.ok) return Promise.resolve(refused(WEBHOOKS_ERRORS.create('ORDERWIRE_ERR_WEBHOOKS_ADDRESS_REFUSED', { host, reason: v.reason }), start));
      }
      const isHttps = target.protocol === 'https:';
      const mod = isHttps ? https : http;
      return new Promise<AttemptResult>((resolve) => {
        let settled = false;
        const done = (r: Omit<AttemptResult, 'durationMs'>): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ ...r, durationMs: now() - start });
        };
        const req = mod.request(
          target,
          {
            method: 'POST',
            agent: isHttps ? httpsAgent : httpAgent,
            headers: {
              'content-type': 'application/json',
              'content-length': String(Buffer.byteLength(body)),
              'user-agent': USER_AGENT,
              ...headers,
            },
          },
          (res) => {
            const status = res.statusCode ?? 0;
            const retryAfterMs = parseRetryAfter(res.headers['retry-after'], now());
            let read = 0;
            res.on('data', (chunk: Buffer) => {
              read += chunk.length;
              if (read > MAX_ANSWER_BYTES) res.destroy();
            });
            res.on('error', () => undefined);
            res.on('close', () => undefined);
            // The status decides; the body is not waited for beyond what arrives with it.
            res.resume();
            done({ outcome: outcomeOf(status), status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
          },
        );
        const timer = setTimeout(() => {
          req.destroy();
          done({ outcome: 'timeout', error: WEBHOOKS_ERRORS.create('ORDERWIRE_ERR_WEBHOOKS_TIMEOUT', { timeoutMs: opts.timeoutMs }).message });
        }, opts.timeoutMs);
        req.on('error', (err: Error & { code?: string }) => {
          if (err.code === 'ORDERWIRE_ERR_WEBHOOKS_ADDRESS_REFUSED') return done({ outcome: 'refused_address', error: err.message });
          done({ outcome: 'network_error', error: err.code ?? err.message });
        });
        req.end(body);
      });
    },
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
