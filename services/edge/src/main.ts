/**
 * Edge node process: config → logger → NATS (+ topology) → app (HTTP + Socket.IO + delivery
 * engine + Redis adapter) → listen → ready. SIGTERM runs the steps in reverse: drain (displays
 * told to reconnect elsewhere, in-flight messages handed back), close Socket.IO/HTTP/Redis,
 * then drain NATS — all within SHUTDOWN_GRACE.
 */
import {
  closeNats,
  connectNats,
  createHealth,
  createLogger,
  createMetrics,
  createShutdown,
  ensureTopology,
  natsIdentityOptions,
  runService,
} from '@orderwire/platform';
import { createApp } from './app.js';
import { loadEdgeConfig } from './config.js';
import { EDGE_VERSION } from './version.js';

async function main(): Promise<void> {
  const config = loadEdgeConfig();
  const logger = createLogger({ service: 'edge', version: EDGE_VERSION, instance: config.instanceId, level: config.logLevel });
  const shutdown = createShutdown({ logger, deadlineMs: config.shutdownGraceMs });
  shutdown.install();
  // A stray rejection from a library (e.g. a Redis client during an outage) must not take
  // every display on this node down with it; it is a bug to fix, so it is logged loudly.
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled promise rejection'));

  const health = createHealth();
  const metrics = createMetrics({ service: 'edge' });
  const nc = await connectNats({
    servers: config.natsUrl,
    name: `edge/${config.instanceId}`,
    logger,
    ...natsIdentityOptions(config, 'edge'),
  });
  shutdown.add('nats', () => closeNats(nc, logger));
  await ensureTopology(nc, { logger });

  const app = await createApp({ config, logger, nc, metrics, health });
  shutdown.add('edge', () => app.close());
  const url = await app.listen();
  health.markStarted();
  logger.info({ url, instance: config.instanceId }, 'edge node ready');
}

runService('edge', main);
