export { loadConfig, describeConfig, redactConfig, parseDuration, ConfigError } from './config.js';
export type {
  Config,
  ConfigSpec,
  ConfigProblem,
  ConfigVarDescription,
  VarSpec,
  VarType,
  VarValue,
  StringVarSpec,
  IntVarSpec,
  NumberVarSpec,
  BoolVarSpec,
  UrlVarSpec,
  EnumVarSpec,
  DurationVarSpec,
  ListVarSpec,
} from './config.js';

export {
  LOG_LEVELS,
  listenConfig,
  natsConfig,
  natsIdentityConfig,
  redisConfig,
  logConfig,
  shutdownConfig,
  authIssuerConfig,
  authClientConfig,
  httpConfig,
  httpServerOptions,
  LOCAL_DISPLAY_APP_ORIGINS,
  ORIGIN_PATTERN,
  auditAggregateConfig,
  authFailureGateConfig,
} from './service-config.js';
export type { HttpConfigValues } from './service-config.js';

export { parseTrustedProxies, clientAddressOf, MAX_TRUSTED_HOPS, TRUSTED_PROXIES_ENV } from './trusted-proxies.js';
export type { TrustedProxies, TrustFunction, AddressSource } from './trusted-proxies.js';

export { redactUrlCredentials, hasUrlCredentials } from './redact.js';

export {
  OrderwireError,
  isOrderwireError,
  defineErrors,
  interpolate,
  errorBody,
  PLATFORM_ERRORS,
  DEFAULT_ERROR_STATUS,
} from './errors.js';
export type {
  OrderwireErrorOptions,
  ErrorSpec,
  ErrorCatalog,
  ErrorParams,
  CreateErrorOptions,
  DefinedErrors,
  ErrorBody,
  PlatformErrorCode,
} from './errors.js';

export { createLogger, defaultInstanceId, REDACT_PATHS, SECRET_KEYS, REDACTED } from './logger.js';
export type { CreateLoggerOptions, Logger, LogLevel } from './logger.js';

export { createMetrics, assertMetricName, METRIC_PREFIX, NODE_METRIC_PREFIX, HEAP_LIVE_METRIC } from './metrics.js';
export type { CreateMetricsOptions, Metrics } from './metrics.js';

export {
  connectNats,
  closeNats,
  urlCredentials,
  natsHealthCheck,
  isNatsConnected,
  natsIdentityOptions,
  serviceInboxPrefix,
  natsInboxPrefix,
  createConnectionInbox,
  DEFAULT_NATS_CONNECT_TIMEOUT_MS,
  DEFAULT_NATS_RECONNECT_WAIT_MS,
  DEFAULT_NATS_RECONNECT_JITTER_MS,
  DEFAULT_NATS_DIAL_TIMEOUT_MS,
  DEFAULT_NATS_DRAIN_TIMEOUT_MS,
  DEFAULT_NATS_PING_INTERVAL_MS,
  DEFAULT_NATS_MAX_PINGS_OUT,
} from './nats.js';
export type { ConnectNatsOptions, NatsConnection, NatsIdentityConfig } from './nats.js';

export {
  NATS_IDENTITIES,
  NATS_PERMISSIONS,
  EDGE_SUBJECT_PREFIXES,
  createNatsIdentityKey,
  natsIdentityKeyFromSeed,
  renderNatsAuthorization,
} from './nats-permissions.js';
export type { NatsIdentity, NatsPermissions, NatsIdentityKey } from './nats-permissions.js';

export { redisTlsOptions, isRedisAuthError, describeRedisError } from './redis.js';
export type { RedisClientConfig } from './redis.js';

export { createReplyMux, DEFAULT_REPLY_MUX_SWEEP_MS } from './reply-mux.js';
export type { ReplyMux, ReplyMuxOptions, ReplyMuxErrors, ReplyMuxRequestOptions } from './reply-mux.js';
export { createMuxedConnection, DEFAULT_MUXED_REQUEST_TIMEOUT_MS, LIBRARY_REQUEST_ERRORS } from './nats-mux-connection.js';
export type { MuxedConnection } from './nats-mux-connection.js';

export {
  JS_API_CODES,
  isJetStreamApiError,
  isWrongLastSequence,
  compareAndSet,
  CAS_CONFLICT,
  DEFAULT_CAS_ATTEMPTS,
  CONSUME_EXPIRES_MS,
  parsePubAck,
  parseMsgGetReply,
  parseDirectGetReply,
} from './jetstream.js';
export type { JsApiCodeName, CasConflict, CompareAndSetOptions, StoredMessage } from './jetstream.js';

export {
  ORDER_STREAM_PREFIX,
  LEGACY_ORDERS_STREAM,
  RETIRED_ORDERS_SUBJECT,
  DEFAULT_ORDER_STREAM_MAP_MAX_AGE_MS,
  orderStreamName,
  parseOrderStreamName,
  isOrderStream,
  isValidPartitionCount,
  declaredOrderStream,
  declaredPartitionVps,
  allOrderStreamNames,
  readOrderStreamAssignment,
  listOrderStreams,
  legacyCapturesOrders,
  orderStreamFor,
  createOrderStreamLocator,
} from './order-streams.js';
export type { OrderStreamAssignment, OrderStreamLocator } from './order-streams.js';

export { repartitionOrderStreams, finishRepartition, retiredStreamSubject } from './repartition.js';
export type { RepartitionOptions, RepartitionMove, RepartitionResult, FinishResult } from './repartition.js';

export { writeReceipt } from './receipt-write.js';
export { createExpiredNotices } from './expired-notices.js';
export type { ExpiredNotices } from './expired-notices.js';
export type { ReceiptStream, ReceiptWriteHint, ReceiptWriteOutcome, WriteReceiptOptions } from './receipt-write.js';

export { trackNatsConnection, trackRedisConnection } from './dependencies.js';
export type { RedisStatusSource } from './dependencies.js';

export {
  STREAMS,
  KV_BUCKETS,
  ADVISORY_SUBJECTS,
  TOPOLOGY_DEFAULTS,
  streamDeclarations,
  orderStreamDeclarationFor,
  kvDeclarations,
  kvStreamName,
  ensureTopology,
  verifyTopology,
  displayConsumerConfig,
  ensureDisplayConsumer,
  deleteDisplayConsumer,
  displayConsumerMetadata,
  displayConsumerOwner,
  DEFAULT_DISPLAY_ACK_WAIT_MS,
  DEFAULT_DISPLAY_MAX_ACK_PENDING,
  DEFAULT_DISPLAY_MAX_DELIVER,
} from './topology.js';
export type {
  StreamName,
  KvBucketName,
  TopologyOptions,
  StreamDeclaration,
  KvDeclaration,
  TopologyAction,
  TopologyConflict,
  TopologyItemResult,
  TopologySummary,
  TopologyRequirements,
  TopologyMismatch,
  StreamRequirement,
  BucketRequirement,
  DisplayRef,
  DisplayConsumerOptions,
  DisplayConsumerConfig,
  EnsureConsumerResult,
} from './topology.js';

export { TOPOLOGY_CONFIG_SPEC, loadTopologyConfig, kvMaxBytesEnv, parseSize, formatSize } from './topology-config.js';
export type { TopologyConfig, TopologyLifetimes } from './topology-config.js';

export { packageVersion } from './version.js';

export { trackStreamUsage, declaredStreamNames, DEFAULT_STREAM_USAGE_INTERVAL_MS } from './stream-usage.js';
export type { StreamUsage, StreamUsageOptions } from './stream-usage.js';

export { createHealth, DEFAULT_HEALTH_CHECK_TIMEOUT_MS } from './health.js';
export type { Health, HealthCheck, HealthCheckResult, HealthCheckOptions, CheckReport, ReadyReport } from './health.js';

export { createShutdown, SHUTDOWN_EXIT_CODES, DEFAULT_SHUTDOWN_DEADLINE_MS } from './shutdown.js';
export type { Shutdown, ShutdownStep, CreateShutdownOptions } from './shutdown.js';

export { startService, runService } from './service-process.js';
export type { StartServiceOptions, ServiceNatsOptions, ServedApp, ServeOptions, ServiceProcess } from './service-process.js';

export {
  createHttpServer,
  adminAddress,
  genRequestId,
  DEFAULT_HTTP_REQUEST_TIMEOUT_MS,
  DEFAULT_HTTP_HEADERS_TIMEOUT_MS,
  DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_HTTP_CONNECTION_TIMEOUT_MS,
  HTTP_TIMEOUT_CHECK_INTERVAL_MS,
  REQUEST_ID_HEADER,
  REQUEST_ID_PATTERN,
  DEFAULT_BODY_LIMIT,
  HTTP_DURATION_BUCKETS,
  UNMATCHED_ROUTE,
} from './http.js';
export type { CreateHttpServerOptions, HttpTimeouts, AdminListenerOptions, PublicReadyReport } from './http.js';

export {
  createAuditAggregator,
  DEFAULT_AUDIT_WINDOW_MS,
  DEFAULT_AUDIT_MAX_KEYS,
  DEFAULT_AUDIT_MAX_SAMPLES,
  DEFAULT_AUDIT_PUBLISH_TIMEOUT_MS,
  AUDIT_SYSTEM_TENANT,
  AUDIT_OVERFLOW_SOURCE,
} from './audit-aggregator.js';
export type { AuditAggregator, AuditAggregatorOptions, AuditOccurrence, AuditActorRef, AggregatedAuditEvent } from './audit-aggregator.js';

export {
  createRateLimiter,
  createLocalWindows,
  createFailureGate,
  addressKey,
  limitHook,
  DEFAULT_LOCAL_LIMITER_CAPACITY,
  DEFAULT_AUTH_FAILURE_MAX,
  DEFAULT_AUTH_FAILURE_WINDOW_MS,
} from './rate-limit.js';
export type {
  RateLimiter,
  RateLimiterOptions,
  RateLimitStore,
  LocalWindows,
  WindowCount,
  QuotaResult,
  HitSpec,
  TakeSpec,
  HitAndTakeResult,
  LimitHookOptions,
  FailureGate,
  FailureGateOptions,
} from './rate-limit.js';

export { createRevocationWatcher } from './revocations.js';
export { createKvMirror, KV_MIRROR_RESTART_MS } from './kv-mirror.js';
export type { KvMirror, KvMirrorOptions } from './kv-mirror.js';
export type { RevocationWatcher, RevocationWatcherOptions, RevokedClientRecord } from './revocations.js';

export { createAuthGuard, AUTH_FAILURES_EVENT } from './auth-guard.js';
export type { AuthGuard, AuthGuardOptions, AuthRefusal } from './auth-guard.js';

export {
  snapshotStream,
  snapshotStreamToFile,
  restoreStream,
  fileChunks,
  DEFAULT_SNAPSHOT_CHUNK_BYTES,
  DEFAULT_SNAPSHOT_IDLE_TIMEOUT_MS,
  DEFAULT_RESTORE_FINISH_TIMEOUT_MS,
  PARTIAL_SUFFIX,
} from './jetstream-snapshot.js';
export type { SnapshotOptions, SnapshotProgress, SnapshotResult, SnapshotFileResult, RestoreOptions } from './jetstream-snapshot.js';

export {
  createAddressPolicy,
  addressPolicyOf,
  checkWebhookUrl,
  webhookTargetConfig,
  CIDR_PATTERN,
  WEBHOOK_URL_MAX,
} from './webhook-target.js';
export type { AddressPolicy, AddressVerdict, WebhookUrlVerdict } from './webhook-target.js';
