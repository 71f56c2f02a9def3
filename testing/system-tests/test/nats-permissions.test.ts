/**
 * Least privilege on NATS (issue 11 §2), against a real nats-server running the authorization
 * that `node scripts/nats-auth.mjs` generates from shared/platform/src/nats-permissions.ts, and a
 * password-protected Redis: the topology identity applies the streams and buckets; every service,
 * as a real process with its own NKEY seed, runs its normal flow (auth enrol + refresh, ingest
 * publish + status, edge deliver + ack, dlq capture + replay) without a single permission
 * violation; and for each identity at least one thing it must never do is refused.
 *
 * A violation fails the test naming the service (its NATS connection name) and the subject: add
 * the grant to NATS_PERMISSIONS, one line.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, errors, nkeyAuthenticator, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { createLogger, displayConsumerConfig, ensureTopology, connectNats, isOrderwireError, KV_BUCKETS, natsIdentityOptions, STREAMS } from '@orderwire/platform';
import { findRepoRoot, freePort, startServiceProcess, waitFor } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpJson, lostOrders, makeOrder, rawSocket, startStack, waitValue, type Stack } from '../src/stack.js';

const run = promisify(execFile);
const IDENTITIES = ['auth', 'ingest', 'edge', 'dlq', 'topology'] as const;
type Identity = (typeof IDENTITIES)[number];
/** @default 5 s for a refused operation to be refused (and logged by the server). */
const REFUSAL_TIMEOUT_MS = 5_000;

const logger = createLogger({ service: 'nats-permissions-test', version: '0', level: 'silent' });
let dir: string;
let stack: Stack;
let redisPort: number;
let redisPassword: string;
const seedFile = (identity: Identity): string => join(dir, `${identity}.seed`);

interface Violation {
  /** Service process (or probe connection) that was refused. */
  who: string;
  operation: string;
  subject: string;
}

/**
 * Every permission violation the services met. nats-server answers a refused publish or
 * subscribe with `-ERR 'Permissions Violation …'`; nats.js turns it into a PermissionViolationError
 * (with operation and subject) that `connectNats` logs as "nats async error", and that fails the
 * request that caused it.
 */
function violations(): Violation[] {
  const out: Violation[] = [];
  for (const h of stack.services()) {
    for (const line of h.logs().split('\n')) {
      if (!line.includes('PermissionViolationError')) continue;
      const m = /Permissions Violation for (Publish|Subscription) to \\?"([^"\\]+)/.exec(line);
      out.push({ who: h.name, operation: m?.[1] ?? '?', subject: m?.[2] ?? line.slice(0, 300) });
    }
  }
  return out;
}

function describeViolations(list: readonly Violation[]): string {
  return [...new Set(list.map((v) => `${v.who}: ${v.operation} to "${v.subject}" is not granted — add it to NATS_PERMISSIONS.${v.who.replace(/-\d+$/, '')}`))].join('\n');
}

interface Probe {
  nc: NatsConnection;
  /** Permission violations this connection was told about. */
  refused: { operation: string; subject: string }[];
  close(): Promise<void>;
}

/** Connects as an identity, the way its service does (seed file, private inbox prefix), and records refusals. */
async function connectAs(identity: Identity, name: string): Promise<Probe> {
  const nc = await connectNats({
    servers: stack.nats.url,
    name,
    logger,
    timeoutMs: 5_000,
    ...natsIdentityOptions({ natsNkeySeedFile: seedFile(identity) }, identity),
  });
  const refused: Probe['refused'] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && s.error instanceof errors.PermissionViolationError) {
        refused.push({ operation: s.error.operation, subject: s.error.subject });
      }
    }
  })();
  return { nc, refused, close: () => nc.close() };
}

/** Waits until the server told `probe` that `operation` on a subject matching `subject` is refused. */
async function refused(probe: Probe, operation: 'publish' | 'subscription', subject: RegExp): Promise<void> {
  await waitFor(() => probe.refused.some((r) => r.operation === operation && subject.test(r.subject)) || undefined, {
    timeoutMs: REFUSAL_TIMEOUT_MS,
    message: () => `the server refusing ${operation} to ${String(subject)}; refusals seen: ${JSON.stringify(probe.refused)}`,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orderwire-nats-auth-'));
  const root = findRepoRoot()!;
  await run(process.execPath, [join(root, 'scripts/nats-auth.mjs'), '--out', dir]);
  const authorization = await readFile(join(dir, 'auth.conf'), 'utf8');
  redisPort = await freePort();
  redisPassword = randomBytes(16).toString('hex');
  const redisUrl = `redis://:${redisPassword}@127.0.0.1:${redisPort}`;
  const seedEnv = (identity: Identity) => ({ NATS_NKEY_SEED_FILE: seedFile(identity) });
  stack = await startStack({
    edges: 2,
    dlq: true,
    nats: { config: authorization },
    redis: { port: redisPort, args: ['--requirepass', redisPassword] },
    env: {
      all: { REDIS_URL: redisUrl },
      // Auth keeps enrollment records for twice the code's life; 7m keeps that at the platform
      // default the topology identity applies, so auth (which may not change streams) finds it as declared.
      auth: { ...seedEnv('auth'), AUTH_ENROLLMENT_TTL: '7m' },
      ingest: seedEnv('ingest'),
      edge: { ...seedEnv('edge'), EDGE_MAX_FAILURES: '2', EDGE_NAK_DELAY: '100ms', EDGE_NAK_DELAY_MAX: '200ms', EDGE_ACK_TIMEOUT: '3s' },
      dlq: seedEnv('dlq'),
    },
    // The one owner of the topology applies it with its own identity; services only verify.
    beforeServices: async ({ nats }) => {
      const nc = await connectNats({
        servers: nats.url,
        name: 'topology-apply',
        logger,
        timeoutMs: 5_000,
        ...natsIdentityOptions({ natsNkeySeedFile: seedFile('topology') }, 'topology'),
      });
      try {
        await ensureTopology(nc, { logger });
      } finally {
        await nc.close();
      }
    },
  });
}, 180_000);

afterAll(async () => {
  await stack?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('every service with its own NATS identity', () => {
  it('runs its normal flow with no permission violation: enrol, refresh, publish, deliver + ack, status, dead-letter, replay', async () => {
    const d = await stack.newDisplay({ displayId: 'perm-1', storeId: 'st-perm', stations: ['grill'] });
    await d.tokens.refresh();
    d.rejectWhen((delivery) => delivery.orderId === 'perm-bad', 'unknown item');
    const accepted: string[] = [];
    for (const id of ['perm-1', 'perm-bad', 'perm-2']) {
      const res = await stack.postOrder(makeOrder(id, 'st-perm', 'grill'));
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      accepted.push(id);
    }
    await waitFor(() => lostOrders(['perm-1', 'perm-2'], [d]).length === 0 || undefined, {
      timeoutMs: 20_000,
      message: () => `orders shown; violations:\n${describeViolations(violations())}\n${stack.tails(20)}`,
    });
    const status = await waitValue(
      async () => {
        const res = await stack.orderStatus('perm-1');
        return res.status === 200 && res.body.displays[0]?.status === 'delivered' ? res.body : undefined;
      },
      { timeoutMs: 10_000, message: 'perm-1 delivered in GET /v1/orders/:id' },
    );
    expect(status.displays[0]?.displayId).toBe('perm-1');

    // Dead-lettered by the edge, captured by the dlq, replayed to the display.
    const readToken = await stack.clientToken(['dlq:read']);
    const entry = await waitValue(
      async () => {
        const res = await stack.request<{ items: { id: string; orderId: string }[] }>('GET', `${stack.dlq!.url}/v1/dlq?orderId=perm-bad`, { token: readToken });
        return res.body.items?.[0];
      },
      { timeoutMs: 30_000, message: () => `perm-bad in the DLQ; violations:\n${describeViolations(violations())}\n${stack.tails(20)}` },
    );
    d.rejectWhen(undefined);
    const replay = await stack.request('POST', `${stack.dlq!.url}/v1/dlq/${entry.id}/replay`, {
      token: await stack.clientToken(['dlq:replay']),
      body: { note: 'permissions test' },
    });
    expect(replay.status, JSON.stringify(replay.body)).toBe(200);
    await waitFor(() => d.shownIds().has('perm-bad') || undefined, { timeoutMs: 15_000, message: 'perm-bad shown after the replay' });

    // Every process logs in and is ready with its own identity; the server refused nothing.
    for (const h of stack.services()) {
      const res = await fetch(`${h.url}/readyz`);
      expect(res.status, `${h.name} /readyz`).toBe(200);
    }
    expect(describeViolations(violations())).toBe('');
  }, 120_000);

  it('edges hand a display over to each other and obey revocation signals, with their identities', async () => {
    const [e1, e2] = stack.edges;
    const d = await stack.newDisplay({ displayId: 'perm-2', storeId: 'st-perm', stations: ['grill'], edgeUrls: [e1!.url], reconnect: { baseMs: 5_000, maxMs: 5_000 } });
    const tokens = d.tokenHistory.at(-1)!;
    // The same display on the other edge: edge-2 tells edge-1 (ow.edge.takeover.*) to end the older session.
    const raw = rawSocket(e2!.url, tokens.accessToken);
    try {
      await raw.connected;
      await waitFor(() => d.count('session_end') + d.count('disconnected') > 0 || undefined, {
        timeoutMs: 10_000,
        message: () => `edge-1 ended the older session (events ${JSON.stringify(d.events.slice(-5))}); violations:\n${describeViolations(violations())}`,
      });
      // Auth revokes the family and signals the edges (ow.signal.revoked.*); edge-2 ends the raw session.
      const revoked = await httpJson('POST', `${stack.auth.url}/v1/token/revoke`, { body: { refreshToken: tokens.refreshToken } });
      expect(revoked.status, JSON.stringify(revoked.body)).toBeLessThan(300);
      await waitFor(() => raw.events.some((e) => e.type === 'session:end' || e.type === 'disconnect') || undefined, {
        timeoutMs: 10_000,
        message: () => `edge-2 ended the revoked session (events ${JSON.stringify(raw.events)}); violations:\n${describeViolations(violations())}`,
      });
      await waitFor(() => stack.edges.some((e) => e.logs().includes('revocation signal')) || undefined, {
        timeoutMs: 10_000,
        message: () => `an edge logging the revocation signal (raw events ${JSON.stringify(raw.events)})\n${stack.tails(15)}`,
      });
    } finally {
      raw.close();
      d.close();
    }
    expect(describeViolations(violations())).toBe('');
  }, 60_000);

  it('authenticates every service connection as its own NKEY user', async () => {
    const res = await fetch(`${stack.nats.monitorUrl}/connz?auth=true`);
    const connz = (await res.json()) as { connections: { name?: string; nkey?: string; authorized_user?: string }[] };
    const keys = Object.fromEntries(
      await Promise.all(
        IDENTITIES.map(async (i) => [i, nkeys.fromSeed(new TextEncoder().encode((await readFile(seedFile(i), 'utf8')).trim())).getPublicKey()] as const),
      ),
    );
    const byName = (prefix: string) => connz.connections.filter((c) => c.name?.startsWith(prefix) === true);
    for (const [prefix, identity] of [['auth/', 'auth'], ['ingest-', 'ingest'], ['edge/', 'edge'], ['dlq-', 'dlq']] as const) {
      const conns = byName(prefix);
      expect(conns.length, `${identity} connections in connz`).toBeGreaterThan(0);
      for (const c of conns) expect(c.nkey ?? c.authorized_user, `${c.name} user`).toBe(keys[identity]);
    }
  });
});

describe('what each identity must never do is refused', () => {
  it('the edge cannot publish orders', async () => {
    const probe = await connectAs('edge', 'perm-edge-probe');
    const { nc } = probe;
    try {
      const jsm = await jetstreamManager(nc);
      const before = (await jsm.streams.info(STREAMS.ORDERS)).state.last_seq;
      nc.publish('orders.t1.st-perm.grill', JSON.stringify({ forged: true }));
      await nc.flush();
      await refused(probe, 'publish', /^orders\./);
      expect((await jsm.streams.info(STREAMS.ORDERS)).state.last_seq, 'nothing stored').toBe(before);
    } finally {
      await probe.close();
    }
  });

  it('ingest cannot read the signing-key bucket', async () => {
    const probe = await connectAs('ingest', 'perm-ingest-probe');
    const { nc } = probe;
    try {
      // Opening it (STREAM.INFO: configuration, as every service verifies the topology) works; reading does not.
      const kv = await new Kvm(nc).open(KV_BUCKETS.SIGNING_KEYS);
      await expect(kv.get('current')).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.(DIRECT|STREAM\.MSG)\.GET\.KV_ow_signing_keys/);
      // Not even by a raw direct get of the bucket's stream.
      await expect(nc.request(`$JS.API.DIRECT.GET.KV_${KV_BUCKETS.SIGNING_KEYS}`, JSON.stringify({ seq: 1 }), { timeout: 2_000 })).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.DIRECT\.GET\.KV_ow_signing_keys$/);
    } finally {
      await probe.close();
    }
  });

  it('the dlq cannot create display consumers', async () => {
    const probe = await connectAs('dlq', 'perm-dlq-probe');
    const { nc } = probe;
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      const cfg = displayConsumerConfig({ tenant: stack.tenant, store: 'st-perm', displayId: 'forged', stations: ['grill'] });
      await expect(jsm.consumers.add(STREAMS.ORDERS, { ...cfg, ack_policy: AckPolicy.Explicit })).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.CONSUMER\.(DURABLE\.)?CREATE\.ORDERS\./);
    } finally {
      await probe.close();
    }
  });

  it('no identity but topology may create or change streams', async () => {
    const probe = await connectAs('auth', 'perm-auth-probe');
    const { nc } = probe;
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      await expect(jsm.streams.add({ name: 'ROGUE', subjects: ['rogue.>'] })).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.STREAM\.CREATE\.ROGUE$/);
      // And a service's JetStream replies land only in its own inbox.
      const js = jetstream(nc);
      await expect(js.publish('audit.x.perm_probe', '{}', { timeout: 2_000 })).resolves.toBeDefined();
    } finally {
      await probe.close();
    }
  });

  it('an unknown user, a user without credentials and a wrong password cannot connect at all', async () => {
    const stranger = nkeys.createUser();
    const strangerSeed = join(dir, 'stranger.seed');
    await writeFile(strangerSeed, new TextDecoder().decode(stranger.getSeed()), { mode: 0o600 });
    const err = await connectNats({ servers: stack.nats.url, name: 'stranger', logger, timeoutMs: 3_000, nkeySeedFile: strangerSeed }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOrderwireError(err) && err.code).toBe('ORDERWIRE_ERR_NATS_CONNECT');
    expect(String((err as Error).message)).toMatch(/authorization failed/);

    await expect(connect({ servers: stack.nats.url, timeout: 3_000, reconnect: false })).rejects.toThrow(/Authorization/i);
    await expect(
      connect({ servers: stack.nats.url, timeout: 3_000, reconnect: false, authenticator: nkeyAuthenticator(stranger.getSeed()) }),
    ).rejects.toThrow(/Authorization/i);
    await expect(connect({ servers: stack.nats.url, timeout: 3_000, reconnect: false, user: 'edge', pass: 'guess' })).rejects.toThrow(/Authorization/i);
  });
});

describe('Redis with a password', () => {
  interface Ready {
    checks: Record<string, { ok: boolean; detail?: string }>;
  }
  const redisCheck = async (url: string) => ((await (await fetch(`${url}/readyz`)).json()) as Ready).checks.redis;

  it('the edge connects with the password in REDIS_URL', async () => {
    const edge = stack.edges[0]!;
    let last: unknown;
    await waitFor(
      async () => {
        const c = await redisCheck(edge.url);
        last = c;
        return c?.ok === true || undefined;
      },
      { timeoutMs: 10_000, message: () => `edge redis check ok: ${JSON.stringify(last)}` },
    );
  });

  it('an edge with a wrong password says clearly that Redis refused its credentials', async () => {
    const edge = await startServiceProcess({
      name: 'edge-wrong-redis-password',
      main: 'services/edge/dist/main.js',
      env: {
        ...stack.env,
        INSTANCE_ID: 'edge-wrong-redis-password',
        NATS_NKEY_SEED_FILE: seedFile('edge'),
        REDIS_URL: `redis://:not-${redisPassword}@127.0.0.1:${redisPort}`,
      },
      startTimeoutMs: 60_000,
    });
    try {
      // Delivery does not need Redis, so the node is ready; its readiness detail and log name the cause.
      let last: unknown;
      const check = await waitValue(
        async () => {
          const c = await redisCheck(edge.url);
          last = c;
          return c !== undefined && /authentication failed/.test(c.detail ?? '') ? c : undefined;
        },
        { timeoutMs: 10_000, message: () => `redis check names the refused password: ${JSON.stringify(last)}` },
      );
      expect(check.ok).toBe(false);
      expect(check.detail).toMatch(/WRONGPASS|invalid username-password/);
      await waitFor(() => edge.logs().includes('redis refused the credentials in REDIS_URL') || undefined, {
        timeoutMs: 10_000,
        message: () => `an error line about the refused Redis credentials in\n${edge.logs().slice(-2000)}`,
      });
      expect(edge.logs(), 'the password is never logged').not.toContain(redisPassword);
    } finally {
      await edge.dispose();
    }
  }, 90_000);
});
