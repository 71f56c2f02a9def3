import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isOrderwireError } from '../src/errors.js';
import { fileChunks, restoreStream, snapshotStream, snapshotStreamToFile } from '../src/jetstream-snapshot.js';
import { closeNats, connectNats, type NatsConnection } from '../src/nats.js';

const logger = pino({ level: 'silent' });
const MSGS = 400;
const MSG_BYTES = 40_000; // random, so s2 cannot shrink it: ~16 MB, more than the server's 8 MiB window
let server: NatsServerHandle;
let nc: NatsConnection;
let dir: string;

beforeAll(async () => {
  server = await startNats();
  nc = await connectNats({ servers: server.url, name: 'snapshot-test', logger });
  dir = mkdtempSync(join(tmpdir(), 'ow-snap-'));
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'BIG', subjects: ['big.>'] });
  await jsm.consumers.add('BIG', { durable_name: 'reader', ack_policy: 'explicit', filter_subject: 'big.>' });
  const js = jetstream(nc);
  for (let i = 0; i < MSGS; i++) await js.publish(`big.${i % 7}`, randomBytes(MSG_BYTES));
  // The consumer acks the first 10: its state must travel with the snapshot.
  const c = await js.consumers.get('BIG', 'reader');
  const batch = await c.fetch({ max_messages: 10, expires: 5_000 });
  for await (const m of batch) m.ack();
  await nc.flush();
  await jsm.streams.add({ name: 'AUDITED', subjects: ['aud.>'], deny_delete: true, deny_purge: true });
  await js.publish('aud.x', 'one');
}, 120_000);
afterAll(async () => {
  await closeNats(nc, logger);
  await server.dispose();
  rmSync(dir, { recursive: true, force: true });
});

it('streams a snapshot larger than the flow-control window: every chunk acked, in order, end marker, consumers included', async () => {
  const progress: number[] = [];
  const res = await snapshotStreamToFile(nc, 'BIG', join(dir, 'big.tar.s2'), {
    chunkBytes: 64 * 1024,
    onProgress: (p) => progress.push(p.chunks),
  });
  expect(res.state.messages).toBe(MSGS);
  expect(res.state.consumer_count).toBe(1);
  expect(res.bytes).toBeGreaterThan(MSGS * MSG_BYTES * 0.9);
  expect(res.chunks).toBeGreaterThan(8 * 16); // > 8 MiB in 64 KiB chunks: the server needed our acks to go on
  expect(progress).toEqual(Array.from({ length: res.chunks }, (_, i) => i + 1));
  expect(res.sha256).toMatch(/^[0-9a-f]{64}$/);
  expect(readdirSync(dir)).toEqual(['big.tar.s2']);
}, 120_000);

it('flow control: acks go out only after the sink wrote the chunk; a sink slower than the server waits, one that stalls past its 2 s is a clear error', async () => {
  // 16 MB in 64 KiB chunks against an 8 MiB window: while the sink holds chunk 3, the server can
  // send at most the window and must wait for our acks.
  const slow = async (holdMs: number): Promise<unknown> => {
    let n = 0;
    return snapshotStream(
      nc,
      'BIG',
      async () => {
        n += 1;
        if (n === 3) await new Promise((r) => setTimeout(r, holdMs));
      },
      { chunkBytes: 64 * 1024, idleTimeoutMs: 10_000 },
    ).catch((e: unknown) => e);
  };
  const ok = (await slow(1_000)) as { state: { messages: number } };
  expect(ok.state.messages).toBe(MSGS);
  const err = await slow(3_000);
  expect(isOrderwireError(err) && err.code).toBe('ORDERWIRE_ERR_SNAPSHOT_FAILED');
  expect((err as Error).message).toMatch(/status 408/);
}, 60_000);

it('restore into a server that has the stream is refused unless replace; with replace, data and consumer state come back', async () => {
  const file = join(dir, 'big.tar.s2');
  const snap = await snapshotStreamToFile(nc, 'BIG', file);
  const err = await restoreStream(nc, 'BIG', snap, fileChunks(file)).catch((e: unknown) => e);
  expect(isOrderwireError(err) && err.code).toBe('ORDERWIRE_ERR_RESTORE_STREAM_EXISTS');
  expect((err as Error).message).toContain('BIG');

  const js = jetstream(nc);
  await js.publish('big.extra', 'after the snapshot');
  const info = await restoreStream(nc, 'BIG', snap, fileChunks(file), { replace: true });
  expect(info.state.messages).toBe(MSGS); // the message published after the snapshot is gone: replaced
  const jsm = await jetstreamManager(nc);
  const ci = await jsm.consumers.info('BIG', 'reader');
  expect(ci.ack_floor.stream_seq).toBe(10);
  expect(ci.num_pending).toBe(MSGS - 10);
}, 120_000);

it('AUDIT-like streams keep deny_delete and deny_purge through snapshot and restore', async () => {
  const file = join(dir, 'aud.tar.s2');
  const snap = await snapshotStreamToFile(nc, 'AUDITED', file);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete('AUDITED');
  const info = await restoreStream(nc, 'AUDITED', snap, fileChunks(file));
  expect(info.config.deny_delete).toBe(true);
  expect(info.config.deny_purge).toBe(true);
  await expect(jsm.streams.deleteMessage('AUDITED', 1)).rejects.toThrow(/delete/i);
  await expect(jsm.streams.purge('AUDITED')).rejects.toThrow(/purge/i);
}, 60_000);

it('a snapshot of a stream that does not exist names the stream', async () => {
  const err = await snapshotStreamToFile(nc, 'NOPE', join(dir, 'nope.tar.s2')).catch((e: unknown) => e);
  expect(isOrderwireError(err) && err.code).toBe('ORDERWIRE_ERR_SNAPSHOT_FAILED');
  expect((err as Error).message).toMatch(/NOPE.*not found/);
  expect(existsSync(join(dir, 'nope.tar.s2'))).toBe(false);
  expect(existsSync(join(dir, 'nope.tar.s2.partial'))).toBe(false);
});

it('a server that goes away mid-snapshot: clear error, no file looking complete, no partial file left', async () => {
  const file = join(dir, 'gone.tar.s2');
  let stopped: Promise<void> | undefined;
  const err = await snapshotStreamToFile(nc, 'BIG', file, {
    chunkBytes: 64 * 1024,
    idleTimeoutMs: 3_000,
    onProgress: (p) => {
      if (p.chunks === 20) stopped = server.stop();
    },
  }).catch((e: unknown) => e);
  await stopped;
  expect(isOrderwireError(err) && err.code).toBe('ORDERWIRE_ERR_SNAPSHOT_FAILED');
  expect((err as Error).message).toMatch(/went away|connection closed|status/);
  expect(existsSync(file)).toBe(false);
  expect(existsSync(file + '.partial')).toBe(false);
  await server.start();
}, 60_000);
