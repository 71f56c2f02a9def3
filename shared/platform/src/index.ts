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
} from './service-config.js';

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

export { createMetrics, assertMetricName, METRIC_PREFIX, NODE_METRIC_PREFIX } from './metrics.js';
export type { CreateMetricsOptions, Metrics } from './metrics.js';

export {
  connectNats,
  closeNats,
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

export { trackNatsConnection, trackRedisConnection } from './dependencies.js';
export type { RedisStatusSource } from './dependencies.js';

export {
  STREAMS,
  KV_BUCKETS,
  ADVISORY_SUBJECTS,
  TOPOLOGY_DEFAULTS,
  streamDeclarations,
  kvDeclarations,
  kvStreamName,
  ensureTopology,
  displayConsumerConfig,
  ensureDisplayConsumer,
  deleteDisplayConsumer,
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
  DisplayRef,
  DisplayConsumerOptions,
  DisplayConsumerConfig,
  EnsureConsumerResult,
} from './topology.js';

export { createHealth, DEFAULT_HEALTH_CHECK_TIMEOUT_MS } from './health.js';
export type { Health, HealthCheck, HealthCheckResult, HealthCheckOptions, CheckReport, ReadyReport } from './health.js';

export { createShutdown, SHUTDOWN_EXIT_CODES, DEFAULT_SHUTDOWN_DEADLINE_MS } from './shutdown.js';
export type { Shutdown, ShutdownStep, CreateShutdownOptions } from './shutdown.js';

export { startService, runService } from './service-process.js';
export type { StartServiceOptions, ServiceNatsOptions, ServedApp, ServeOptions, ServiceProcess } from './service-process.js';

export {
  createHttpServer,
  genRequestId,
  REQUEST_ID_HEADER,
  REQUEST_ID_PATTERN,
  DEFAULT_BODY_LIMIT,
  HTTP_DURATION_BUCKETS,
  UNMATCHED_ROUTE,
} from './http.js';
export type { CreateHttpServerOptions } from './http.js';
