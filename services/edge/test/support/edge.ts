/**
 * Edge nodes for tests: in-process (`createApp`, real connections) or as a child process
 * running the built `dist/main.js` (for SIGKILL / SIGTERM tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createLogger } from '@orderwire/platform';
import { freePort, waitFor } from '@orderwire/test-harness';
import { createApp, type EdgeApp, type EdgeAppDeps } from '../../src/app.js';
import { loadEdgeConfig } from '../../src/config.js';
import type { Infra } from './infra.js';
import { TEST_ISSUER } from './jwks.js';

/** Tests stay quiet unless EDGE_TEST_LOG_LEVEL asks otherwise. */
const LOG_LEVEL = process.env.EDGE_TEST_LOG_LEVEL ?? 'silent';
const MAIN_JS = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export function edgeEnv(infra: Infra, env: Record<string, string> = {}): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: '0',
    NATS_URL: infra.nats.url,
    REDIS_URL: infra.redis.url,
    AUTH_JWKS_URL: infra.jwks.url,
    AUTH_ISSUER: TEST_ISSUER,
    LOG_LEVEL,
    SHUTDOWN_GRACE: '10s',
    ...env,
  };
}

export interface TestEdge {
  app: EdgeApp;
  url: string;
  nc: NatsConnection;
  instanceId: string;
  /** Graceful close (drain, close, NATS closed). Idempotent. */
  close(): Promise<void>;
}

let edgeCounter = 0;

export async function startEdge(infra: Infra, env: Record<string, string> = {}, deps: Pick<EdgeAppDeps, 'createPuller'> = {}): Promise<TestEdge> {
  const instanceId = `edge-test-${++edgeCounter}`;
  const config = loadEdgeConfig(edgeEnv(infra, { INSTANCE_ID: instanceId, ...env }));
  const logger = createLogger({ service: 'edge', version: 'test', instance: instanceId, level: config.logLevel });
  const nc = await connect({ servers: infra.nats.url, name: instanceId, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const app = await createApp({ config, logger, nc, ...deps });
  const url = await app.listen();
  app.health.markStarted();
  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    nc,
    instanceId,
    close() {
      closing ??= (async () => {
        await app.close();
        await nc.close().catch(() => undefined);
      })();
      return closing;
    },
  };
}

export interface EdgeProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

/** Runs `node dist/main.js` (build first) and waits until /readyz says ready. */
export async function spawnEdge(infra: Infra, env: Record<string, string> = {}): Promise<EdgeProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN_JS], {
    env: { ...process.env, ...edgeEnv(infra, { PORT: String(port), INSTANCE_ID: `edge-proc-${port}`, LOG_LEVEL: 'info', ...env }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (b: Buffer): void => {
    out = (out + b.toString()).slice(-200_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`edge exited early:\n${out}`);
      const res = await fetch(`${url}/readyz`);
      return res.status === 200;
    },
    { timeoutMs: 20_000, message: () => `edge on ${url} not ready:\n${out.slice(-4000)}` },
  );
  return {
    url,
    child,
    output: () => out,
    exited,
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
