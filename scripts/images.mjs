#!/usr/bin/env node
// `npm run images`: builds the six service images `orderwire/<service>:<tag>` from
// deploy/docker/Dockerfile with docker or podman, whichever works here, and says clearly when
// neither does. `npm run images:smoke` (= `--smoke`) then runs each image with `--network host`
// against a test NATS and Redis (the test harness), waits for /readyz, stops it with SIGTERM and
// requires exit code 0.
//
//   node scripts/images.mjs [--smoke] [--engine docker|podman] [--only auth,edge] [--tag <tag>]
//                           [--stand-in-base] [--keep]
//
// Podman without a registry (`npm run tools -- --with-podman` sets it up): the build uses
// deploy/docker/podman/containers.conf (runc, ulimits) and, when the pinned node:24-slim is not in
// local storage, the local stand-in `docker.io/library/node:24-slim` (NODE_IMAGE build argument,
// `--pull=never`; the Dockerfile is unchanged). A private CA bundle in NODE_EXTRA_CA_CERTS is
// mounted into podman builds so npm can reach the registry through a TLS-intercepting proxy.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { PODMAN_CONF, STAND_IN_BASE } from './lib/podman.mjs';
import { REPO_ROOT } from './lib/repo.mjs';

const P = '[images]';
const SERVICES = ['auth', 'ingest', 'edge', 'dlq', 'webhooks', 'display'];
const DOCKERFILE = join(REPO_ROOT, 'deploy', 'docker', 'Dockerfile');
/** 120 s for an image to answer /readyz in the smoke test */
const READY_TIMEOUT_S = 120;
/** 40 s SIGTERM grace (the services' own SHUTDOWN_GRACE is 25 s) */
const STOP_TIMEOUT_S = 40;

const { values: opts } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    engine: { type: 'string' },
    only: { type: 'string' },
    tag: { type: 'string' },
    'stand-in-base': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});

function capture(cmd, args, env) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { ok: r.status === 0 && r.error === undefined, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim(), error: r.error };
}

function engineEnv(engine) {
  return engine === 'podman' && process.env.CONTAINERS_CONF === undefined ? { CONTAINERS_CONF: PODMAN_CONF } : {};
}

/** The first engine that answers `info`, or an explanation of why none does. */
function pickEngine() {
  const wanted = opts.engine ?? process.env.ORDERWIRE_CONTAINER_ENGINE;
  const candidates = wanted === undefined ? ['docker', 'podman'] : [wanted];
  const reasons = [];
  for (const engine of candidates) {
    const r = capture(engine, ['info'], engineEnv(engine));
    if (r.ok) return { engine };
    reasons.push(r.error?.code === 'ENOENT' ? `${engine}: not installed` : `${engine}: installed but not usable (${r.out.split('\n').slice(-1)[0] ?? 'info failed'})`);
  }
  return { reasons };
}

function baseDigestImage() {
  const m = /^ARG NODE_IMAGE=(\S+)$/m.exec(readFileSync(DOCKERFILE, 'utf8'));
  return m?.[1];
}

function runStreaming(engine, args, env) {
  return new Promise((resolve) => {
    const child = spawn(engine, args, { stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('close', (code) => resolve(code ?? 1));
    child.on('error', () => resolve(1));
  });
}

function gitTag() {
  const r = capture('git', ['-C', REPO_ROOT, 'rev-parse', '--short=12', 'HEAD']);
  return r.ok ? r.out : 'dev';
}

async function build(engine, services, tag) {
  const env = engineEnv(engine);
  const extra = [];
  if (engine === 'podman') {
    const pinned = baseDigestImage();
    const havePinned = pinned !== undefined && capture('podman', ['image', 'exists', pinned], env).ok;
    const standIn = opts['stand-in-base'] || (!havePinned && capture('podman', ['image', 'exists', STAND_IN_BASE], env).ok);
    if (standIn) {
      console.log(`${P} base: local stand-in ${STAND_IN_BASE} (not the pinned ${pinned}); --pull=never`);
      extra.push('--pull=never', '--build-arg', `NODE_IMAGE=${STAND_IN_BASE}`);
    }
    // The host's network for RUN steps: no bridge or firewall set-up needed for npm to reach the registry.
    extra.push('--network=host');
    const ca = process.env.NODE_EXTRA_CA_CERTS;
    if (ca !== undefined && existsSync(ca)) extra.push('-v', `${dirname(ca)}:${dirname(ca)}:ro`, '--build-arg', `NODE_EXTRA_CA_CERTS=${ca}`);
  }
  const results = [];
  for (const service of services) {
    const image = `orderwire/${service}:${tag}`;
    console.log(`${P} building ${image} with ${engine}`);
    const started = Date.now();
    const code = await runStreaming(
      engine,
      ['build', '-f', DOCKERFILE, '--build-arg', `SERVICE=${service}`, ...extra, '-t', image, REPO_ROOT],
      env,
    );
    const seconds = (Date.now() - started) / 1000;
    if (code !== 0) {
      console.error(`${P} ${image}: build failed (exit ${code}) after ${seconds.toFixed(0)} s`);
      return { ok: false, results };
    }
    const size = Number(capture(engine, ['image', 'inspect', '--format', '{{.Size}}', image], env).out);
    results.push({ service, image, seconds, sizeMB: size / 1e6 });
    console.log(`${P} ${image}: built in ${seconds.toFixed(0)} s, ${(size / 1e6).toFixed(0)} MB`);
  }
  return { ok: true, results };
}

async function waitReady(url, seconds) {
  const deadline = Date.now() + seconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${url}/readyz not 200 after ${seconds} s (last: ${last})`);
}

/** The display app refuses http: URLs unless in development; the smoke test has no TLS. */
const DISPLAY_SMOKE_ENV = { DISPLAY_DEVELOPMENT: 'true' };

async function smoke(engine, results) {
  const env = engineEnv(engine);
  const harness = await import('@orderwire/test-harness');
  const [nats, redis] = await Promise.all([harness.startNats(), harness.startRedis()]);
  const started = [];
  const failures = [];
  try {
    const kek = (await import('node:crypto')).randomBytes(32).toString('base64');
    const common = { NATS_URL: nats.url, REDIS_URL: redis.url, AUTH_ISSUER: 'orderwire-image-smoke', LOG_LEVEL: 'info' };
    const order = SERVICES.filter((s) => results.some((r) => r.service === s));
    let jwks;
    // The topology owner first, from the auth image as the k8s init container runs it: the
    // services only verify the streams and buckets it creates.
    const auth = results.find((r) => r.service === 'auth');
    if (auth !== undefined) {
      const args = ['run', '--rm', '--network', 'host', '--entrypoint', 'orderwire-auth', '-e', `NATS_URL=${nats.url}`, auth.image, 'topology', 'apply'];
      const r = capture(engine, args, env);
      if (!r.ok) throw new Error(`${engine} run ${auth.image} orderwire-auth topology apply: ${r.out}`);
      console.log(`${P} ${auth.image}: orderwire-auth topology apply done`);
    }
    for (const service of order) {
      const { image } = results.find((r) => r.service === service);
      const port = await harness.freePort();
      const name = `orderwire-smoke-${service}-${process.pid}`;
      const vars = { ...common, PORT: String(port), INSTANCE_ID: name, ...(service === 'auth' ? { AUTH_KEK: kek } : {}), ...(service === 'display' ? DISPLAY_SMOKE_ENV : {}), ...(jwks === undefined ? {} : { AUTH_JWKS_URL: jwks }) };
      const args = ['run', '-d', '--name', name, '--network', 'host', ...Object.entries(vars).flatMap(([k, v]) => ['-e', `${k}=${v}`]), image];
      const r = capture(engine, args, env);
      if (!r.ok) throw new Error(`${engine} run ${image}: ${r.out}`);
      started.push(name);
      const url = `http://127.0.0.1:${port}`;
      const t0 = Date.now();
      try {
        await waitReady(url, READY_TIMEOUT_S);
      } catch (err) {
        throw new Error(`${image}: ${err.message}\n${capture(engine, ['logs', '--tail', '40', name], env).out}`);
      }
      console.log(`${P} ${image}: /readyz 200 after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      if (service === 'auth') jwks = `${url}/.well-known/jwks.json`;
    }
    for (const name of [...started].reverse()) {
      const t0 = Date.now();
      capture(engine, ['stop', '-t', String(STOP_TIMEOUT_S), name], env);
      const code = capture(engine, ['inspect', '--format', '{{.State.ExitCode}}', name], env).out;
      const line = `${name}: exit ${code} ${((Date.now() - t0) / 1000).toFixed(1)} s after SIGTERM`;
      if (code === '0') console.log(`${P} ${line}`);
      else failures.push(`${line}\n${capture(engine, ['logs', '--tail', '40', name], env).out}`);
    }
  } catch (err) {
    failures.push(err instanceof Error ? err.message : String(err));
  } finally {
    if (!opts.keep) for (const name of started) capture(engine, ['rm', '-f', name], env);
    await Promise.all([nats.dispose(), redis.dispose()]);
  }
  return failures;
}

async function main() {
  const services = opts.only === undefined ? SERVICES : opts.only.split(',').map((s) => s.trim());
  const unknown = services.filter((s) => !SERVICES.includes(s));
  if (unknown.length > 0) {
    console.error(`${P} unknown services: ${unknown.join(', ')} (known: ${SERVICES.join(', ')})`);
    process.exit(2);
  }
  const picked = pickEngine();
  if (picked.engine === undefined) {
    console.error(
      `${P} no container engine: neither docker nor podman can build here.\n` +
        picked.reasons.map((r) => `${P}   ${r}`).join('\n') +
        `\n${P} Install Docker, or on Debian/Ubuntu as root: npm run tools -- --with-podman`,
    );
    process.exit(1);
  }
  const { engine } = picked;
  const tag = opts.tag ?? process.env.ORDERWIRE_IMAGE_TAG ?? gitTag();
  const { ok, results } = await build(engine, services, tag);
  if (results.length > 0) {
    console.log(`${P} ${'image'.padEnd(32)} ${'build s'.padStart(8)} ${'size MB'.padStart(8)}`);
    for (const r of results) console.log(`${P} ${r.image.padEnd(32)} ${r.seconds.toFixed(0).padStart(8)} ${r.sizeMB.toFixed(0).padStart(8)}`);
  }
  if (!ok) process.exit(1);
  if (opts.smoke) {
    const failures = await smoke(engine, results);
    if (failures.length > 0) {
      console.error(`${P} smoke test failed:\n${failures.join('\n')}`);
      process.exit(1);
    }
    console.log(`${P} smoke test passed: ${results.map((r) => r.service).join(', ')} ready on /readyz and exited 0 on SIGTERM`);
  }
}

main().catch((err) => {
  console.error(`${P} ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
