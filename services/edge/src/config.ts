/**
 * The only place the edge reads `process.env`. Validated once at start; a bad variable stops
 * the process with a message naming it.
 */
import {
  auditAggregateConfig,
  authClientConfig,
  defaultInstanceId,
  listenConfig,
  loadConfig,
  logConfig,
  natsConfig,
  redisConfig,
  shutdownConfig,
  type Config,
} from '@orderwire/platform';

/** @default 3003 (the second local edge runs on 3013) */
export const DEFAULT_EDGE_PORT = 3003;

export const EDGE_CONFIG_SPEC = {
  ...listenConfig(DEFAULT_EDGE_PORT, 'listen port (HTTP probes, metrics and Socket.IO)'),
  ...natsConfig(),
  ...redisConfig(),
  ...logConfig('instance name in logs, metrics and receipts (default hostname-pid)'),
  ...shutdownConfig(),
  ...authClientConfig({ issuer: '`iss` of display tokens' }),

  ackTimeoutMs: {
    env: 'EDGE_ACK_TIMEOUT',
    type: 'duration',
    default: '10s',
    min: '100ms',
    doc: 'how long a display has to answer an `orders` batch; then it is nak-ed with a delay',
  },
  batchMax: { env: 'EDGE_BATCH_MAX', type: 'int', default: 32, min: 1, max: 256, doc: 'deliveries per pull and per `orders` batch' },
  batchMaxBytes: {
    env: 'EDGE_BATCH_MAX_BYTES',
    type: 'int',
    default: 256 * 1024,
    min: 1024,
    doc: 'serialized size bound of one `orders` batch (a single larger delivery goes alone)',
  },
  maxFailures: {
    env: 'EDGE_MAX_FAILURES',
    type: 'int',
    default: 5,
    min: 1,
    doc: 'rejections/timeouts of one message by a connected display before it is terminated (→ DLQ)',
  },
  nakDelayMs: { env: 'EDGE_NAK_DELAY', type: 'duration', default: '1s', min: '0ms', doc: 'redelivery delay after the first rejection or timeout; doubles per failure' },
  nakDelayMaxMs: { env: 'EDGE_NAK_DELAY_MAX', type: 'duration', default: '30s', min: '0ms' },
  transports: {
    env: 'EDGE_TRANSPORTS',
    type: 'list',
    default: ['websocket'],
    itemPattern: /^(websocket|polling)$/,
    minItems: 1,
    doc: 'Socket.IO transports; polling needs sticky sessions behind a balancer',
  },
  allowedOrigins: {
    env: 'EDGE_ALLOWED_ORIGINS',
    type: 'list',
    default: [],
    doc: 'browser origins allowed to connect (empty: any); a handshake without Origin (native client) is always allowed',
  },
  handshakeRate: {
    env: 'EDGE_HANDSHAKE_RATE',
    type: 'number',
    // Off by default: locally every display (and the load harness's 10,000) share 127.0.0.1.
    // Production sets it per deployment, where addresses are real.
    default: 0,
    min: 0,
    doc: 'sustained handshakes per second per client address (0: no limit); refused with `rate_limited`',
  },
  handshakeBurst: { env: 'EDGE_HANDSHAKE_BURST', type: 'int', default: 100, min: 1, doc: 'handshakes one client address may make at once' },
  trustProxy: {
    env: 'EDGE_TRUST_PROXY',
    type: 'bool',
    default: false,
    doc: 'take the client address from X-Forwarded-For (only behind a proxy that sets it)',
  },
  pullConcurrency: { env: 'EDGE_PULL_CONCURRENCY', type: 'int', default: 256, min: 1, max: 10_000, doc: 'pull requests in flight, process-wide' },
  sweepIntervalMs: { env: 'EDGE_SWEEP_INTERVAL', type: 'duration', default: '30s', min: '100ms', doc: 'safety pull interval per idle display (jittered)' },
  sweepMaxRate: { env: 'EDGE_SWEEP_MAX_RATE', type: 'int', default: 500, min: 1, doc: 'safety pulls per second, process-wide' },
  jsAckTimeoutMs: { env: 'EDGE_JS_ACK_TIMEOUT', type: 'duration', default: '5s', min: '100ms', doc: 'server confirmation of an ack, and PubAck of a receipt' },
  ...auditAggregateConfig(),
} as const;

export type EdgeConfig = Omit<Config<typeof EDGE_CONFIG_SPEC>, 'instanceId'> & { readonly instanceId: string };

/** @throws ConfigError (ORDERWIRE_ERR_CONFIG_INVALID) naming every bad variable. */
export function loadEdgeConfig(env: Readonly<Record<string, string | undefined>> = process.env): EdgeConfig {
  const raw = loadConfig(EDGE_CONFIG_SPEC, env);
  return Object.freeze({ ...raw, instanceId: raw.instanceId ?? defaultInstanceId() });
}
