/**
 * The DLQ process: config → logger → NATS → topology → app (index, capture, HTTP) → listen.
 * Shutdown runs in reverse: stop taking requests and advisories, then drain NATS.
 */
import { API_AUDIENCE } from '@orderwire/contracts';
import {
  closeNats,
  connectNats,
  createHealth,
  createLogger,
  createMetrics,
  trackNatsConnection,
  createShutdown,
  defaultInstanceId,
  ensureTopology,
  KV_BUCKETS,
  redactConfig,
  STREAMS,
} from '@orderwire/platform';
import { createTokenVerifier } from '@orderwire/token-verifier';
import { createApp } from './app.js';
import { CONFIG_SPEC, loadDlqConfig } from './config.js';
import { packageVersion } from './version.js';

async function main(): Promise<void> {
  const config = loadDlqConfig();
  const version = packageVersion();
  const instance = config.instanceId ?? defaultInstanceId();
  const logger = createLogger({ service: 'dlq', version, instance, level: config.logLevel });
  logger.info({ config: redactConfig(CONFIG_SPEC, config) }, 'dlq starting');
  const metrics = createMetrics({ service: 'dlq' });
  const health = createHealth();
  const shutdown = createShutdown({ logger, deadlineMs: config.shutdownGraceMs });
  const abort = new AbortController();
  const uninstall = shutdown.install();
  shutdown.add('signals', () => uninstall());
  shutdown.add('startup', () => abort.abort());

  const nc = await connectNats({ servers: config.natsUrl, name: `dlq-${instance}`, logger, signal: abort.signal });
  trackNatsConnection(metrics, nc);
  shutdown.add('nats', () => closeNats(nc, logger));
  await ensureTopology(nc, {
    streams: [STREAMS.ORDERS, STREAMS.ADVISORIES, STREAMS.DLQ, STREAMS.AUDIT, STREAMS.RECEIPTS],
    buckets: [KV_BUCKETS.DISPLAYS],
    logger,
  });

  const verifier = createTokenVerifier({ jwksUrl: config.authJwksUrl, issuer: config.authIssuer, audience: API_AUDIENCE, logger });
  const dlq = await createApp({ config, logger, metrics, health, nc, verifier, instance });
  shutdown.add('app', () => dlq.close());
  shutdown.add('readiness', () => health.markStopping());

  await dlq.app.listen({ host: config.host, port: config.port });
  health.markStarted();
  logger.info({ host: config.host, port: config.port }, 'dlq ready');
}

main().catch((err: unknown) => {
  // The logger may not exist yet (bad config): stderr is the one channel that always works.
  console.error(JSON.stringify({ level: 'fatal', service: 'dlq', msg: 'dlq failed to start', err: String(err), code: (err as { code?: unknown }).code }));
  process.exit(1);
});
