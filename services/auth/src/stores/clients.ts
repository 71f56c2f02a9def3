/**
 * OAuth2 clients in KV `ow_clients`, keyed by client id. The secret exists in clear only in
 * the CLI's output at creation; the record holds its scrypt hash with the parameters used.
 */
import { randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { assertId, isValidId, type Scope } from '@orderwire/contracts';
import { AUTH_ERRORS } from '../errors.js';
import { hashSecret, randomSecret, type SecretHash } from '../crypto/secrets.js';
import { createJson, listKeys, mutateJson, readJson } from '../kv.js';

export interface ClientRecord {
  v: 1;
  clientId: string;
  tenant: string;
  name: string;
  scopes: Scope[];
  secret: SecretHash;
  status: 'active' | 'revoked';
  createdAt: string;
  revokedAt?: string;
}

/** What listings show: everything but the hash. */
export type ClientSummary = Omit<ClientRecord, 'secret'>;

export interface ClientStore {
  get(clientId: string): Promise<ClientRecord | undefined>;
  create(input: { tenant: string; scopes: readonly Scope[]; name?: string }): Promise<{ record: ClientRecord; secret: string }>;
  list(tenant?: string): Promise<ClientSummary[]>;
  /** @throws ORDERWIRE_ERR_AUTH_CLIENT_NOT_FOUND */
  revoke(clientId: string): Promise<ClientRecord>;
}

/** `owc_` + 128 random bits: a valid subject-safe id, recognisable in logs. */
export function newClientId(): string {
  return `owc_${randomBytes(16).toString('base64url')}`;
}

export function summarize(record: ClientRecord): ClientSummary {
  const { secret: _secret, ...rest } = record;
  return rest;
}

export function createClientStore(kv: KV, scryptLogN: number): ClientStore {
  return {
    async get(clientId) {
      // Ids that could never have been issued are not looked up (nor allowed into a KV key).
      if (!isValidId(clientId)) return undefined;
      return (await readJson<ClientRecord>(kv, clientId))?.value;
    },
    async create({ tenant, scopes, name }) {
      assertId('tenant', tenant);
      const secret = randomSecret();
      const clientId = newClientId();
      const record: ClientRecord = {
        v: 1,
        clientId,
        tenant,
        name: name ?? clientId,
        scopes: [...new Set(scopes)],
        secret: await hashSecret(secret, scryptLogN),
        status: 'active',
        createdAt: new Date().toISOString(),
      };
      if ((await createJson(kv, clientId, record)) === undefined) {
        throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CONFLICT', { what: `client ${clientId}` });
      }
      return { record, secret };
    },
    async list(tenant) {
      const keys = await listKeys(kv);
      const records = await Promise.all(keys.map((k) => readJson<ClientRecord>(kv, k)));
      return records
        .flatMap((r) => (r === undefined || (tenant !== undefined && r.value.tenant !== tenant) ? [] : [summarize(r.value)]))
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },
    async revoke(clientId) {
      if (!isValidId(clientId)) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CLIENT_NOT_FOUND', { clientId });
      const out = await mutateJson<ClientRecord>(kv, clientId, (cur) =>
        cur.status === 'revoked' ? undefined : { ...cur, status: 'revoked', revokedAt: new Date().toISOString() },
      );
      if (out === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CLIENT_NOT_FOUND', { clientId });
      return out.value;
    },
  };
}
