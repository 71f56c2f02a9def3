/**
 * The display web app in a real browser, for system tests: the display server spawned like the
 * other services, and Debian's Chromium driven through `playwright-core` (never a downloaded
 * browser build). Screenshots go to `.artifacts/display-app/` (git-ignored).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findRepoRoot, startServiceProcess, type ServiceProcessHandle } from '@orderwire/test-harness';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { SERVICE_LOG_LINES, SERVICE_START_TIMEOUT_MS, type Stack } from './stack.js';

/** Debian's Chromium (`apt-get install chromium`; `npm run tools` installs it when missing). */
export const CHROMIUM_PATH = process.env.ORDERWIRE_CHROMIUM ?? '/usr/bin/chromium';
/**
 * Headless, sandbox-less (containers), and silent on the network: no GPU, no QUIC, no
 * first-run, background, component-update or sync traffic.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // A kiosk chimes without a click first.
  '--autoplay-policy=no-user-gesture-required',
] as const;

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export function screenshotDir(): string {
  const root = findRepoRoot();
  if (root === undefined) throw new Error('ORDERWIRE_ERR_SYSTEM_TESTS_NO_REPO: repository root (turbo.json) not found');
  return join(root, '.artifacts', 'display-app');
}

export interface DisplayAppOptions {
  /** Port of the display server (the auth CORS origin must name it). */
  port: number;
  /** Extra DISPLAY_* settings. */
  env?: Record<string, string>;
  /** @default 1920×1080 */
  viewport?: { width: number; height: number };
  /** navigator.language(s). @default 'en-US' */
  locale?: string;
}

export interface DisplayAppHandle {
  readonly url: string;
  readonly server: ServiceProcessHandle;
  readonly context: BrowserContext;
  readonly page: Page;
  /** Saves `<name>.png` under `screenshotDir()`; returns its path. */
  screenshot(name: string, page?: Page): Promise<string>;
  /** Console lines of every page, for failure messages. */
  console(): string[];
  dispose(): Promise<void>;
}

export async function startDisplayApp(stack: Stack, options: DisplayAppOptions): Promise<DisplayAppHandle> {
  const server = await startServiceProcess({
    name: 'display',
    main: 'services/display/dist/main.js',
    port: options.port,
    env: {
      LOG_LEVEL: 'info',
      DISPLAY_AUTH_URL: stack.auth.url,
      DISPLAY_EDGE_URLS: stack.edgeUrls.join(','),
      DISPLAY_DEVELOPMENT: 'true',
      ...options.env,
    },
    startTimeoutMs: SERVICE_START_TIMEOUT_MS,
    logLines: SERVICE_LOG_LINES,
  });
  const profile = await mkdtemp(join(tmpdir(), 'orderwire-chromium-'));
  const lines: string[] = [];
  let context: BrowserContext;
  try {
    // A persistent context on a fresh --user-data-dir: localStorage survives reloads, like a kiosk.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
      viewport: options.viewport ?? { width: 1920, height: 1080 },
      locale: options.locale ?? 'en-US',
    });
  } catch (err) {
    await server.dispose();
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  context.on('console', (msg) => lines.push(`${msg.type()}: ${msg.text()}`));
  const page = context.pages()[0] ?? (await context.newPage());
  const dir = screenshotDir();
  await mkdir(dir, { recursive: true });
  return {
    url: server.url,
    server,
    context,
    page,
    async screenshot(name, p = page) {
      const path = join(dir, `${name}.png`);
      await p.screenshot({ path });
      return path;
    },
    console: () => [...lines],
    async dispose() {
      await context.close().catch(() => undefined);
      await server.dispose();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
