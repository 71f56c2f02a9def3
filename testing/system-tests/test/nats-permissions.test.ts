/**
 * Least privilege on NATS (issue 11 §2), against a real nats-server running the authorization
 * that `node scripts/nats-auth.mjs` generates from shared/platform/src/nats-permissions.ts, and a
 * password-protected Redis: `orderwire-auth topology apply` creates the streams and buckets as the
 * `topology` identity; every service, as a real process with its own NKEY seed, verifies the topology
 * at start and runs its flows (auth enrol + refresh, legacy mailbox migration, presence with
 * backlog, client revocation and tenant quotas through KV; ingest publish + status + quota +
 * revocation watch; edge deliver + ack with the receipt compare-and-set; dlq capture + replay +
 * revocation watch + size gauges of every stream; webhooks endpoint on ingest + signed delivery by
 * the dispatcher; aggregated audit from ingest and the edge)
 * without a single permission violation; and for each identity what it must never do is refused.
 *
 * A violation fails the test naming the service (its NATS connection name) and the subject: add
 * the grant to NATS_PERMISSIONS, one line.
 */
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { stationSubject } from '@orderwire/contracts';
import { Kvm } from '@nats-io/kv';
import { connect, errors, nkeyAuthenticator, nkeys, type NatsConnection } from '@nats-io/transport-node';
import {
  connectNats,
  createLogger,
  declaredStreamNames,
  displayConsumerConfig,
  finishRepartition,
  isOrderStream,
  isOrderwireError,
  listOrderStreams,
  KV_BUCKETS,
  natsIdentityOptions,
  orderStreamFor,
  repartitionOrderStreams,
} from '@orderwire/platform';
import { findRepoRoot, freePort, startServiceProcess, waitFor } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpJson, lostOrders, makeOrder, metricValue, rawSocket, startStack, waitValue, type Stack } from '../src/stack.js';

const run = promisify(execFile);
const IDENTITIES = ['auth', 'ingest', 'edge', 'dlq', 'webhooks', 'topology', 'backup', 'operator'] as const;
/** The run folders `orderwire-backup` writes (RUN_PREFIX of services/auth/src/backup.ts; tooling never imports a service). */
const BACKUP_RUN_PREFIX = 'orderwire-backup-';
type Identity = (typeof IDENTITIES)[number];
/** 5 s for a refused operation to be refused (and logged by the server). */
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
    webhooks: true,
    nats: { config: authorization },
    redis: { port: redisPort, args: ['--requirepass', redisPassword] },
    env: {
      // One-second audit windows, so the aggregated events of refused authentications are written during the test.
      all: { REDIS_URL: redisUrl, AUDIT_AGGREGATE_WINDOW: '1s' },
      // The one owner of the topology (`orderwire-auth topology apply`, run by the stack before any
      // service) applies it with its own identity; services only verify.
      topology: seedEnv('topology'),
      auth: seedEnv('auth'),
      edge: { ...seedEnv('edge'), EDGE_MAX_FAILURES: '2', EDGE_NAK_DELAY: '100ms', EDGE_NAK_DELAY_MAX: '200ms', EDGE_ACK_TIMEOUT: '3s' },
      dlq: seedEnv('dlq'),
      webhooks: { ...seedEnv('webhooks'), WEBHOOKS_ALLOW_HTTP: 'true', WEBHOOKS_ALLOWED_CIDRS: '127.0.0.1/32', WEBHOOKS_TICK: '50ms' },
      ingest: { ...seedEnv('ingest'), WEBHOOKS_ALLOW_HTTP: 'true', WEBHOOKS_ALLOWED_CIDRS: '127.0.0.1/32' },
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
    for (const [prefix, identity] of [['auth/', 'auth'], ['ingest-', 'ingest'], ['edge/', 'edge'], ['dlq-', 'dlq'], ['webhooks-', 'webhooks']] as const) {
      const conns = byName(prefix);
      expect(conns.length, `${identity} connections in connz`).toBeGreaterThan(0);
      for (const c of conns) expect(c.nkey ?? c.authorized_user, `${c.name} user`).toBe(keys[identity]);
    }
  });
});

const metricsOf = async (url: string): Promise<string> => (await httpJson<string>('GET', `${url}/metrics`)).body;

describe('the flows of topology ownership, mailboxes, abuse controls and presence, with the real identities', () => {
  it('topology repartitions (stream list, consumer list, create, update, delete on the order streams) with no refusal', async () => {
    const probe = await connectAs('topology', 'perm-topology-repartition');
    try {
      const jsm = await jetstreamManager(probe.nc, { timeout: 5_000 });
      const plan = await repartitionOrderStreams(jsm, { partitions: 4, dryRun: true });
      expect(plan.moves.map((m) => m.to)).toEqual(['ORDERS_P2', 'ORDERS_P3']);
      expect(await finishRepartition(jsm)).toEqual({ retired: 0, remaining: [] });
      expect(probe.refused).toEqual([]);
    } finally {
      await probe.close();
    }
  });

  it('GET /v1/displays lists presence (Redis, written by the edge) with each mailbox backlog (consumer info)', async () => {
    const d = await stack.newDisplay({ displayId: 'perm-presence', storeId: 'st-perm', stations: ['grill'] });
    try {
      const token = await stack.clientToken(['displays:manage']);
      type Listed = { displays: { displayId: string; online: boolean | null; backlog: { total: number } | null }[]; presence: string };
      const listed = await waitValue(
        async () => {
          const res = await httpJson<Listed>('GET', `${stack.auth.url}/v1/displays?storeId=st-perm`, { token });
          const me = res.body.displays?.find((x) => x.displayId === 'perm-presence');
          return res.status === 200 && me?.online === true ? { body: res.body, me } : undefined;
        },
        { timeoutMs: 10_000, message: () => `perm-presence online in GET /v1/displays; violations:\n${describeViolations(violations())}` },
      );
      expect(listed.body.presence).toBe('ok');
      expect(listed.me.backlog, 'backlog read from the mailbox consumer').toMatchObject({ total: expect.any(Number) as number });
    } finally {
      d.close();
    }
    expect(describeViolations(violations())).toBe('');
  });

  it('a client revoked in ow_revoked_clients (written by auth) is refused by ingest and dlq (watching it)', async () => {
    const victim = (await stack.authCli(['client', 'create', '--tenant', stack.tenant, '--scopes', 'orders:read,dlq:read'])) as { clientId: string; clientSecret: string };
    const token = await stack.clientToken(['orders:read', 'dlq:read'], victim);
    const statusAt = async (): Promise<[number, number]> => [
      (await stack.request('GET', `${stack.ingest.url}/v1/orders/perm-revocation-probe`, { token })).status,
      (await stack.request('GET', `${stack.dlq!.url}/v1/dlq`, { token })).status,
    ];
    expect(await statusAt()).toEqual([404, 200]);
    await stack.authCli(['client', 'revoke', victim.clientId]);
    await waitValue(async () => ((await statusAt()).join() === '401,401' ? true : undefined), {
      timeoutMs: 10_000,
      message: () => `ingest and dlq refusing the revoked client; violations:\n${describeViolations(violations())}`,
    });
    expect(describeViolations(violations())).toBe('');
  });

  it('ingest applies the per-tenant quota from ow_tenants', async () => {
    await stack.authCli(['tenant', 'update', stack.tenant, '--orders-per-minute', '1']);
    try {
      const refused = await waitValue(
        async () => {
          const res = await stack.postOrder(makeOrder(`perm-quota-${randomBytes(4).toString('hex')}`, 'st-perm-quota', 'grill'));
          return res.status === 429 ? res : undefined;
        },
        { timeoutMs: 10_000, message: () => `ingest refusing over the tenant quota; violations:\n${describeViolations(violations())}` },
      );
      expect((refused.body as { error?: { code?: string } }).error?.code).toBe('ORDERWIRE_ERR_INGEST_ORDER_QUOTA_EXCEEDED');
    } finally {
      await stack.authCli(['tenant', 'update', stack.tenant, '--orders-per-minute', 'default']);
    }
    expect(describeViolations(violations())).toBe('');
  });

  it('ingest and the edge publish aggregated auth_failures audit events', async () => {
    const res = await stack.request('GET', `${stack.ingest.url}/v1/orders/x`, { token: 'not-a-token' });
    expect(res.status).toBe(401);
    const raw = rawSocket(stack.edges[0]!.url, 'not-a-token');
    await raw.connected.then(
      () => undefined,
      () => undefined,
    );
    raw.close();
    for (const url of [stack.ingest.url, stack.edges[0]!.url]) {
      await waitFor(async () => (metricValue(await metricsOf(url), 'orderwire_audit_aggregated_events_total', { result: 'ok' }) > 0) || undefined, {
        timeoutMs: 10_000,
        message: () => `an aggregated audit event written by ${url}; violations:\n${describeViolations(violations())}`,
      });
      expect(metricValue(await metricsOf(url), 'orderwire_audit_aggregated_events_total', { result: 'failed' }), `${url} audit publish failures`).toBe(0);
    }
    expect(describeViolations(violations())).toBe('');
  });

  it('webhooks: an endpoint managed on ingest receives a signed order.displayed, read from RECEIPTS by the dispatcher', async () => {
    const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const d = await stack.newDisplay({ displayId: 'perm-webhook', storeId: 'st-perm-wh', stations: ['grill'] });
    try {
      const token = await stack.clientToken(['webhooks:manage']);
      const made = await stack.request<{ id: string; secret: string }>('POST', `${stack.ingest.url}/v1/webhooks`, {
        token,
        body: { url: `http://127.0.0.1:${port}/hook`, events: ['order.displayed'] },
      });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      // The dispatcher's endpoint mirror picks it up within milliseconds; the order comes after.
      await new Promise((r) => setTimeout(r, 500));
      expect((await stack.postOrder(makeOrder('perm-wh-1', 'st-perm-wh', 'grill'))).status).toBe(202);
      await waitFor(() => received.length > 0 || undefined, {
        timeoutMs: 20_000,
        message: () => `a webhook delivery; violations:\n${describeViolations(violations())}\n${stack.tails(20)}`,
      });
      const got = received[0]!;
      expect(JSON.parse(got.body)).toMatchObject({ type: 'order.displayed', data: { tenant: stack.tenant, orderId: 'perm-wh-1', displayId: 'perm-webhook' } });
      const id = got.headers['webhook-id'] as string;
      const ts = got.headers['webhook-timestamp'] as string;
      const expected = createHmac('sha256', Buffer.from(made.body.secret.slice('whsec_'.length), 'base64')).update(`${id}.${ts}.${got.body}`).digest('base64');
      expect(got.headers['webhook-signature']).toBe(`v1,${expected}`);
      const deliveries = await stack.request<{ deliveries: { state: string }[] }>('GET', `${stack.ingest.url}/v1/webhooks/${made.body.id}/deliveries`, { token });
      expect(deliveries.body.deliveries[0]?.state).toBe('succeeded');
    } finally {
      d.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(describeViolations(violations())).toBe('');
  }, 60_000);

  it('the dlq exports the size of every declared stream, KV buckets included', async () => {
    const text = await metricsOf(stack.dlq!.url);
    // The order partition streams present (P of 256 possible names) and every other declared one.
    const reader = await connectAs('dlq', 'perm-usage-reader');
    const present = [...(await listOrderStreams(await jetstreamManager(reader.nc))), ...declaredStreamNames().filter((n) => !isOrderStream(n))];
    await reader.close();
    expect(present).toContain('ORDERS_P1');
    for (const stream of present) {
      // A series per stream (absent when its STREAM.INFO is refused or the stream is missing).
      expect(text, stream).toMatch(new RegExp(`^orderwire_jetstream_stream_bytes\\{[^}]*stream="${stream}"[^}]*\\} \\d`, 'm'));
    }
    expect(describeViolations(violations())).toBe('');
  });
});

describe('what each identity must never do is refused', () => {
  it('the edge cannot publish orders', async () => {
    const probe = await connectAs('edge', 'perm-edge-probe');
    const { nc } = probe;
    try {
      const jsm = await jetstreamManager(nc);
      const stream = (await orderStreamFor(jsm, 't1', 'st-perm'))!;
      const before = (await jsm.streams.info(stream)).state.last_seq;
      nc.publish(stationSubject('t1', 'st-perm', 'grill'), JSON.stringify({ forged: true }));
      await nc.flush();
      await refused(probe, 'publish', /^orders\./);
      expect((await jsm.streams.info(stream)).state.last_seq, 'nothing stored').toBe(before);
    } finally {
      await probe.close();
    }
  });

  it('the webhooks dispatcher cannot publish orders or receipts', async () => {
    const probe = await connectAs('webhooks', 'perm-webhooks-probe');
    try {
      probe.nc.publish('orders.t1.st-perm.grill', JSON.stringify({ forged: true }));
      probe.nc.publish(`receipts.${stack.tenant}.o.d`, JSON.stringify({ forged: true }));
      await probe.nc.flush();
      await refused(probe, 'publish', /^orders\./);
      await refused(probe, 'publish', /^receipts\./);
    } finally {
      await probe.close();
    }
  });

  it('ingest cannot read the signing-key bucket', async () => {
    const probe = await connectAs('ingest', 'perm-ingest-probe');
    const { nc } = probe;
    try {
      // Not even its configuration: ingest verifies only the buckets it uses.
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      await expect(jsm.streams.info(`KV_${KV_BUCKETS.SIGNING_KEYS}`)).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.STREAM\.INFO\.KV_ow_signing_keys$/);
      // Nor a value (KV get is a direct get).
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
      await expect(jsm.consumers.add('ORDERS_P0', { ...cfg, ack_policy: AckPolicy.Explicit })).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.CONSUMER\.(DURABLE\.)?CREATE\.ORDERS_P0\./);
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

  it('no service may update a declared stream, and topology may not create an undeclared one', async () => {
    for (const identity of ['auth', 'ingest', 'edge', 'dlq'] as const) {
      const probe = await connectAs(identity, `perm-${identity}-update-probe`);
      try {
        const jsm = await jetstreamManager(probe.nc, { timeout: 2_000 });
        await expect(jsm.streams.update('ORDERS_P0', { max_age: 1_000_000_000 })).rejects.toThrow();
        await refused(probe, 'publish', /^\$JS\.API\.STREAM\.UPDATE\.ORDERS_P0$/);
      } finally {
        await probe.close();
      }
    }
    const probe = await connectAs('topology', 'perm-topology-probe');
    try {
      const jsm = await jetstreamManager(probe.nc, { timeout: 2_000 });
      await expect(jsm.streams.add({ name: 'ROGUE', subjects: ['rogue.>'] })).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.STREAM\.CREATE\.ROGUE$/);
      // Nor read a message of a stream it applies.
      await expect(jsm.streams.getMessage('ORDERS_P0', { seq: 1 })).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.STREAM\.MSG\.GET\.ORDERS_P0$/);
    } finally {
      await probe.close();
    }
  });

  it('orderwire-backup backs up and verifies every declared stream as `backup`, which may change or read nothing else', async () => {
    const root = await mkdtemp(join(tmpdir(), 'orderwire-perm-backup-'));
    try {
      const cli = join(findRepoRoot()!, 'services/auth/dist/backup-cli.js');
      const env = { ...process.env, NATS_URL: stack.nats.url, NATS_NKEY_SEED_FILE: seedFile('backup'), LOG_LEVEL: 'warn' };
      const backup = await run(process.execPath, [cli, 'backup', root], { env });
      const runs = (await readdir(root)).filter((d) => d.startsWith(BACKUP_RUN_PREFIX));
      expect(runs, backup.stdout + backup.stderr).toHaveLength(1);
      await run(process.execPath, [cli, 'verify', join(root, runs[0]!)], { env });
      // A restore over the live streams is refused without --replace (and nothing is deleted).
      await expect(run(process.execPath, [cli, 'restore', join(root, runs[0]!)], { env })).rejects.toMatchObject({ code: 1 });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
    const probe = await connectAs('backup', 'perm-backup-probe');
    try {
      const jsm = await jetstreamManager(probe.nc, { timeout: 2_000 });
      await expect(jsm.streams.update('ORDERS_P0', { max_age: 1_000_000_000 })).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.STREAM\.UPDATE\.ORDERS_P0$/);
      await expect(jsm.streams.getMessage(`KV_${KV_BUCKETS.SIGNING_KEYS}`, { seq: 1 })).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.STREAM\.MSG\.GET\.KV_ow_signing_keys$/);
      probe.nc.publish(stationSubject('t', 's', 'grill'), '{}');
      await probe.nc.flush();
      await refused(probe, 'publish', /^orders\.[0-9]+\.t\.s\.grill$/);
    } finally {
      await probe.close();
    }
  });

  it('the operator identity (nats-box) reads streams and display mailboxes on the CLI default inbox, and may change or read nothing else', async () => {
    // As the `nats` CLI connects in nats-box: its NKEY seed, replies on the default `_INBOX.`.
    const nc = await connectNats({ servers: stack.nats.url, name: 'perm-operator-probe', logger, timeoutMs: 5_000, nkeySeedFile: seedFile('operator') });
    const probe: Probe = { nc, refused: [], close: () => nc.close() };
    void (async () => {
      for await (const st of nc.status()) {
        if (st.type === 'error' && st.error instanceof errors.PermissionViolationError) probe.refused.push({ operation: st.error.operation, subject: st.error.subject });
      }
    })();
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      await jsm.getAccountInfo();
      const names: string[] = [];
      for await (const info of jsm.streams.list()) names.push(info.config.name);
      expect(names).toEqual(expect.arrayContaining(['RECEIPTS', 'ORDERS_P0']));
      // `nats consumer report` on every order stream: list, then info of each display mailbox.
      let mailboxes = 0;
      for (const stream of names.filter((n) => isOrderStream(n))) {
        for await (const c of jsm.consumers.list(stream)) {
          expect((await jsm.consumers.info(stream, c.name)).name).toBe(c.name);
          mailboxes++;
        }
      }
      expect(mailboxes).toBeGreaterThan(0);
      expect(probe.refused).toEqual([]);
      await expect(jsm.streams.update('ORDERS_P0', { max_age: 1_000_000_000 })).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.STREAM\.UPDATE\.ORDERS_P0$/);
      await expect(jsm.streams.getMessage('RECEIPTS', { seq: 1 })).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.STREAM\.MSG\.GET\.RECEIPTS$/);
      const cfg = displayConsumerConfig({ tenant: stack.tenant, store: 'st-perm', displayId: 'forged-op', stations: ['grill'] });
      await expect(jsm.consumers.add('ORDERS_P0', { ...cfg, ack_policy: AckPolicy.Explicit })).rejects.toThrow();
      await refused(probe, 'publish', /^\$JS\.API\.CONSUMER\.(DURABLE\.)?CREATE\.ORDERS_P0\./);
      nc.publish(stationSubject('t', 's', 'grill'), '{}');
      await nc.flush();
      await refused(probe, 'publish', /^orders\.[0-9]+\.t\.s\.grill$/);
    } finally {
      await probe.close();
    }
  });

  it('ingest and the edge cannot write ow_revoked_clients (only auth revokes)', async () => {
    for (const identity of ['ingest', 'edge'] as const) {
      const probe = await connectAs(identity, `perm-${identity}-revoke-probe`);
      try {
        probe.nc.publish(`$KV.${KV_BUCKETS.REVOKED_CLIENTS}.owc_forged_${identity}`, JSON.stringify({ forged: true }));
        await probe.nc.flush();
        await refused(probe, 'publish', /^\$KV\.ow_revoked_clients\./);
      } finally {
        await probe.close();
      }
    }
    const auth = await connectAs('auth', 'perm-auth-revoked-reader');
    try {
      const kv = await new Kvm(auth.nc).open(KV_BUCKETS.REVOKED_CLIENTS);
      expect(await kv.get('owc_forged_ingest'), 'nothing stored').toBeNull();
      expect(await kv.get('owc_forged_edge'), 'nothing stored').toBeNull();
    } finally {
      await auth.close();
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
