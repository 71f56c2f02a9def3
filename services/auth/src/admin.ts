/**
 * Admin operations behind the CLI (`node dist/cli.js …`, usable through `kubectl exec`).
 * Each returns a JSON-serialisable result; secrets appear only in the one result that
 * creates them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SCOPES, isScope, type Scope } from '@orderwire/contracts';
import type { KV } from '@nats-io/kv';
import type { RevokedClientRecord } from '@orderwire/platform';
import type { AuditLog } from './audit.js';
import { putJson } from './kv.js';
import type { AuthConfig } from './config.js';
import { verifySecret } from './crypto/secrets.js';
import { AUTH_ERRORS } from './errors.js';
import type { KeyManager } from './keys/key-manager.js';
import { keyringKekIds, rotationDueAt, type KeyringRecord, type StoredSigningKey } from './keys/keyring.js';
import { kekFingerprint } from './crypto/kek.js';
import type { ClientStore, ClientSummary } from './stores/clients.js';
import type { TenantQuotas, TenantRecord, TenantStore } from './stores/tenants.js';

export interface AdminContext {
  config: AuthConfig;
  tenants: TenantStore;
  clients: ClientStore;
  /** `ow_revoked_clients`, watched by ingest and dlq. */
  revokedClients: KV;
  keys: KeyManager;
  audit: AuditLog;
  /** Who runs the command, for the audit trail (e.g. `cli@host`). */
  operator: string;
}

/** Local stack URLs (ports from the service conventions); auth and JWKS come from config. */
export const DEV_URLS = Object.freeze({
  ingest: 'http://127.0.0.1:3002',
  edge: ['http://127.0.0.1:3003', 'http://127.0.0.1:3013'],
  dlq: 'http://127.0.0.1:3004',
});

export const DEMO_TENANT = 'demo';
/** The upstream client manages its own webhook endpoints (docs/webhooks.md). */
export const UPSTREAM_SCOPES: readonly Scope[] = ['orders:write', 'orders:read', 'webhooks:manage'];
export const OPERATOR_SCOPES: readonly Scope[] = ['displays:manage', 'dlq:read', 'dlq:replay'];

export function parseScopes(text: string): Scope[] {
  const items = text
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const bad = items.filter((s) => !isScope(s));
  if (items.length === 0 || bad.length > 0) {
    throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CLI_USAGE', {
      reason: `--scopes must list one or more of ${SCOPES.join(', ')}${bad.length > 0 ? ` (unknown: ${bad.join(', ')})` : ''}`,
    });
  }
  return [...new Set(items)] as Scope[];
}

export async function createTenant(ctx: AdminContext, tenant: string, name?: string, quotas?: TenantQuotas): Promise<TenantRecord> {
  const record = await ctx.tenants.create(tenant, name, quotas);
  await ctx.audit.record('tenant_created', {
    tenant,
    actor: { type: 'operator', id: ctx.operator },
    ...(record.quotas === undefined ? {} : { details: { quotas: record.quotas } }),
  });
  return record;
}

/** Sets (number) or clears (null: back to the global default) a tenant's quota overrides. */
export async function updateTenantQuotas(
  ctx: AdminContext,
  tenant: string,
  changes: { [K in keyof TenantQuotas]?: number | null },
): Promise<TenantRecord> {
  if (Object.keys(changes).length === 0) {
    throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CLI_USAGE', { reason: 'tenant update needs --max-displays and/or --orders-per-minute' });
  }
  const record = await ctx.tenants.setQuotas(tenant, changes);
  await ctx.audit.record('tenant_updated', { tenant, actor: { type: 'operator', id: ctx.operator }, details: { quotas: record.quotas ?? {} } });
  return record;
}

/** `--max-displays 100` → 100; `default` → null (clear the override); absent → undefined. */
export function parseQuota(flagName: string, text: string | undefined, allowDefault: boolean): number | null | undefined {
  if (text === undefined) return undefined;
  if (allowDefault && text === 'default') return null;
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CLI_USAGE', {
      reason: `--${flagName} must be a positive integer${allowDefault ? ' or "default"' : ''} (got "${text}")`,
    });
  }
  return n;
}

export interface CreatedClient {
  clientId: string;
  clientSecret: string;
  tenant: string;
  scopes: Scope[];
  name: string;
}

export async function createClient(
  ctx: AdminContext,
  input: { tenant: string; scopes: readonly Scope[]; name?: string },
): Promise<CreatedClient> {
  if ((await ctx.tenants.get(input.tenant)) === undefined) {
    throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_TENANT_NOT_FOUND', { tenant: input.tenant });
  }
  const { record, secret } = await ctx.clients.create(input);
  await ctx.audit.record('client_created', {
    tenant: record.tenant,
    clientId: record.clientId,
    scope: record.scopes.join(' '),
    actor: { type: 'operator', id: ctx.operator },
  });
  return { clientId: record.clientId, clientSecret: secret, tenant: record.tenant, scopes: record.scopes, name: record.name };
}

export async function revokeClient(ctx: AdminContext, clientId: string): Promise<ClientSummary> {
  const record = await ctx.clients.revoke(clientId);
  // Written on every call, also for a client already revoked: a revoke retried after a failure
  // here still reaches the APIs. Ingest and dlq refuse the client's tokens once they see it.
  const entry: RevokedClientRecord = { v: 1, clientId, tenant: record.tenant, revokedAt: record.revokedAt ?? new Date().toISOString() };
  await putJson(ctx.revokedClients, clientId, entry);
  await ctx.audit.record('client_revoked', {
    tenant: record.tenant,
    clientId,
    actor: { type: 'operator', id: ctx.operator },
  });
  const { secret: _secret, ...summary } = record;
  return summary;
}

function describeKey(role: string, key: StoredSigningKey): Record<string, unknown> {
  return {
    role,
    kid: key.kid,
    alg: key.alg,
    createdAt: key.createdAt,
    activatedAt: key.activatedAt,
    retiredAt: key.retiredAt,
    kek: key.privateKey.kek,
  };
}

export function describeKeyring(ctx: Pick<AdminContext, 'config'>, ring: KeyringRecord): Record<string, unknown> {
  const keys = [describeKey('current', ring.current), describeKey('next', ring.next)];
  if (ring.previous !== undefined) keys.push(describeKey('previous', ring.previous));
  const currentKek = kekFingerprint(ctx.config.kek);
  return {
    generation: ring.generation,
    rotatedAt: ring.rotatedAt,
    nextRotationAt: new Date(rotationDueAt(ring, ctx.config.keyRotationIntervalMs)).toISOString(),
    currentKek,
    needsRekey: keyringKekIds(ring).some((id) => id !== currentKek),
    keys,
  };
}

export async function rotateKeys(ctx: AdminContext, force: boolean): Promise<Record<string, unknown>> {
  const ring = await ctx.keys.rotateNow({
    maxTokenTtlMs: Math.max(ctx.config.displayTokenTtlMs, ctx.config.clientTokenTtlMs),
    force,
  });
  return describeKeyring(ctx, ring);
}

export async function rekeyKeys(ctx: AdminContext): Promise<Record<string, unknown>> {
  const { changed, ring } = await ctx.keys.rekey();
  await ctx.audit.record('keys_rekeyed', {
    actor: { type: 'operator', id: ctx.operator },
    details: { changed, kek: kekFingerprint(ctx.config.kek) },
  });
  return { changed, ...describeKeyring(ctx, ring) };
}

export interface DevCredentials {
  tenant: string;
  upstream: { clientId: string; clientSecret: string; scopes: Scope[] };
  operator: { clientId: string; clientSecret: string; scopes: Scope[] };
  urls: { auth: string; ingest: string; edge: string[]; dlq: string; jwks: string };
}

type StoredClient = DevCredentials['upstream'];

function sameScopes(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join(' ') === [...b].sort().join(' ');
}

/** A client from an earlier file is kept only if it still exists, is active, and its secret verifies. */
async function stillValid(ctx: AdminContext, stored: unknown, tenant: string, scopes: readonly Scope[]): Promise<StoredClient | undefined> {
  if (stored === null || typeof stored !== 'object') return undefined;
  const { clientId, clientSecret } = stored as Record<string, unknown>;
  if (typeof clientId !== 'string' || typeof clientSecret !== 'string') return undefined;
  const record = await ctx.clients.get(clientId);
  if (record === undefined || record.status !== 'active' || record.tenant !== tenant || !sameScopes(record.scopes, scopes)) {
    return undefined;
  }
  return (await verifySecret(clientSecret, record.secret)) ? { clientId, clientSecret, scopes: [...record.scopes] } : undefined;
}

async function readPrevious(file: string): Promise<Record<string, unknown> | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Idempotent dev seed: tenant `demo`, an upstream and an operator client, written to `file`
 * (mode 0600). Clients from an existing file are reused while they remain valid.
 */
export async function seedDev(
  ctx: AdminContext,
  file: string,
): Promise<{ file: string; tenant: string; upstream: { clientId: string; reused: boolean }; operator: { clientId: string; reused: boolean } }> {
  const { created } = await ctx.tenants.ensure(DEMO_TENANT, 'Demo tenant');
  if (created) await ctx.audit.record('tenant_created', { tenant: DEMO_TENANT, actor: { type: 'operator', id: ctx.operator } });
  const previous = await readPrevious(file);

  async function client(role: 'upstream' | 'operator', scopes: readonly Scope[]): Promise<{ c: StoredClient; reused: boolean }> {
    const kept = await stillValid(ctx, previous?.[role], DEMO_TENANT, scopes);
    if (kept !== undefined) return { c: kept, reused: true };
    const made = await createClient(ctx, { tenant: DEMO_TENANT, scopes, name: `demo-${role}` });
    return { c: { clientId: made.clientId, clientSecret: made.clientSecret, scopes: made.scopes }, reused: false };
  }

  const upstream = await client('upstream', UPSTREAM_SCOPES);
  const operator = await client('operator', OPERATOR_SCOPES);
  const creds: DevCredentials = {
    tenant: DEMO_TENANT,
    upstream: upstream.c,
    operator: operator.c,
    urls: {
      auth: new URL(ctx.config.jwksUrl).origin,
      ingest: DEV_URLS.ingest,
      edge: [...DEV_URLS.edge],
      dlq: DEV_URLS.dlq,
      jwks: ctx.config.jwksUrl,
    },
  };
  await mkdir(dirname(file), { recursive: true });
  // Write-then-rename: a reader never sees a half-written file.
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
  return {
    file,
    tenant: DEMO_TENANT,
    upstream: { clientId: upstream.c.clientId, reused: upstream.reused },
    operator: { clientId: operator.c.clientId, reused: operator.reused },
  };
}
