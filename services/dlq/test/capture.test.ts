import { AckPolicy } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { displayConsumerName, displayRegistryKey, displaySubject, receiptSubject, stationSubject, type DisplayRecord, type Receipt } from '@orderwire/contracts';
import { createLogger, KV_BUCKETS, STREAMS } from '@orderwire/platform';
import { waitFor } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORDER_STREAM, entriesOf, type Env, addDisplay, buildApp, captureIdle, exhaust, metricValue, publishOrder, reject, startEnv, waitForEntries, type TestApp } from './helpers.js';

let env: Env;
const silentLog = createLogger({ service: 'dlq', version: 'test', level: 'silent' });

beforeAll(async () => {
  env = await startEnv();
});

afterAll(async () => {
  await env?.dispose();
});

async function receipt(tenant: string, orderId: string, displayId: string): Promise<Receipt | undefined> {
  const m = await env.jsm.streams.getMessage(STREAMS.RECEIPTS, { last_by_subj: receiptSubject(tenant, orderId, displayId) });
  return m === null ? undefined : m.json<Receipt>();
}

describe('capture', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await buildApp(env);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('turns a display rejection (terminate with reason) into an entry with the order, display and reason', async () => {
    await addDisplay(env, 'acme', 's1', 'kds-1', ['grill']);
    const seq = await publishOrder(env, 'acme', 's1', 'A-100', { station: 'grill' });
    await reject(env, 'acme', 'kds-1', 'rejected: bad item');

    const [e] = await waitForEntries(app, 'acme', 1);
    expect(e).toMatchObject({
      tenant: 'acme',
      storeId: 's1',
      displayId: 'kds-1',
      orderId: 'A-100',
      subject: stationSubject('acme', 's1', 'grill'),
      seq,
      consumer: displayConsumerName('acme', 'kds-1'),
      reason: 'rejected',
      detail: 'bad item',
      deliveryCount: 1,
      failureCount: 1,
      originalExpired: false,
      status: 'open',
      replayCount: 0,
      traceId: 'trace-A-100',
    });
    expect(e!.firstFailedAt).toBe(e!.lastFailedAt);
    expect(Date.parse(e!.firstFailedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(e!.original?.headers['Ow-Order-Id']).toEqual(['A-100']);
    const payload = JSON.parse(Buffer.from(e!.original!.data, 'base64').toString('utf8')) as { order: { orderId: string } };
    expect(payload.order.orderId).toBe('A-100');

    // Ingest's status view sees it.
    const r = await waitFor(() => receipt('acme', 'A-100', 'kds-1'));
    expect(r).toMatchObject({ status: 'dead_lettered', seq, deliveryCount: 1, reason: 'rejected: bad item' });
    expect(await metricValue(app, 'orderwire_dlq_entries_total', { reason: 'rejected' })).toBe(1);
    expect(await metricValue(app, 'orderwire_dlq_depth')).toBeGreaterThanOrEqual(1);
  });

  it('records max deliveries (the safety net) with the delivery count', async () => {
    await addDisplay(env, 'maxd', 's1', 'kds-1', ['fryer'], { maxDeliver: 2, ackWaitMs: 1_000 });
    const seq = await publishOrder(env, 'maxd', 's1', 'M-1', { station: 'fryer' });
    await exhaust(env, 'maxd', 'kds-1', 2);

    const [e] = await waitForEntries(app, 'maxd', 1);
    expect(e).toMatchObject({ reason: 'max_deliveries', deliveryCount: 2, seq, orderId: 'M-1', displayId: 'kds-1', status: 'open' });
    expect(e!.detail).toBeUndefined();
    const r = await waitFor(() => receipt('maxd', 'M-1', 'kds-1'));
    expect(r).toMatchObject({ status: 'dead_lettered', reason: 'max_deliveries', deliveryCount: 2 });
  });

  it('records a terminate without the rejected: prefix as terminated, keeping its reason', async () => {
    await addDisplay(env, 'term', 's1', 'kds-1', ['bar']);
    await publishOrder(env, 'term', 's1', 'T-1', { station: 'bar' });
    await reject(env, 'term', 'kds-1', 'malformed payload');
    const [e] = await waitForEntries(app, 'term', 1);
    expect(e).toMatchObject({ reason: 'terminated', detail: 'malformed payload' });
  });

  it('writes one entry for a repeated advisory', async () => {
    await addDisplay(env, 'dup', 's1', 'kds-1', ['grill']);
    await publishOrder(env, 'dup', 's1', 'D-1', { station: 'grill' });
    await reject(env, 'dup', 'kds-1', 'rejected: nope');
    const [e] = await waitForEntries(app, 'dup', 1);
    await captureIdle(env);
    const before = await env.jsm.streams.getMessage(STREAMS.DLQ, { last_by_subj: `dlq.dup.${e!.id}` });
    const duplicatesBefore = await metricValue(app, 'orderwire_dlq_advisories_total', { result: 'duplicate' });

    // The same advisory again, byte for byte, on its own subject: the stream captures it again.
    const subject = `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${ORDER_STREAM}.${displayConsumerName('dup', 'kds-1')}`;
    const original = await env.jsm.streams.getMessage(STREAMS.ADVISORIES, { last_by_subj: subject });
    expect(original).not.toBeNull();
    env.nc.publish(subject, original!.data);
    env.nc.publish(subject, original!.data);
    await env.nc.flush();

    await waitFor(async () => (await metricValue(app, 'orderwire_dlq_advisories_total', { result: 'duplicate' })) >= duplicatesBefore + 2, {
      message: 'both repeats processed',
    });
    await captureIdle(env);
    const all = await entriesOf(app, 'dup');
    expect(all).toHaveLength(1);
    const after = await env.jsm.streams.getMessage(STREAMS.DLQ, { last_by_subj: `dlq.dup.${e!.id}` });
    expect(after!.seq).toBe(before!.seq); // nothing was rewritten
  });

  it('loses nothing while the DLQ service is stopped: advisories wait in ADVISORIES', async () => {
    await addDisplay(env, 'down', 's1', 'kds-1', ['grill']);
    await addDisplay(env, 'down', 's1', 'kds-2', ['grill']);
    await app.close();

    const orders = ['X-1', 'X-2', 'X-3', 'X-4'];
    for (const id of orders) await publishOrder(env, 'down', 's1', id, { station: 'grill' });
    for (const _ of orders) await reject(env, 'down', 'kds-1', 'rejected: printer jam');
    for (const _ of orders) await reject(env, 'down', 'kds-2', 'rejected: printer jam');
    const backlog = await env.jsm.consumers.info(STREAMS.ADVISORIES, 'dlq_capture');
    expect(backlog.num_pending).toBeGreaterThanOrEqual(8);

    app = await buildApp(env);
    const entries = await waitForEntries(app, 'down', 8);
    expect(entries).toHaveLength(8);
    const keys = entries.map((e) => `${e.displayId}/${e.orderId}`).sort();
    expect(keys).toEqual(orders.flatMap((o) => [`kds-1/${o}`, `kds-2/${o}`]).sort());
    expect(new Set(entries.map((e) => e.id)).size).toBe(8);
  });

  it('says originalExpired when ORDERS no longer has the message, and still finds the display', async () => {
    // Ids with `_`: the consumer name display_exp_t_kds_9 alone does not tell tenant from display.
    await addDisplay(env, 'exp_t', 's9', 'kds_9', ['grill']);
    await app.close();
    const seq = await publishOrder(env, 'exp_t', 's9', 'E-1', { station: 'grill' });
    await reject(env, 'exp_t', 'kds_9', 'rejected: gone soon');
    await env.jsm.streams.deleteMessage(ORDER_STREAM, seq);

    app = await buildApp(env);
    const [e] = await waitForEntries(app, 'exp_t', 1);
    expect(e).toMatchObject({
      tenant: 'exp_t',
      storeId: 's9',
      displayId: 'kds_9',
      seq,
      originalExpired: true,
      original: null,
      orderId: null,
      subject: null,
      reason: 'rejected',
      detail: 'gone soon',
    });
  });

  it('resolves an ambiguous consumer name through the display registry when the consumer is gone too', async () => {
    await addDisplay(env, 'reg_a', 's3', 'b_c', ['grill']);
    await app.close();
    const seq = await publishOrder(env, 'reg_a', 's3', 'R-1', { station: 'grill' });
    await reject(env, 'reg_a', 'b_c', 'rejected: x');
    await env.jsm.streams.deleteMessage(ORDER_STREAM, seq);
    await env.jsm.consumers.delete(ORDER_STREAM, displayConsumerName('reg_a', 'b_c'));
    // A decoy: tenant `reg` display `a_b_c` would produce the same consumer name.
    const kv = await new Kvm(env.nc).open(KV_BUCKETS.DISPLAYS);
    const record: DisplayRecord = {
      v: 1,
      tenant: 'reg_a',
      displayId: 'b_c',
      storeId: 's3',
      stations: ['grill'],
      consumer: displayConsumerName('reg_a', 'b_c'),
      status: 'decommissioned',
      createdAt: new Date().toISOString(),
    };
    await kv.put(displayRegistryKey('reg_a', 'b_c'), JSON.stringify(record));

    app = await buildApp(env);
    const [e] = await waitForEntries(app, 'reg_a', 1);
    expect(e).toMatchObject({ tenant: 'reg_a', displayId: 'b_c', storeId: 's3', originalExpired: true });
    expect(await entriesOf(app, 'reg')).toHaveLength(0);
  });

  it('never files a foreign message (another tenant’s order an edge terminated in this mailbox) under the mailbox’s tenant', async () => {
    await addDisplay(env, 'iso', 's1', 'kds-1', ['grill']);
    const name = displayConsumerName('iso', 'kds-1');
    // Filters rewritten by someone with JetStream access: another tenant's station leaks in.
    await env.jsm.consumers.update(ORDER_STREAM, name, {
      filter_subjects: [stationSubject('iso', 's1', 'grill'), displaySubject('iso', 's1', 'kds-1'), stationSubject('iso_x', 's1', 'grill')],
    });
    const ignoredBefore = await metricValue(app, 'orderwire_dlq_advisories_total', { result: 'ignored' });
    await publishOrder(env, 'iso_x', 's1', 'FOREIGN-1', { station: 'grill' });
    await reject(env, 'iso', 'kds-1', 'foreign_subject:tenant');
    await waitFor(async () => (await metricValue(app, 'orderwire_dlq_advisories_total', { result: 'ignored' })) > ignoredBefore);
    await captureIdle(env);
    expect(await entriesOf(app, 'iso')).toHaveLength(0);
    expect(await entriesOf(app, 'iso_x')).toHaveLength(0);
  });

  it('ignores advisories of consumers that are not display mailboxes', async () => {
    const ignoredBefore = await metricValue(app, 'orderwire_dlq_advisories_total', { result: 'ignored' });
    await env.jsm.consumers.add(ORDER_STREAM, { durable_name: 'audit_tool', filter_subject: stationSubject('tool', 's1', 'grill'), ack_policy: AckPolicy.Explicit });
    await publishOrder(env, 'tool', 's1', 'O-1', { station: 'grill' });
    const c = await env.js.consumers.get(ORDER_STREAM, 'audit_tool');
    const m = await c.next({ expires: 2_000 });
    m!.term('whatever');
    await env.nc.flush();
    await waitFor(async () => (await metricValue(app, 'orderwire_dlq_advisories_total', { result: 'ignored' })) > ignoredBefore);
    await captureIdle(env);
    expect(await entriesOf(app, 'tool')).toHaveLength(0);
  });
  it('two replicas share the advisories: one entry each, and each sees the other\'s writes at once', async () => {
    const second = await buildApp(env);
    try {
      for (const d of ['r1', 'r2', 'r3']) await addDisplay(env, 'rep', 's1', d, [`st-${d}`]);
      for (let i = 0; i < 12; i++) {
        const d = `r${(i % 3) + 1}`;
        await publishOrder(env, 'rep', 's1', `RP-${i}`, { station: `st-${d}` });
        const m = await reject(env, 'rep', d, `rejected: ${i}`);
        // Every advisory twice: the copies race across the two replicas.
        const subject = `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${ORDER_STREAM}.${displayConsumerName('rep', d)}`;
        const adv = await waitFor(async () => {
          const last = await env.jsm.streams.getMessage(STREAMS.ADVISORIES, { last_by_subj: subject });
          return last !== null && last.json<{ stream_seq: number }>().stream_seq === m.seq ? last : undefined;
        });
        env.nc.publish(subject, adv!.data);
      }
      await waitForEntries(app, 'rep', 12);
      await captureIdle(env);
      const a = await entriesOf(app, 'rep');
      const b = await entriesOf(second, 'rep');
      expect(a).toHaveLength(12);
      expect(b.map((e) => e.id).sort()).toEqual(a.map((e) => e.id).sort());
      expect(new Set(a.map((e) => e.orderId)).size).toBe(12);

      const target = a[0]!;
      await app.ops.discard('rep', target.id, 'replica test', { actor: { type: 'operator', id: 't' }, log: silentLog });
      const seenBySecond = await second.ops.list('rep', { status: 'discarded' }, {});
      expect(seenBySecond.items.map((e) => e.id)).toEqual([target.id]);
    } finally {
      await second.close();
    }
  });
});
