/**
 * The display server process: config → logger → app (static site + `/config.json` + probes) →
 * listen. SIGTERM closes the listener within SHUTDOWN_GRACE. No NATS, no Redis: the page talks
 * to auth and the edges itself.
 */
import { defaultInstanceId, redactConfig, runService, startService } from '@orderwire/platform';
import { createApp } from './app.js';
import { DISPLAY_CONFIG_SPEC, loadDisplayConfig } from './config.js';
import { packageVersion } from './version.js';

async function main(): Promise<void> {
  const config = loadDisplayConfig();
  const proc = startService({
    service: 'display',
    version: packageVersion(),
    instance: config.instanceId ?? defaultInstanceId(),
    logLevel: config.logLevel,
    shutdownGraceMs: config.shutdownGraceMs,
    config: redactConfig(DISPLAY_CONFIG_SPEC, config),
  });
  const display = await createApp({ config, logger: proc.logger, metrics: proc.metrics, health: proc.health });
  await proc.serve(display, { host: config.host, port: config.port, step: 'app' });
}

runService('display', main);
