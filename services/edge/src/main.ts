/**
 * Edge node process: config → `startService` (logger, metrics, health, signals; unhandled
 * rejections logged, not fatal) → NATS (+ topology verified) → app (HTTP + Socket.IO +
 * delivery engine + Redis adapter) → listen → ready. SIGTERM runs the steps in reverse:
 * readiness off, drain (displays told to reconnect elsewhere, in-flight messages handed back),
 * close Socket.IO/HTTP/Redis, then drain NATS — all within SHUTDOWN_GRACE.
 */
import { setFlagsFromString } from 'node:v8';
import { KV_BUCKETS, natsIdentityOptions, packageVersion, redactConfig, runService, startService, STREAMS } from '@orderwire/platform';
import { createApp } from './app.js';
import { EDGE_CONFIG_SPEC, loadEdgeConfig } from './config.js';

async function main(): Promise<void> {
  const config = loadEdgeConfig();
  // Read by V8 at every major GC to size the next old-generation limit, so setting it here (the
  // heap is still small) takes effect from the first one. NODE_OPTIONS does not accept the flag.
  if (config.heapGrowingPercent > 0) setFlagsFromString(`--heap-growing-percent=${config.heapGrowingPercent}`);
  const proc = startService({
    service: 'edge',
    version: packageVersion(import.meta.url),
    instance: config.instanceId,
    logLevel: config.logLevel,
    shutdownGraceMs: config.shutdownGraceMs,
    config: redactConfig(EDGE_CONFIG_SPEC, config),
    survivesUnhandledRejections: true,
  });
  const { logger, metrics, health } = proc;

  const nc = await proc.connectNats({
    servers: config.natsUrl,
    name: `edge/${config.instanceId}`,
    identity: natsIdentityOptions(config, 'edge'),
    // ORDERS with its doorbell republish (the pull loop sleeps until a doorbell rings); RECEIPTS
    // for the delivery receipts it writes; the notices of orders that expired while a display was away.
    topology: { streams: [{ name: STREAMS.ORDERS, republish: true }, STREAMS.RECEIPTS], buckets: [KV_BUCKETS.EXPIRED_NOTICES] },
  });

  const edge = await createApp({ config, logger, nc, metrics, health });
  await proc.serve(
    { app: { listen: () => edge.listen() }, close: () => edge.close() },
    { host: config.host, port: config.port, step: 'edge' },
  );
}

runService('edge', main);
