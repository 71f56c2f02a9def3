/**
 * The display server: the platform HTTP server (probes, `/metrics`) serving the Vite-built web
 * app from `dist/public` and its runtime settings at `/config.json`. It holds no state and talks
 * to nothing: the page itself talks to auth and the edges.
 */
import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { createHealth, createHttpServer, createMetrics, type Health, type Logger, type Metrics } from '@orderwire/platform';
import type { FastifyInstance } from 'fastify';
import type { DisplayServerConfig } from './config.js';
import { contentSecurityPolicy, runtimeSettings } from './settings.js';

/** Where `vite build` writes the site (the same from `src/` under vitest and from `dist/`). */
export const DEFAULT_PUBLIC_DIR = fileURLToPath(new URL('../dist/public', import.meta.url));
/** Hashed asset names never change content: cache them for a year. */
const ASSET_CACHE = 'public, max-age=31536000, immutable';

export interface DisplayAppDeps {
  config: DisplayServerConfig;
  logger: Logger;
  metrics?: Metrics;
  health?: Health;
  /** @default DEFAULT_PUBLIC_DIR */
  publicDir?: string;
}

export interface DisplayApp {
  app: FastifyInstance;
  health: Health;
  metrics: Metrics;
  close(): Promise<void>;
}

export async function createApp(deps: DisplayAppDeps): Promise<DisplayApp> {
  const { config, logger } = deps;
  const metrics = deps.metrics ?? createMetrics({ service: 'display' });
  const health = deps.health ?? createHealth();
  const publicDir = deps.publicDir ?? DEFAULT_PUBLIC_DIR;
  const index = join(publicDir, 'index.html');
  // A server without its site is a broken build, not a state to limp along in.
  health.register('site', async () => (existsSync(index) ? { ok: true, detail: publicDir } : { ok: false, detail: `${index} missing: run the build` }));

  const settings = runtimeSettings(config);
  const csp = contentSecurityPolicy(settings);
  const app = createHttpServer({ logger, health, metrics });

  app.get('/config.json', async (_req, reply) => {
    void reply.header('cache-control', 'no-store');
    return settings;
  });

  await app.register(fastifyStatic, {
    root: publicDir,
    index: ['index.html'],
    wildcard: true,
    setHeaders(reply, path) {
      if (path.endsWith('.html')) {
        reply.header('cache-control', 'no-cache');
        reply.header('content-security-policy', csp);
      } else if (path.includes(`${sep}assets${sep}`)) {
        reply.header('cache-control', ASSET_CACHE);
      }
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
    },
  });

  return {
    app,
    health,
    metrics,
    close: () => app.close(),
  };
}
