/**
 * The start-up skeleton of a service's `main.ts`: logger, metrics, health and a shutdown bound
 * to SIGTERM/SIGINT, then NATS and a check of the JetStream topology the service needs (it
 * never creates or changes any: `orderwire-auth topology apply` owns that), then the HTTP
 * listener. Each part
 * registers its shutdown step as it starts, so a signal stops them in reverse order; a signal
 * during start-up also aborts a first NATS connect that is still retrying.
 */
import { trackNatsConnection } from './dependencies.js';
import { createHealth, type Health } from './health.js';
import type { DestinationStream } from 'pino';
import { createLogger, type Logger, type LogLevel } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { closeNats, connectNats, type ConnectNatsOptions, type NatsConnection } from './nats.js';
import { createShutdown, type Shutdown, type ShutdownStep } from './shutdown.js';
import { verifyTopology, type TopologyRequirements } from './topology.js';

export interface StartServiceOptions {
  /** Service name: the `service` of logs and metrics. */
  service: string;
  version: string;
  /** @default `${hostname()}-${pid}` (the logger's default) */
  instance?: string;
  logLevel: LogLevel;
  /** Deadline of the whole shutdown. */
  shutdownGraceMs: number;
  /** Logged once as `<service> starting`; pass `redactConfig(spec, config)`, never raw secrets. */
  config: Record<string, unknown>;
  /** Where log lines go; tests capture them. @default stdout */
  destination?: DestinationStream;
  /** Tests pass a fake. @default process.exit */
  exit?: (code: number) => void;
  /** @default ['SIGTERM', 'SIGINT'] */
  signals?: readonly NodeJS.Signals[];
  /**
   * Log an unhandled promise rejection and keep running instead of crashing (Node's default).
   * The edge sets it: a stray rejection from a library during a Redis outage must not take every
   * display on the node down with it; it is a bug to fix, so it is logged at error level.
   * @default false
   */
  survivesUnhandledRejections?: boolean;
}

export interface ServiceNatsOptions {
  servers: string | readonly string[];
  /** Connection name shown in `nats-server` monitoring. */
  name: string;
  /** The service's NATS identity, TLS and inbox prefix: `natsIdentityOptions(config, service)`. */
  identity?: Pick<ConnectNatsOptions, 'user' | 'pass' | 'nkeySeedFile' | 'tls' | 'inboxPrefix'>;
  /** The streams and buckets the service needs (`verifyTopology`; the service name is filled in). */
  topology: Omit<TopologyRequirements, 'service'>;
}

/** What `serve` starts: a listener, and the service's own close (HTTP, consumers, timers…). */
export interface ServedApp {
  app: { listen(address: { host: string; port: number }): Promise<unknown> };
  close: ShutdownStep;
}

export interface ServeOptions {
  host: string;
  port: number;
  /** Name of the shutdown step that runs `close`. */
  step: string;
}

export interface ServiceProcess {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly health: Health;
  readonly shutdown: Shutdown;
  /**
   * Connects (abortable by a signal), tracks the connection in metrics, drains it last on
   * shutdown, verifies the topology: a mismatch throws ORDERWIRE_ERR_TOPOLOGY_MISMATCH and the
   * service never becomes ready.
   */
  connectNats(options: ServiceNatsOptions): Promise<NatsConnection>;
  /** Registers `close` and the readiness flip (which runs first), listens, marks the service started. */
  serve(server: ServedApp, options: ServeOptions): Promise<void>;
}

export function startService(options: StartServiceOptions): ServiceProcess {
  const { service } = options;
  const logger = createLogger({
    service,
    version: options.version,
    instance: options.instance,
    level: options.logLevel,
    destination: options.destination,
  });
  logger.info({ config: options.config }, `${service} starting`);
  const metrics = createMetrics({ service });
  const health = createHealth();
  const shutdown = createShutdown({ logger, deadlineMs: options.shutdownGraceMs, exit: options.exit, signals: options.signals });
  const abort = new AbortController();
  const uninstall = shutdown.install();
  shutdown.add('signals', () => uninstall());
  shutdown.add('startup', () => abort.abort());
  if (options.survivesUnhandledRejections === true) {
    const onRejection = (err: unknown): void => logger.error({ err }, 'unhandled promise rejection');
    process.on('unhandledRejection', onRejection);
    shutdown.add('unhandled-rejections', () => {
      process.off('unhandledRejection', onRejection);
    });
  }

  return {
    logger,
    metrics,
    health,
    shutdown,
    async connectNats({ servers, name, identity, topology }) {
      const nc = await connectNats({ servers, name, logger, signal: abort.signal, ...identity });
      trackNatsConnection(metrics, nc);
      shutdown.add('nats', () => closeNats(nc, logger));
      await verifyTopology(nc, { ...topology, service });
      logger.info({ streams: topology.streams?.length ?? 0, buckets: topology.buckets?.length ?? 0 }, 'jetstream topology verified');
      return nc;
    },
    async serve(server, { host, port, step }) {
      shutdown.add(step, () => server.close());
      shutdown.add('readiness', () => health.markStopping());
      await server.app.listen({ host, port });
      health.markStarted();
      logger.info({ host, port }, `${service} ready`);
    },
  };
}

/**
 * Runs a service's `main` and turns a start-up failure into one fatal JSON line on stderr and
 * exit code 1. The logger may not exist yet (bad config): stderr is the one channel that always works.
 */
export function runService(service: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(JSON.stringify({ level: 'fatal', service, msg: `${service} failed to start`, err: String(err), code: (err as { code?: unknown }).code }));
    process.exit(1);
  });
}
