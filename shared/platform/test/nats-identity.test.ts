/**
 * A service's NATS identity and TLS (NATS_NKEY_SEED_FILE, NATS_USER/NATS_PASSWORD, NATS_TLS_*),
 * its private inbox prefix, the rendered authorization block, and Redis TLS options — against
 * real nats-server processes. The full per-service flows are in
 * testing/system-tests/test/nats-permissions.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { resolveBinary, startNats } from '@orderwire/test-harness';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { connectNats, createConnectionInbox, natsIdentityOptions, natsInboxPrefix, serviceInboxPrefix } from '../src/nats.js';
import { NATS_IDENTITIES, NATS_PERMISSIONS, createNatsIdentityKey, natsIdentityKeyFromSeed, renderNatsAuthorization } from '../src/nats-permissions.js';
import { declaredStreamNames } from '../src/stream-usage.js';
import { describeRedisError, isRedisAuthError, redisTlsOptions } from '../src/redis.js';
import { natsConfig, redisConfig } from '../src/service-config.js';

const logger = createLogger({ service: 't', version: '0', level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'orderwire-nats-identity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

async function connectError(options: Parameters<typeof connectNats>[0]): Promise<Error> {
  return connectNats(options).then(
    () => {
      throw new Error('connected, expected a refusal');
    },
    (err: unknown) => err as Error,
  );
}

describe('the NATS identity variables', () => {
  it('map from config to connect options: private inbox always, credentials and TLS only when set', () => {
    const spec = { ...natsConfig() };
    expect(natsIdentityOptions(loadConfig(spec, {}), 'edge')).toEqual({ inboxPrefix: '_INBOX_edge' });
    const cfg = loadConfig(spec, {
      NATS_NKEY_SEED_FILE: '/var/run/secrets/orderwire/nats/seed',
      NATS_TLS_CA_FILE: '/ca.pem',
      NATS_USER: 'u',
      NATS_PASSWORD: 'p',
    });
    expect(natsIdentityOptions(cfg, 'dlq')).toEqual({
      inboxPrefix: '_INBOX_dlq',
      user: 'u',
      pass: 'p',
      nkeySeedFile: '/var/run/secrets/orderwire/nats/seed',
      tls: { caFile: '/ca.pem' },
    });
    expect(() => serviceInboxPrefix('a.b')).toThrow(/inbox token/);
  });

  it('an NKEY seed file authenticates as its user; its replies use the private inbox; a bad seed file fails clearly', async () => {
    const key = createNatsIdentityKey('edge');
    const server = await startNats({ config: renderNatsAuthorization([key]) });
    try {
      const seed = file('edge.seed', `${key.seed}\n`);
      const nc = await connectNats({ servers: server.url, name: 'seeded', logger, timeoutMs: 5_000, nkeySeedFile: seed, inboxPrefix: '_INBOX_edge' });
      try {
        expect(natsInboxPrefix(nc)).toBe('_INBOX_edge');
        expect(createConnectionInbox(nc)).toMatch(/^_INBOX_edge\./);
        // A JetStream API request answers on _INBOX_edge.> — the only inbox the edge may subscribe to.
        await expect(jetstreamManager(nc).then((jsm) => jsm.streams.info('ORDERS'))).rejects.toThrow(/stream not found/);
      } finally {
        await nc.close();
      }
      const missing = await connectError({ servers: server.url, name: 'x', logger, timeoutMs: 2_000, nkeySeedFile: join(dir, 'absent.seed') });
      expect(missing.message).toMatch(/cannot read the NKEY seed file .*absent\.seed \(NATS_NKEY_SEED_FILE\)/);
      const notSeed = await connectError({ servers: server.url, name: 'x', logger, timeoutMs: 2_000, nkeySeedFile: file('bad.seed', 'hello') });
      expect(notSeed.message).toMatch(/does not hold an NKEY user seed/);
      expect(natsIdentityKeyFromSeed('edge', key.seed).publicKey).toBe(key.publicKey);
    } finally {
      await server.dispose();
    }
  });

  it('user and password authenticate; a wrong password is refused at once, not retried', async () => {
    const server = await startNats({ config: 'authorization { users: [ { user: "ingest", password: "s3cret" } ] }' });
    try {
      const nc = await connectNats({ servers: server.url, name: 'pw', logger, timeoutMs: 5_000, user: 'ingest', pass: 's3cret' });
      await nc.close();
      const started = Date.now();
      const err = await connectError({ servers: server.url, name: 'pw', logger, timeoutMs: 20_000, user: 'ingest', pass: 'wrong' });
      expect(err.message).toMatch(/authorization failed/);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await server.dispose();
    }
  });

  it('NATS_TLS_CA_FILE / CERT / KEY: connects over mutual TLS to a server whose certificate the CA signed', async () => {
    const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem']);
    const sign = (name: string, ext: string) => {
      ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
      writeFileSync(join(dir, `${name}.ext`), ext);
      ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', `${name}.pem`, '-extfile', `${name}.ext`]);
    };
    sign('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    sign('client', 'extendedKeyUsage=clientAuth\n');
    const server = await startNats({
      config: `tls { cert_file: "${join(dir, 'server.pem')}", key_file: "${join(dir, 'server.key')}", ca_file: "${join(dir, 'ca.pem')}", verify: true }`,
    });
    try {
      const tls = natsIdentityOptions(
        { natsTlsCaFile: join(dir, 'ca.pem'), natsTlsCertFile: join(dir, 'client.pem'), natsTlsKeyFile: join(dir, 'client.key') },
        'auth',
      );
      const nc = await connectNats({ servers: server.url, name: 'tls', logger, timeoutMs: 5_000, ...tls });
      expect(nc.info?.tls_required ?? nc.info?.tls_available).toBe(true);
      await nc.close();
      // Without the client certificate the server refuses the handshake.
      await expect(connectNats({ servers: server.url, name: 'tls', logger, timeoutMs: 2_000, tls: { caFile: join(dir, 'ca.pem') } })).rejects.toThrow();
    } finally {
      await server.dispose();
    }
  });
});

describe('the generated authorization block', () => {
  it('is valid nats-server configuration with one NKEY user per identity, each subscribing to its own inbox', () => {
    const keys = NATS_IDENTITIES.map((i) => createNatsIdentityKey(i));
    const conf = renderNatsAuthorization(keys);
    for (const k of keys) expect(conf).toContain(`nkey: "${k.publicKey}"`);
    for (const i of NATS_IDENTITIES) expect(NATS_PERMISSIONS[i].subscribe).toContain(`_INBOX_${i}.>`);
    expect(NATS_PERMISSIONS.edge.publish.some((s) => s.startsWith('orders.'))).toBe(false);
    const path = file('nats.conf', `port: -1\n${conf}`);
    expect(execFileSync(resolveBinary('nats-server'), ['-c', path, '-t'], { encoding: 'utf8', stdio: 'pipe' })).toBe('');
  });
});

describe('the declaration', () => {
  const services = ['auth', 'ingest', 'edge', 'dlq'] as const;
  it('lets only the topology identity create or update streams, and only the declared ones', () => {
    for (const i of services) expect(NATS_PERMISSIONS[i].publish.filter((s) => /^\$JS\.API\.STREAM\.(CREATE|UPDATE|DELETE)\./.test(s)), i).toEqual([]);
    const declared = new Set(declaredStreamNames());
    const changes = NATS_PERMISSIONS.topology.publish.filter((s) => /^\$JS\.API\.STREAM\.(CREATE|UPDATE)\./.test(s));
    expect(changes.length).toBe(2 * declared.size);
    for (const s of changes) expect(declared.has(s.split('.').at(-1)!), s).toBe(true);
    // The topology identity reads no message and writes no subject outside the JetStream API; besides
    // streams it manages only the display mailboxes on order streams (a repartition moves them).
    expect(
      NATS_PERMISSIONS.topology.publish.filter(
        (s) =>
          !/^\$JS\.API\.(INFO|STREAM\.(LIST|NAMES)|STREAM\.(CREATE|UPDATE|INFO)\.[A-Za-z0-9_]+)$/.test(s) &&
          !/^\$JS\.API\.CONSUMER\.(CREATE|DURABLE\.CREATE|DELETE|INFO|LIST)\.ORDERS(_P[0-9]+)?(\.\*|\.>)?$/.test(s),
      ),
    ).toEqual([]);
  });

  it('gives the operator (nats-box) reads of JetStream state only, and the CLI default inbox to no one else', () => {
    const readOnly = /^\$JS\.API\.(INFO|STREAM\.(LIST|NAMES)|STREAM\.INFO\.[A-Za-z0-9_]+|CONSUMER\.(LIST|NAMES)\.[A-Za-z0-9_]+|CONSUMER\.INFO\.[A-Za-z0-9_]+\.\*)$/;
    expect(NATS_PERMISSIONS.operator.publish.filter((s) => !readOnly.test(s))).toEqual([]);
    for (const s of declaredStreamNames()) expect(NATS_PERMISSIONS.operator.publish).toContain(`$JS.API.CONSUMER.INFO.${s}.*`);
    expect(NATS_IDENTITIES.filter((i) => NATS_PERMISSIONS[i].subscribe.includes('_INBOX.>'))).toEqual(['operator']);
  });

  it('lets only auth write ow_revoked_clients and read the signing keys; no service but dlq samples every stream', () => {
    for (const i of NATS_IDENTITIES) {
      const p = NATS_PERMISSIONS[i].publish;
      expect(p.includes('$KV.ow_revoked_clients.>'), `${i} writes revoked clients`).toBe(i === 'auth');
      expect(p.some((s) => /GET\.KV_ow_signing_keys/.test(s)), `${i} reads signing keys`).toBe(i === 'auth');
    }
    const infoOfAll = (i: (typeof NATS_IDENTITIES)[number]): boolean => declaredStreamNames().every((s) => NATS_PERMISSIONS[i].publish.includes(`$JS.API.STREAM.INFO.${s}`));
    expect(NATS_IDENTITIES.filter(infoOfAll)).toEqual(['dlq', 'topology', 'backup', 'operator']);
    // Orders that expired unseen: the DLQ's detector adds to a display's notice, the edge clears it.
    for (const i of NATS_IDENTITIES) {
      expect(NATS_PERMISSIONS[i].publish.includes('$KV.ow_expired_notices.>'), `${i} writes expired notices`).toBe(['auth', 'edge', 'dlq'].includes(i));
    }
    expect(NATS_PERMISSIONS.dlq.publish).toContain('$JS.API.CONSUMER.MSG.NEXT.RECEIPTS.*');
    expect(NATS_PERMISSIONS.edge.publish.some((s) => s.startsWith('$JS.API.CONSUMER.') && s.includes('RECEIPTS'))).toBe(false);
    // Ingest and the edge write only their own audit event.
    for (const i of ['ingest', 'edge'] as const) expect(NATS_PERMISSIONS[i].publish.filter((s) => s.startsWith('audit.'))).toEqual(['audit.*.auth_failures']);
  });
});

describe('Redis TLS and credentials', () => {
  it('rediss: turns TLS on, REDIS_TLS_CA_FILE adds the CA, a CA without rediss: is a configuration error', () => {
    const spec = { ...redisConfig() };
    expect(redisTlsOptions(loadConfig(spec, {}))).toEqual({});
    expect(redisTlsOptions(loadConfig(spec, { REDIS_URL: 'rediss://:pw@redis:6380' }))).toEqual({ tls: {} });
    const ca = file('redis-ca.pem', '-----BEGIN CERTIFICATE-----\n');
    expect(redisTlsOptions(loadConfig(spec, { REDIS_URL: 'rediss://redis:6380', REDIS_TLS_CA_FILE: ca })).tls?.ca).toBeInstanceOf(Buffer);
    expect(() => redisTlsOptions(loadConfig(spec, { REDIS_URL: 'redis://redis:6379', REDIS_TLS_CA_FILE: ca }))).toThrow(/REDIS_TLS_CA_FILE: is set but REDIS_URL does not use rediss:/);
    expect(() => redisTlsOptions(loadConfig(spec, { REDIS_URL: 'rediss://redis', REDIS_TLS_CA_FILE: join(dir, 'nope.pem') }))).toThrow(/cannot read/);
  });

  it('names refused credentials as such, other errors as they are', () => {
    expect(isRedisAuthError(new Error('WRONGPASS invalid username-password pair or user is disabled.'))).toBe(true);
    expect(isRedisAuthError(new Error('NOAUTH Authentication required.'))).toBe(true);
    expect(isRedisAuthError(new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBe(false);
    expect(describeRedisError(new Error('NOAUTH Authentication required.'))).toMatch(/^authentication failed \(check the password in REDIS_URL\)/);
  });
});
