/**
 * Least privilege on NATS, declared ONCE: the subjects each Orderwire identity may publish to and
 * subscribe to, JetStream API subjects included. `renderNatsAuthorization` turns it into the
 * nats-server `authorization { users: [...] }` block (NKEY users), `scripts/nats-auth.mjs` writes
 * that block and one seed per identity, and the system test
 * `testing/system-tests/test/nats-permissions.test.ts` runs every service's normal flow against a
 * server using it (a missing grant fails naming the service and the subject).
 *
 * Adding a subject is one line in the identity's list below. What the JetStream client sends:
 * - `$JS.API.INFO` when a JetStreamManager is created;
 * - `$JS.API.STREAM.INFO.<stream>` to open a KV bucket or verify the topology;
 * - `$JS.API.STREAM.MSG.GET.<stream>` / `$JS.API.DIRECT.GET.<stream>[.<subject>]` to read one message
 *   (KV `get` is a direct get on `KV_<bucket>`);
 * - `$KV.<bucket>.<key>` to put, create, delete (a publish);
 * - `$JS.API.CONSUMER.CREATE.<stream>[.<name>[.<filter>]]`, `.DURABLE.CREATE.`, `.INFO.`, `.DELETE.`
 *   to manage consumers (ordered consumers and KV watchers create and delete their own; KV `keys`
 *   is a watch too); `$JS.API.CONSUMER.LIST.<stream>` to list them;
 * - `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` to pull; `$JS.ACK.<stream>.>` to ack, nak, term;
 * - `$JS.FC.<stream>.>` to answer flow control of push consumers (KV watchers);
 * - replies (PubAcks, API answers, pulled messages) on the connection's inbox, which is private per
 *   identity: `_INBOX_<identity>.>` (see `serviceInboxPrefix`; nats.js routes JetStream replies there too).
 */
import { nkeys } from '@nats-io/nats-core';
import {
  AUDIT_SUBJECT_PREFIX,
  DLQ_SUBJECT_PREFIX,
  ORDER_RING_PREFIX,
  ORDERS_SUBJECT_PREFIX,
  RECEIPTS_SUBJECT_PREFIX,
  SIGNALS,
} from '@orderwire/contracts';
import { AUTH_FAILURES_EVENT } from './auth-guard.js';
import { serviceInboxPrefix } from './nats.js';
import { allOrderStreamNames } from './order-streams.js';
import { KV_BUCKETS, STREAMS, kvStreamName, type KvBucketName } from './topology.js';

/**
 * Identities with their own NATS user: the services, the one that applies the topology, backup,
 * and `operator` (nats-box, the runbook's read-only `nats` CLI).
 */
export const NATS_IDENTITIES = ['auth', 'ingest', 'edge', 'dlq', 'webhooks', 'topology', 'backup', 'operator'] as const;
export type NatsIdentity = (typeof NATS_IDENTITIES)[number];

export interface NatsPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/**
 * Edge-to-edge core-NATS subjects `<prefix>.<consumer>`: an in-flight message handed back on
 * drain, and the takeover of a display's older session. Declared here so the edge and its
 * permissions use the same names.
 */
export const EDGE_SUBJECT_PREFIXES = Object.freeze({
  handback: 'ow.edge.handback',
  takeover: 'ow.edge.takeover',
} as const);
const EDGE_SUBJECTS = {
  handback: `${EDGE_SUBJECT_PREFIXES.handback}.*`,
  takeover: `${EDGE_SUBJECT_PREFIXES.takeover}.*`,
};

const API = '$JS.API';

/** Subjects of the JetStream API and KV, by what a client does with them. */
const js = {
  account: `${API}.INFO`,
  streamInfo: (stream: string): string => `${API}.STREAM.INFO.${stream}`,
  /** One message by sequence or last-by-subject, with or without direct get. */
  msgGet: (stream: string): string[] => [`${API}.STREAM.MSG.GET.${stream}`, `${API}.DIRECT.GET.${stream}`, `${API}.DIRECT.GET.${stream}.>`],
  consumerInfo: (stream: string): string => `${API}.CONSUMER.INFO.${stream}.*`,
  pull: (stream: string): string => `${API}.CONSUMER.MSG.NEXT.${stream}.*`,
  /** Create, update (a create with action), delete consumers on a stream. */
  consumerManage: (stream: string): string[] => [
    `${API}.CONSUMER.CREATE.${stream}`,
    `${API}.CONSUMER.CREATE.${stream}.>`,
    `${API}.CONSUMER.DURABLE.CREATE.${stream}.*`,
    `${API}.CONSUMER.DELETE.${stream}.*`,
    `${API}.CONSUMER.INFO.${stream}.*`,
  ],
  ack: (stream: string): string => `$JS.ACK.${stream}.>`,
  flowControl: (stream: string): string => `$JS.FC.${stream}.>`,
};

const kv = {
  /** Open and get. */
  read: (bucket: KvBucketName): string[] => [js.streamInfo(kvStreamName(bucket)), ...js.msgGet(kvStreamName(bucket))],
  /** Put, create, update, delete. */
  write: (bucket: KvBucketName): string => `$KV.${bucket}.>`,
  /** Watch, keys, history: an ordered push consumer the client creates, answers flow control of, deletes. */
  watch: (bucket: KvBucketName): string[] => [...js.consumerManage(kvStreamName(bucket)), js.flowControl(kvStreamName(bucket))],
};

const inbox = (identity: NatsIdentity): string => `${serviceInboxPrefix(identity)}.>`;

const ALL_BUCKETS = Object.values(KV_BUCKETS);
/**
 * Every name an order stream can have: `ORDERS_P0`…`ORDERS_P255` and the legacy `ORDERS` (ADR
 * 0003). Granted for all 256, not for today's partition count: a repartition changes P on a
 * running system without a new NATS authorization. `ORDERS_P*` is no NATS wildcard (wildcards are
 * whole tokens), hence the list.
 */
const ORDER_STREAMS = allOrderStreamNames();
/** The declared streams other than the order group. */
const OTHER_STREAMS = Object.values(STREAMS).filter((s) => s !== STREAMS.ORDERS);
/** Every stream the topology declares: the order streams, the other streams, the buckets' backing streams. */
const ALL_STREAM_NAMES = [...ORDER_STREAMS, ...OTHER_STREAMS, ...ALL_BUCKETS.map(kvStreamName)];
/** Which stream owns which vp (`readOrderStreamAssignment`, `orderStreamFor`): listing, filtered by subject. */
const orderStreamLookup = [`${API}.STREAM.LIST`, `${API}.STREAM.NAMES`];

/**
 * A service verifies the JetStream topology it needs at start (`STREAM.INFO` of each stream and
 * bucket it declares in its topology requirements; opening a KV bucket is the same request).
 * It returns configuration and counts, never a message or a value; still, each service asks only
 * about what it uses.
 */
const verify = (streams: readonly string[], buckets: readonly KvBucketName[]): string[] => [
  js.account,
  ...streams.flatMap((s) => (s === STREAMS.ORDERS ? [...orderStreamLookup, ...ORDER_STREAMS.map((o) => js.streamInfo(o))] : [js.streamInfo(s)])),
  ...buckets.map((b) => js.streamInfo(kvStreamName(b))),
];

/** Aggregated `auth_failures` audit events of a service guarding an API (`audit.<tenant>.auth_failures`). */
const authFailuresAudit = `${AUDIT_SUBJECT_PREFIX}.*.${AUTH_FAILURES_EVENT}`;

/**
 * THE declaration. Each line grants one thing; keep a short reason next to anything not obvious.
 * The topology identity (`orderwire-auth topology apply`) is the only one that may create or
 * update streams and buckets; services only verify them (`STREAM.INFO`).
 */
export const NATS_PERMISSIONS: Readonly<Record<NatsIdentity, NatsPermissions>> = Object.freeze({
  auth: {
    publish: [
      // Opens every bucket it owns (ow_revoked_clients included); AUDIT and ORDERS are its streams.
      ...verify([STREAMS.AUDIT, STREAMS.ORDERS], ALL_BUCKETS),
      ...ALL_BUCKETS.flatMap((b) => kv.read(b)),
      ...ALL_BUCKETS.map((b) => kv.write(b)), // auth is the writer of every bucket (revoked clients too)
      ...kv.watch(KV_BUCKETS.SIGNING_KEYS), // key manager follows rotations
      ...kv.watch(KV_BUCKETS.DISPLAYS), // live display counts per tenant (quota); keys when listing a tenant's displays
      ...kv.watch(KV_BUCKETS.TENANTS), // quota overrides (display quota); keys: tenant list
      ...kv.watch(KV_BUCKETS.CLIENTS), // keys: client list
      `${API}.STREAM.PURGE.${kvStreamName(KV_BUCKETS.SIGNING_KEYS)}`, // drops retired keys' history
      `${AUDIT_SUBJECT_PREFIX}.>`, // every audit event of the control plane
      // Display mailboxes: created at registration, deleted at decommission; info for the backlog
      // in GET /v1/displays; the legacy-name migration lists, creates and deletes.
      ...ORDER_STREAMS.flatMap((s) => js.consumerManage(s)),
      ...ORDER_STREAMS.map((s) => `${API}.CONSUMER.LIST.${s}`), // mailbox migration finds the legacy-named consumers
      SIGNALS.displayRevokedAll, // edges disconnect revoked displays
    ],
    subscribe: [inbox('auth')],
  },
  ingest: {
    publish: [
      ...verify([STREAMS.ORDERS, STREAMS.RECEIPTS, STREAMS.AUDIT], [KV_BUCKETS.DISPLAYS, KV_BUCKETS.TENANTS, KV_BUCKETS.REVOKED_CLIENTS]),
      `${ORDERS_SUBJECT_PREFIX}.>`,
      `${RECEIPTS_SUBJECT_PREFIX}.>`, // an accepted order's acceptance record (its target displays), expecting an empty subject
      ...ORDER_STREAMS.flatMap((s) => js.msgGet(s)), // the stored copy of a duplicate
      ...js.msgGet(STREAMS.RECEIPTS), // GET /v1/orders/:id; the receipt compare-and-set reads the last by subject
      ...kv.watch(KV_BUCKETS.DISPLAYS), // target displays of an order (watched, never read by key)
      ...kv.watch(KV_BUCKETS.TENANTS), // per-tenant order quotas
      ...kv.watch(KV_BUCKETS.REVOKED_CLIENTS), // revoked API clients are refused at once
      authFailuresAudit,
      // Webhook endpoint management: endpoints by compare-and-set, keys() lists a tenant's; the
      // deliveries of an endpoint are listed (a filtered watch) and a manual retry rewrites one.
      ...kv.read(KV_BUCKETS.WEBHOOKS),
      kv.write(KV_BUCKETS.WEBHOOKS),
      ...kv.watch(KV_BUCKETS.WEBHOOKS),
      ...kv.read(KV_BUCKETS.WEBHOOK_DELIVERIES),
      kv.write(KV_BUCKETS.WEBHOOK_DELIVERIES),
      ...kv.watch(KV_BUCKETS.WEBHOOK_DELIVERIES),
    ],
    subscribe: [inbox('ingest')],
  },
  edge: {
    publish: [
      ...verify([STREAMS.ORDERS, STREAMS.RECEIPTS], [KV_BUCKETS.EXPIRED_NOTICES]),
      // A display's mailbox exists (handshake; on its stream, and the one it retires from); pulls and acks.
      ...ORDER_STREAMS.flatMap((s) => [js.consumerInfo(s), js.pull(s), js.ack(s)]),
      ...kv.read(KV_BUCKETS.EXPIRED_NOTICES), // orders that expired while the display was away (after the handshake)
      kv.write(KV_BUCKETS.EXPIRED_NOTICES), // ... cleared once the display acked `orders:expired`
      `${RECEIPTS_SUBJECT_PREFIX}.>`,
      `${API}.STREAM.MSG.GET.${STREAMS.RECEIPTS}`, // the receipt compare-and-set reads the last by subject
      `${API}.DIRECT.GET.${STREAMS.RECEIPTS}.>`, // … its optimistic first read (a direct get by subject)
      authFailuresAudit, // refused handshakes
      EDGE_SUBJECTS.handback,
      EDGE_SUBJECTS.takeover,
    ],
    subscribe: [
      inbox('edge'),
      `${ORDER_RING_PREFIX}.${ORDERS_SUBJECT_PREFIX}.>`, // doorbells (headers only)
      EDGE_SUBJECTS.handback,
      EDGE_SUBJECTS.takeover,
      SIGNALS.displayRevokedAll,
    ],
  },
  dlq: {
    publish: [
      // Verifies its own streams and buckets, and samples the size of every declared stream
      // (KV_ow_* included) for orderwire_jetstream_stream_bytes: STREAM.INFO of all of them.
      ...verify(Object.values(STREAMS), ALL_BUCKETS),
      ...js.consumerManage(STREAMS.ADVISORIES), // its durable capture consumer
      js.pull(STREAMS.ADVISORIES),
      js.ack(STREAMS.ADVISORIES),
      ...js.consumerManage(STREAMS.DLQ), // ordered consumer of the list index
      js.pull(STREAMS.DLQ),
      ...js.msgGet(STREAMS.DLQ),
      `${DLQ_SUBJECT_PREFIX}.>`,
      // Which display a dead consumer belongs to (never creates one); the original message, by sequence.
      ...ORDER_STREAMS.flatMap((s) => [js.consumerInfo(s), ...js.msgGet(s)]),
      `${ORDERS_SUBJECT_PREFIX}.*.*.*.display.*`, // replay: only to one display's own subject
      ...js.msgGet(STREAMS.RECEIPTS), // the receipt compare-and-set reads the last by subject
      `${RECEIPTS_SUBJECT_PREFIX}.>`, // dead_lettered, replayed, expired
      // Expiry detector: its durable consumer on the acceptance records of RECEIPTS, and the
      // per-display notices of orders that expired unseen.
      ...js.consumerManage(STREAMS.RECEIPTS),
      js.pull(STREAMS.RECEIPTS),
      js.ack(STREAMS.RECEIPTS),
      ...kv.read(KV_BUCKETS.EXPIRED_NOTICES),
      kv.write(KV_BUCKETS.EXPIRED_NOTICES),
      `${AUDIT_SUBJECT_PREFIX}.>`, // dlq_replayed, dlq_discarded, dlq_reads, auth_failures
      ...kv.read(KV_BUCKETS.DISPLAYS),
      ...kv.watch(KV_BUCKETS.REVOKED_CLIENTS), // revoked API clients are refused at once
    ],
    subscribe: [inbox('dlq')],
  },
  // The webhooks dispatcher: receipts in (its durable consumer), deliveries' state in its bucket,
  // endpoints read (and disabled by compare-and-set), presence of displays for display.* events.
  webhooks: {
    publish: [
      ...verify([STREAMS.RECEIPTS, STREAMS.ORDERS], [KV_BUCKETS.WEBHOOKS, KV_BUCKETS.WEBHOOK_DELIVERIES, KV_BUCKETS.DISPLAYS]),
      ...js.consumerManage(STREAMS.RECEIPTS), // its durable consumer (created if missing)
      js.pull(STREAMS.RECEIPTS),
      js.ack(STREAMS.RECEIPTS),
      ...kv.read(KV_BUCKETS.WEBHOOKS),
      kv.write(KV_BUCKETS.WEBHOOKS), // disables an endpoint (410, sustained failure)
      ...kv.watch(KV_BUCKETS.WEBHOOKS),
      ...kv.read(KV_BUCKETS.WEBHOOK_DELIVERIES),
      kv.write(KV_BUCKETS.WEBHOOK_DELIVERIES),
      ...kv.watch(KV_BUCKETS.WEBHOOK_DELIVERIES),
      ...kv.read(KV_BUCKETS.DISPLAYS),
      ...kv.watch(KV_BUCKETS.DISPLAYS), // display.* events: which displays a tenant has
      ...ORDER_STREAMS.map((s) => js.consumerInfo(s)), // a gone display's backlog (display.offline), on whichever order stream holds its mailbox
    ],
    subscribe: [inbox('webhooks')],
  },
  topology: {
    publish: [
      js.account,
      // Only the declared streams and buckets: it cannot make or change anything else.
      ...ALL_STREAM_NAMES.flatMap((s) => [`${API}.STREAM.CREATE.${s}`, `${API}.STREAM.UPDATE.${s}`, js.streamInfo(s)]),
      ...orderStreamLookup,
      // `topology repartition` moves display mailboxes with their vps: list, create, read, delete.
      ...ORDER_STREAMS.flatMap((s) => [...js.consumerManage(s), `${API}.CONSUMER.LIST.${s}`]),
    ],
    subscribe: [inbox('topology')],
  },
  // `orderwire-backup`: snapshots and restores the declared streams and buckets, nothing else.
  // Snapshot chunks are acked, and restore chunks sent, on `$JS.SNAPSHOT.ACK.<stream>.…` /
  // `$JS.SNAPSHOT.RESTORE.<stream>.…` (subjects the server hands out per operation).
  backup: {
    publish: [
      js.account,
      ...orderStreamLookup, // which order partition streams exist (P is the server's)
      ...ALL_STREAM_NAMES.flatMap((s) => [
        js.streamInfo(s),
        `${API}.STREAM.SNAPSHOT.${s}`,
        `${API}.STREAM.RESTORE.${s}`,
        // `restore --replace` deletes the stream it replaces.
        `${API}.STREAM.DELETE.${s}`,
        `$JS.SNAPSHOT.ACK.${s}.>`,
        `$JS.SNAPSHOT.RESTORE.${s}.>`,
      ]),
    ],
    subscribe: [inbox('backup')],
  },
  // `operator`: nats-box, the `nats` CLI of docs/runbook.md — `stream ls/info/report`, `consumer
  // ls/info/report`, `account info`. It reads how JetStream is doing and nothing else: no message,
  // no KV value, no change. The CLI takes its replies on `_INBOX.` unless given --inbox-prefix (it has
  // no environment variable for it, so `kubectl exec … -- nats …` could not set it): that prefix is
  // granted beside its own. No service uses `_INBOX.` (each has its private `_INBOX_<service>`), so
  // it carries only the operator's own replies.
  operator: {
    publish: [
      js.account,
      ...orderStreamLookup,
      ...ALL_STREAM_NAMES.flatMap((s) => [js.streamInfo(s), `${API}.CONSUMER.LIST.${s}`, `${API}.CONSUMER.NAMES.${s}`, js.consumerInfo(s)]),
    ],
    subscribe: [inbox('operator'), '_INBOX.>'],
  },
} satisfies Record<NatsIdentity, NatsPermissions>);

/** One NKEY user of the generated config. */
export interface NatsIdentityKey {
  identity: NatsIdentity;
  /** Public key (`U…`), written into the server config. */
  publicKey: string;
  /** Seed (`SU…`), the secret the service reads from NATS_NKEY_SEED_FILE. */
  seed: string;
}

/** A fresh NKEY user key pair for an identity. */
export function createNatsIdentityKey(identity: NatsIdentity): NatsIdentityKey {
  const kp = nkeys.createUser();
  return { identity, publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}

/** The key pair of an existing seed (so regenerating the config keeps the services' seeds). */
export function natsIdentityKeyFromSeed(identity: NatsIdentity, seed: string): NatsIdentityKey {
  const kp = nkeys.fromSeed(new TextEncoder().encode(seed.trim()));
  return { identity, publicKey: kp.getPublicKey(), seed: seed.trim() };
}

const q = (s: string): string => JSON.stringify(s);

/**
 * The nats-server `authorization` block for these keys: one NKEY user per identity with exactly
 * its declared permissions. With users declared, nats-server refuses every other connection.
 */
export function renderNatsAuthorization(keys: readonly NatsIdentityKey[], permissions: Readonly<Record<NatsIdentity, NatsPermissions>> = NATS_PERMISSIONS): string {
  const users = keys.map((k) => {
    const p = permissions[k.identity];
    const list = (subjects: readonly string[]): string => `[\n${[...new Set(subjects)].map((s) => `          ${q(s)}`).join(',\n')}\n        ]`;
    return [
      `    # ${k.identity}`,
      `    {`,
      `      nkey: ${q(k.publicKey)}`,
      `      permissions: {`,
      `        publish: { allow: ${list(p.publish)} }`,
      `        subscribe: { allow: ${list(p.subscribe)} }`,
      `      }`,
      `    }`,
    ].join('\n');
  });
  return [
    '# Generated by `node scripts/nats-auth.mjs` from shared/platform/src/nats-permissions.ts. Do not edit:',
    '# change the declaration and generate again (existing seeds are kept).',
    'authorization {',
    '  users: [',
    users.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}
