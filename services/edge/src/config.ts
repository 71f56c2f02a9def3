/**
 * The only place the edge reads `process.env`. Validated once at start; a bad variable stops
 * the process with a message naming it.
 */
import {
  auditAggregateConfig,
  authClientConfig,
  ConfigError,
  defaultInstanceId,
  httpConfig,
  listenConfig,
  loadConfig,
  LOCAL_DISPLAY_APP_ORIGINS,
  logConfig,
  natsConfig,
  redisConfig,
  shutdownConfig,
  type Config,
} from '@orderwire/platform';

/**
 * The Node flags an edge runs with in production (k8s/base/edge/config.yaml) and in the bench's
 * stack: V8 on Node 24 sizes the young generation twice as large as on Node 20 (semi-spaces up to
 * 32 MB), which took the RSS per connected display from 27 to 68 KB with the same live heap
 * (bench/session-memory.mjs, docs/benchmarks.md round 8). 8 MB semi-spaces, with
 * {@link EDGE_MALLOC_ARENA_MAX}, took the 10,000-display run's peak from 394–408 MB to 379–381 MB
 * at the same CPU per delivery (round 9); 16 MB left it at the 400 MB target's edge.
 */
export const EDGE_NODE_OPTIONS = '--max-semi-space-size=8';
/**
 * glibc's malloc arenas (MALLOC_ARENA_MAX) in production and the bench: the default is 8 per core
 * for a process whose threads (libuv's pool, V8's workers) allocate — memory a session's native
 * parts free in one arena is not reused by another. Two arenas: ~10 MB less RSS at 10,000
 * displays, no CPU cost measured (docs/benchmarks.md, round 9). The images are Debian (glibc).
 */
export const EDGE_MALLOC_ARENA_MAX = '2';

/** 3003 (the second local edge runs on 3013) */
export const DEFAULT_EDGE_PORT = 3003;
/**
 * @default 64 KiB — the largest message a display sends is the answer to an `orders` batch:
 * up to EDGE_BATCH_MAX (≤ 256) delivery ids of ~30 bytes plus short reject reasons, or an
 * `auth:refresh` with a ~1 KiB token. Socket.IO's own default (1 MB) is 16 times that.
 */
export const DEFAULT_EDGE_MAX_MESSAGE_BYTES = 64 * 1024;
/**
 * @default 50 — after a major GC, V8 lets the old generation grow to 1.5× what the GC left
 * before the next one. Left to itself V8 picks up to 4× when allocation is fast relative to
 * marking, which is the edge under delivery load: a live heap of ~60 MB (2,000 displays) grew to
 * ~190 MB of garbage-filled old space between major GCs, and RSS followed it (services/edge/
 * README.md, "Memory"). At 1.5× the same run peaked ~100 MB lower with no more GC time per
 * delivery: marking costs what is live, not what died, and major GCs here are incremental and
 * concurrent.
 */
export const DEFAULT_EDGE_HEAP_GROWING_PERCENT = 50;
/** An EDGE_ALLOWED_ORIGINS entry that allows any browser origin. */
export const ANY_ORIGIN = '*';

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
    // The display web app of `npm start`; production lists its own origins.
    default: LOCAL_DISPLAY_APP_ORIGINS,
    doc: 'browser origins allowed to connect (`*`: any); a handshake without Origin (native client) is always allowed',
  },
  handshakeRate: {
    env: 'EDGE_HANDSHAKE_RATE',
    type: 'number',
    // On by default. The local stack (npm start, load and system tests), where every display
    // shares 127.0.0.1, turns it off explicitly.
    default: 5,
    min: 0,
    doc: 'sustained handshakes per second per client address (0: no limit); refused with `rate_limited`',
  },
  handshakeBurst: { env: 'EDGE_HANDSHAKE_BURST', type: 'int', default: 100, min: 1, doc: 'handshakes one client address may make at once' },
  maxConnectionsPerAddress: {
    env: 'EDGE_MAX_CONNECTIONS_PER_ADDRESS',
    type: 'int',
    default: 500,
    min: 0,
    doc: 'live Socket.IO sessions per client address on this node (0: no cap); more are refused with `rate_limited`; raw transport connections are capped at twice this',
  },
  maxMessageBytes: {
    env: 'EDGE_MAX_MESSAGE_BYTES',
    type: 'int',
    default: DEFAULT_EDGE_MAX_MESSAGE_BYTES,
    min: 4 * 1024,
    max: 16 * 1024 * 1024,
    doc: 'largest message a display may send (Socket.IO maxHttpBufferSize); a larger one closes the connection',
  },
  socketEventRate: {
    env: 'EDGE_SOCKET_EVENT_RATE',
    type: 'number',
    default: 20,
    min: 0,
    doc: 'sustained messages per second one socket may send (acks, `auth:refresh`; 0: no limit); past it the session ends with `rate_limited`',
  },
  socketEventBurst: { env: 'EDGE_SOCKET_EVENT_BURST', type: 'int', default: 100, min: 1, doc: 'messages one socket may send at once' },
  pingIntervalMs: {
    env: 'EDGE_PING_INTERVAL',
    type: 'duration',
    default: '10s',
    min: '100ms',
    max: '5m',
    doc: 'Socket.IO heartbeat interval; a silent (half-open) connection is dropped after EDGE_PING_INTERVAL + EDGE_PING_TIMEOUT',
  },
  pingTimeoutMs: { env: 'EDGE_PING_TIMEOUT', type: 'duration', default: '8s', min: '100ms', max: '5m', doc: 'how long a heartbeat answer may take' },
  connectTimeoutMs: {
    env: 'EDGE_CONNECT_TIMEOUT',
    type: 'duration',
    default: '10s',
    min: '100ms',
    max: '5m',
    doc: 'a transport connection that has not completed the Socket.IO handshake by then is closed',
  },
  trustProxy: {
    env: 'EDGE_TRUST_PROXY',
    type: 'bool',
    default: false,
    doc: 'deprecated, use TRUSTED_PROXIES (which wins when set): true = one proxy in front',
  },
  ...httpConfig(),
  pullConcurrency: { env: 'EDGE_PULL_CONCURRENCY', type: 'int', default: 256, min: 1, max: 10_000, doc: 'pull requests in flight, process-wide' },
  handshakeConsumerReads: {
    env: 'EDGE_HANDSHAKE_CONSUMER_READS',
    type: 'int',
    default: 64,
    min: 1,
    max: 10_000,
    doc: 'consumer reads (JetStream API) of handshakes in flight, process-wide; more wait in a FIFO (a reconnection storm)',
  },
  sweepIntervalMs: { env: 'EDGE_SWEEP_INTERVAL', type: 'duration', default: '30s', min: '100ms', doc: 'safety pull interval per idle display (jittered)' },
  sweepMaxRate: { env: 'EDGE_SWEEP_MAX_RATE', type: 'int', default: 500, min: 1, doc: 'safety pulls per second, process-wide' },
  presenceRefreshMs: {
    env: 'EDGE_PRESENCE_REFRESH',
    type: 'duration',
    default: '15s',
    min: '100ms',
    doc: 'how often the node rewrites the Redis presence of its displays',
  },
  presenceTtlMs: {
    env: 'EDGE_PRESENCE_TTL',
    type: 'duration',
    default: '45s',
    min: '300ms',
    doc: "TTL of a display's live presence key: a crashed node's displays read offline this long after its last refresh; > EDGE_PRESENCE_REFRESH",
  },
  presenceStoreLabels: {
    env: 'EDGE_PRESENCE_STORE_LABELS',
    type: 'int',
    default: 50,
    min: 0,
    max: 1_000,
    doc: 'stores with their own series in orderwire_edge_displays_online (largest first); the rest are summed as store="_other"',
  },
  heapGrowingPercent: {
    env: 'EDGE_HEAP_GROWING_PERCENT',
    type: 'int',
    default: DEFAULT_EDGE_HEAP_GROWING_PERCENT,
    min: 0,
    max: 300,
    doc: "V8's old-generation growth after a major GC, in % of the heap it left (`--heap-growing-percent`); 0: V8's own choice (up to 300 %)",
  },
  // Node reads NODE_OPTIONS before this process runs a line; it is declared here so deployments
  // may set it (k8s-checks refuses undeclared variables) and the flags in it are documented.
  nodeOptions: {
    env: 'NODE_OPTIONS',
    type: 'string',
    default: '',
    doc: `Node's own flags (read by Node itself, at start); production sets \`${EDGE_NODE_OPTIONS}\`: Node 24's larger default young generation took 2.5× Node 20's RSS per connected display`,
  },
  // Read by glibc's malloc when the process starts; declared for the same reason as NODE_OPTIONS.
  mallocArenaMax: {
    env: 'MALLOC_ARENA_MAX',
    type: 'string',
    default: '',
    doc: `glibc's malloc arenas (read by the C library at start); production sets ${EDGE_MALLOC_ARENA_MAX}: fewer arenas, less memory held apart per thread`,
  },
  jsAckTimeoutMs: { env: 'EDGE_JS_ACK_TIMEOUT', type: 'duration', default: '5s', min: '100ms', doc: 'server confirmation of an ack; each read and PubAck of a receipt' },
  ...auditAggregateConfig(),
} as const;

export type EdgeConfig = Omit<Config<typeof EDGE_CONFIG_SPEC>, 'instanceId'> & { readonly instanceId: string };

/** @throws ConfigError (ORDERWIRE_ERR_CONFIG_INVALID) naming every bad variable. */
export function loadEdgeConfig(env: Readonly<Record<string, string | undefined>> = process.env): EdgeConfig {
  const raw = loadConfig(EDGE_CONFIG_SPEC, env);
  if (raw.presenceTtlMs <= raw.presenceRefreshMs) {
    throw new ConfigError([
      { key: 'presenceTtlMs', env: 'EDGE_PRESENCE_TTL', reason: `must be longer than EDGE_PRESENCE_REFRESH (${raw.presenceRefreshMs} ms), or live displays blink offline` },
    ]);
  }
  return Object.freeze({ ...raw, instanceId: raw.instanceId ?? defaultInstanceId() });
}
