/**
 * The DLQ process: config → logger → NATS → topology verified → app (index, capture, HTTP) → listen.
 * Shutdown runs in reverse: stop taking requests and advisories, then drain NATS.
 */
import { API_AUDIENCE } from '@orderwire/contracts';
import { createRevocationWatcher, defaultInstanceId, KV_BUCKETS, natsIdentityOptions, redactConfig, runService, startService, STREAMS, packageVersion } from '@orderwire/platform';
import { createTokenVerifier } from '@orderwire/token-verifier';
import { createApp } from './app.js';
import { CONFIG_SPEC, loadDlqConfig } from './config.js';

async function main(): Promise<void> {
  const config = loadDlqConfig();
  const version = packageVersion(import.meta.url);
  const instance = config.instanceId ?? defaultInstanceId();
  const proc = startService({
    service: 'dlq',
    version,
    instance,
    logLevel: config.logLevel,
    shutdownGraceMs: config.shutdownGraceMs,
    config: redactConfig(CONFIG_SPEC, config),
  });
  const { logger, metrics, health } = proc;

  const nc = await proc.connectNats({
    servers: config.natsUrl,
    name: `dlq-${instance}`,
    identity: natsIdentityOptions(config, 'dlq'),
    topology: {
      streams: [STREAMS.ORDERS, STREAMS.ADVISORIES, STREAMS.DLQ, STREAMS.AUDIT, STREAMS.RECEIPTS],
      buckets: [KV_BUCKETS.DISPLAYS, KV_BUCKETS.REVOKED_CLIENTS, KV_BUCKETS.EXPIRED_NOTICES],
    },
  });

  // Every revoked client is known before the first request is served (platform revocations.ts).
  const revocations = await createRevocationWatcher({ nc, logger, metrics });
  proc.shutdown.add('revocations', () => revocations.stop());
  await revocations.synced(config.indexSyncTimeoutMs);
  const verifier = createTokenVerifier({
    jwksUrl: config.authJwksUrl,
    issuer: config.authIssuer,
    audience: API_AUDIENCE,
    logger,
    revocations,
  });
  const dlq = await createApp({ config, logger, metrics, health, nc, verifier, revocations, instance });
  await proc.serve(dlq, { host: config.host, port: config.port, step: 'app' });
}

runService('dlq', main);
