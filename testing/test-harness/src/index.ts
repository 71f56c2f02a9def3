export { startNats, startNatsCluster, DEFAULT_NATS_START_TIMEOUT_MS } from './nats.js';
export type {
  NatsServerOptions,
  NatsServerHandle,
  NatsRestartOptions,
  NatsReadiness,
  NatsClusterOptions,
  NatsClusterHandle,
} from './nats.js';
export { startRedis, DEFAULT_REDIS_START_TIMEOUT_MS } from './redis.js';
export type { RedisServerOptions, RedisServerHandle } from './redis.js';
export type { ServerHandle } from './server-process.js';
export { freePort, PORT_REBIND_WINDOW_MS } from './ports.js';
export { waitFor, DEFAULT_WAIT_TIMEOUT_MS, DEFAULT_WAIT_INTERVAL_MS } from './wait-for.js';
export type { WaitForOptions } from './wait-for.js';
export { disposeAll, livePids, watchdogPid, DEFAULT_STOP_TIMEOUT_MS } from './processes.js';
export { resolveBinary, locateBinary, findRepoRoot, BINARY_ENV } from './binaries.js';
export type { ServerBinary, BinarySearch } from './binaries.js';
export { HarnessError, HarnessErrorCode } from './errors.js';
export { startServiceProcess, DEFAULT_SERVICE_START_TIMEOUT_MS } from './service.js';
export type { ServiceProcessOptions, ServiceProcessHandle } from './service.js';
export { startJwks, createJwksKey, signJwt } from './jwks.js';
export type { JwksKey, JwksKeyAlg, JwksMode, JwksServerOptions, JwksServerHandle } from './jwks.js';
export { runBeforeStart, beforeStartSteps, DEFAULT_BEFORE_START_TIMEOUT_MS } from './before-start.js';
export type { BeforeStartStep } from './before-start.js';
