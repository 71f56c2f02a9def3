// Reads the `"orderwire"` declarations from `services/*/package.json` (see README "Adding a service").
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const NAME = /^[a-z][a-z0-9-]*(?::[a-z0-9-]+)?$/;

/** A declaration the runner cannot use; the message names the file and the field. */
export class DeclarationError extends Error {
  constructor(file, message) {
    super(`${file}: "orderwire".${message}`);
    this.name = 'DeclarationError';
    this.code = 'ORDERWIRE_ERR_START_BAD_DECLARATION';
  }
}

function checkStringMap(file, where, value) {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DeclarationError(file, `${where} must be an object of strings`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new DeclarationError(file, `${where}.${k} must be a string`);
  }
  return { ...value };
}

function checkArgs(file, where, value) {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((a) => typeof a !== 'string')) {
    throw new DeclarationError(file, `${where} must be an array of strings`);
  }
  return [...value];
}

function checkCommand(file, where, cmd, { needsUrl }) {
  if (cmd === null || typeof cmd !== 'object') throw new DeclarationError(file, `${where} must be an object`);
  if (typeof cmd.name !== 'string' || !NAME.test(cmd.name)) {
    throw new DeclarationError(file, `${where}.name must be a lowercase name like "edge-1"`);
  }
  if (typeof cmd.main !== 'string' || cmd.main === '') throw new DeclarationError(file, `${where}.main must be a path`);
  const out = {
    name: cmd.name,
    main: cmd.main,
    args: checkArgs(file, `${where}.args`, cmd.args),
    env: checkStringMap(file, `${where}.env`, cmd.env),
  };
  if (needsUrl) {
    let url;
    try {
      url = new URL(cmd.url);
    } catch {
      throw new DeclarationError(file, `${where}.url must be an absolute http URL`);
    }
    if (url.protocol !== 'http:') throw new DeclarationError(file, `${where}.url must be an http URL`);
    out.url = url.origin;
    out.port = Number(url.port || 80);
    out.host = url.hostname;
  }
  return out;
}

/**
 * Every service under `servicesDir` whose package.json has an `"orderwire"` key, validated,
 * sorted by `order` then folder name. Throws a DeclarationError for the first malformed one.
 */
export function discoverServices(servicesDir) {
  if (!existsSync(servicesDir)) return [];
  const services = [];
  for (const entry of readdirSync(servicesDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(servicesDir, entry.name);
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    const decl = pkg.orderwire;
    if (decl === undefined) continue;
    if (decl === null || typeof decl !== 'object') throw new DeclarationError(file, ' must be an object');
    if (!Number.isFinite(decl.order)) throw new DeclarationError(file, 'order must be a number');
    if (!Array.isArray(decl.processes) || decl.processes.length === 0) {
      throw new DeclarationError(file, 'processes must be a non-empty array');
    }
    const processes = decl.processes.map((p, i) => checkCommand(file, `processes[${i}]`, p, { needsUrl: true }));
    if (!Array.isArray(decl.afterReady ?? [])) throw new DeclarationError(file, 'afterReady must be an array');
    const afterReady = (decl.afterReady ?? []).map((c, i) =>
      checkCommand(file, `afterReady[${i}]`, c, { needsUrl: false }),
    );
    if (!Array.isArray(decl.beforeStart ?? [])) throw new DeclarationError(file, 'beforeStart must be an array');
    const beforeStart = (decl.beforeStart ?? []).map((c, i) =>
      checkCommand(file, `beforeStart[${i}]`, c, { needsUrl: false }),
    );
    services.push({ name: entry.name, packageName: pkg.name, dir, file, order: decl.order, processes, beforeStart, afterReady });
  }
  services.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
  const seen = new Map();
  for (const svc of services) {
    for (const p of svc.processes) {
      if (seen.has(p.name)) throw new DeclarationError(svc.file, `processes: name "${p.name}" is also used in ${seen.get(p.name)}`);
      seen.set(p.name, svc.file);
    }
  }
  return services;
}

/** Services grouped by `order`, ascending: each group starts only when the previous one is ready. */
export function groupByOrder(services) {
  const groups = [];
  for (const svc of services) {
    const last = groups[groups.length - 1];
    if (last && last.order === svc.order) last.services.push(svc);
    else groups.push({ order: svc.order, services: [svc] });
  }
  return groups;
}

/**
 * Every service's `beforeStart` commands, in start order: set-up that must finish before ANY
 * service starts (the JetStream topology apply), run once NATS and Redis are up.
 */
export function beforeStartCommands(services) {
  return services.flatMap((svc) => svc.beforeStart.map((cmd) => ({ svc, cmd })));
}

/** Replaces `{dataDir}` in beforeStart/afterReady arguments with the absolute data folder. */
export function expandArgs(args, dataDir) {
  return args.map((a) => a.replaceAll('{dataDir}', dataDir));
}
