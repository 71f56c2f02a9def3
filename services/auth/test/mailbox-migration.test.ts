/**
 * Legacy mailbox migration (issue 12, item 1) against a real nats-server: the backlog survives,
 * acknowledged messages are not redelivered, nothing unacknowledged is skipped, and a legacy
 * name that two tenants' displays map to is not handed to either.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { displayConsumerName, displayRegistryKey, legacyDisplayConsumerName, type DisplayRecord } from '@orderwire/contracts';
import { KV_BUCKETS, LEGACY_ORDERS_STREAM, closeNats, connectNats, ensureDisplayConsumer, ensureTopology } from '@orderwire/platform';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deleteLegacyMailbox, migrateDisplayMailbox, migrateLegacyMailbox, migrateLegacyMailboxes, type MailboxMigrationDeps } from '../src/mailbox-migration.js';
import { createDisplayStore } from '../src/stores/display-store.js';

const logger = pino({ level: 'silent' });
const NS = 1_000_000;

let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let js: JetStreamClient;
let deps: MailboxMigrationDeps;

beforeEach(async () => {
  server = await startNats();
  nc = await connectNats({ servers: server.url, name: 'migration-test', logger });
  await ensureTopology(nc, { logger, streams: [], buckets: [KV_BUCKETS.DISPLAYS] });
  jsm = await jetstreamManager(nc);
  // Legacy names only exist on the pre-partition ORDERS stream, with the pre-partition subjects.
  await jsm.streams.add({ name: LEGACY_ORDERS_STREAM, subjects: ['orders.>'], storage: 'file' });
  js = jetstream(nc);
  const kv = await new Kvm(nc).open(KV_BUCKETS.DISPLAYS);
  deps = { jsm, displays: createDisplayStore(kv), logger };
});
afterEach(async () => {
  await closeNats(nc, logger);
  await server.dispose();
});

/*
 * The pre-partition subject layout (contracts parses it with parseLegacyOrderSubject; nothing
 * builds it any more, so this fixture spells it out).
 */
const stationSubject = (t: string, s: string, st: string): string => `orders.${t}.${s}.${st}`;
const displaySubject = (t: string, s: string, d: string): string => `orders.${t}.${s}.display.${d}`;
const displayFilterSubjects = (t: string, s: string, d: string, stations: string[]): string[] => [
  ...stations.map((st) => stationSubject(t, s, st)),
  displaySubject(t, s, d),
];

/** A mailbox exactly as the code before the migration created it. */
async function legacyMailbox(tenant: string, store: string, displayId: string, stations: string[]): Promise<string> {
  const name = legacyDisplayConsumerName(tenant, displayId);
  await jsm.consumers.add(LEGACY_ORDERS_STREAM, {
    durable_name: name,
    filter_subjects: displayFilterSubjects(tenant, store, displayId, stations),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: 20_000 * NS,
    max_ack_pending: 256,
    max_deliver: 50,
  });
  const record: DisplayRecord = {
    v: 1,
    tenant,
    displayId,
    storeId: store,
    stations,
    consumer: name,
    status: 'enrolled',
    createdAt: new Date().toISOString(),
  };
  await deps.displays.write(record, undefined);
  return name;
}

async function publish(subject: string, body: string): Promise<number> {
  return (await js.publish(subject, body)).seq;
}

/** Pulls up to `n` messages; acks those `ack` says to, leaves the rest in flight. */
async function pull(consumer: string, n: number, ack: (body: string) => boolean): Promise<string[]> {
  const c = await js.consumers.get(LEGACY_ORDERS_STREAM, consumer);
  const got: string[] = [];
  const batch = await c.fetch({ max_messages: n, expires: 1_000 });
  for await (const m of batch) {
    got.push(m.string());
    if (ack(m.string())) await m.ackAck();
  }
  return got;
}

describe('legacy mailbox migration', () => {
  it('moves the backlog: nothing acknowledged comes again, nothing unacknowledged is lost', async () => {
    const grill = stationSubject('t1', 's1', 'grill');
    // Before the display existed: never its business, on either consumer.
    await publish(grill, 'before-1');
    await publish(grill, 'before-2');
    const legacy = await legacyMailbox('t1', 's1', 'kds-1', ['grill']);
    for (let i = 1; i <= 10; i++) {
      await publish(i % 3 === 0 ? displaySubject('t1', 's1', 'kds-1') : grill, `m${i}`);
      await publish(stationSubject('t1', 's1', 'fry'), `other-${i}`);
    }
    expect(await pull(legacy, 4, () => true)).toEqual(['m1', 'm2', 'm3', 'm4']);

    const [result] = await migrateLegacyMailboxes(deps);
    expect(result).toMatchObject({ consumer: legacy, outcome: 'migrated', tenant: 't1', displayId: 'kds-1', inFlight: 0 });
    await expect(jsm.consumers.info(LEGACY_ORDERS_STREAM, legacy)).rejects.toThrow(/consumer not found/);

    const name = displayConsumerName('t1', 'kds-1');
    const info = await jsm.consumers.info(LEGACY_ORDERS_STREAM, name);
    expect(info.config.metadata).toMatchObject({ 'orderwire.tenant': 't1', 'orderwire.display': 'kds-1', 'orderwire.migrated_from': legacy });
    expect(await pull(name, 20, () => true)).toEqual(['m5', 'm6', 'm7', 'm8', 'm9', 'm10']);
    // New orders keep arriving, and the registry names the new mailbox.
    await publish(grill, 'after');
    expect(await pull(name, 5, () => true)).toEqual(['after']);
    expect((await deps.displays.get('t1', 'kds-1'))?.value.consumer).toBe(name);

    // Registering the display again is an ordinary update of the migrated mailbox, not a conflict.
    const again = await ensureDisplayConsumer(jsm, { tenant: 't1', store: 's1', displayId: 'kds-1', stations: ['grill', 'fry'] }, { stream: LEGACY_ORDERS_STREAM });
    expect(again).toMatchObject({ action: 'updated', changed: ['filter_subjects'] });
    expect(await migrateLegacyMailboxes(deps)).toEqual([]);
  });

  it('leaves a mailbox with messages in flight for later; force moves it and redelivers them', async () => {
    const legacy = await legacyMailbox('t1', 's1', 'kds-2', ['grill']);
    for (let i = 1; i <= 6; i++) await publish(stationSubject('t1', 's1', 'grill'), `m${i}`);
    // m1 acked; m2, m3 delivered and not acked (an edge died holding them).
    expect(await pull(legacy, 3, (b) => b === 'm1')).toEqual(['m1', 'm2', 'm3']);

    const busy = await migrateLegacyMailbox(deps, await jsm.consumers.info(LEGACY_ORDERS_STREAM, legacy));
    expect(busy).toMatchObject({ outcome: 'busy', inFlight: 2 });
    expect((await jsm.consumers.info(LEGACY_ORDERS_STREAM, legacy)).num_ack_pending).toBe(2);

    const forced = await migrateLegacyMailboxes(deps, { force: true });
    expect(forced).toMatchObject([{ outcome: 'migrated', inFlight: 2 }]);
    expect(await pull(displayConsumerName('t1', 'kds-2'), 10, () => true)).toEqual(['m2', 'm3', 'm4', 'm5', 'm6']);
  });

  it('a dry run changes nothing', async () => {
    const legacy = await legacyMailbox('t1', 's1', 'kds-3', ['grill']);
    const before = JSON.stringify((await jsm.consumers.info(LEGACY_ORDERS_STREAM, legacy)).config);
    expect(await migrateLegacyMailboxes(deps, { dryRun: true })).toMatchObject([{ outcome: 'migrated', startSeq: 1 }]);
    expect(JSON.stringify((await jsm.consumers.info(LEGACY_ORDERS_STREAM, legacy)).config)).toBe(before);
    await expect(jsm.consumers.info(LEGACY_ORDERS_STREAM, displayConsumerName('t1', 'kds-3'))).rejects.toThrow(/consumer not found/);
  });

  it('finishes an interrupted run, and two runs at once leave one mailbox with the backlog', async () => {
    const legacy = await legacyMailbox('t1', 's1', 'kds-4', ['grill']);
    for (let i = 1; i <= 5; i++) await publish(stationSubject('t1', 's1', 'grill'), `m${i}`);
    const info = await jsm.consumers.info(LEGACY_ORDERS_STREAM, legacy);
    const results = await Promise.all([migrateLegacyMailbox(deps, info), migrateLegacyMailbox(deps, info)]);
    expect(results.map((r) => r.outcome).sort()).toEqual(['migrated', 'migrated']);
    expect((await jsm.consumers.list(LEGACY_ORDERS_STREAM).next()).map((c) => c.name)).toEqual([displayConsumerName('t1', 'kds-4')]);
    expect(await pull(displayConsumerName('t1', 'kds-4'), 10, () => true)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('a legacy name two live displays map to is contested and not moved; one whose filters name another display is not ours', async () => {
    // Tenant acme_x display 1 and tenant acme display x_1 share `display_acme_x_1`.
    const legacy = await legacyMailbox('acme_x', 'victim', '1', ['grill']);
    await deps.displays.write(
      { v: 1, tenant: 'acme', displayId: 'x_1', storeId: 'evil', stations: [], consumer: legacy, status: 'registered', createdAt: new Date().toISOString() },
      undefined,
    );
    const before = JSON.stringify((await jsm.consumers.info(LEGACY_ORDERS_STREAM, legacy)).config);
    expect(await migrateLegacyMailboxes(deps, { force: true })).toMatchObject([{ outcome: 'contested' }]);
    // Registration of the attacker's display migrates nothing of the victim's.
    expect(await migrateDisplayMailbox(deps, 'acme', 'x_1', { force: true })).toBeUndefined();
    // Nor does decommissioning the attacker's display delete the victim's mailbox.
    expect(await deleteLegacyMailbox(deps, 'acme', 'x_1')).toBe(false);
    expect(JSON.stringify((await jsm.consumers.info(LEGACY_ORDERS_STREAM, legacy)).config)).toBe(before);

    // Filters that do not match the name (planted or rewritten): never migrated.
    await jsm.consumers.add(LEGACY_ORDERS_STREAM, {
      durable_name: legacyDisplayConsumerName('t9', 'd9'),
      filter_subjects: [displaySubject('t8', 's', 'd9')],
      ack_policy: AckPolicy.Explicit,
    });
    const all = await migrateLegacyMailboxes(deps, { force: true });
    expect(all.find((r) => r.consumer === 'display_t9_d9')).toMatchObject({ outcome: 'unowned' });
    await jsm.consumers.info(LEGACY_ORDERS_STREAM, 'display_t9_d9');
  });

  it('keeps the registry key layout the edge and ingest read', () => {
    expect(displayRegistryKey('acme_x', '1')).not.toBe(displayRegistryKey('acme', 'x_1'));
  });
});
