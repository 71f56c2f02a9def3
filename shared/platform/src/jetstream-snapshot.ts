/**
 * JetStream stream snapshot and restore ($JS.API.STREAM.SNAPSHOT / $JS.API.STREAM.RESTORE),
 * which nats.js does not wrap. The protocol, as nats-server 2.10 implements it
 * (jetstream_api.go `jsStreamSnapshotRequest` / `jsStreamRestoreRequest`, client side as in
 * natscli `stream backup` / `stream restore`):
 *
 * - Snapshot: request `$JS.API.STREAM.SNAPSHOT.<stream>` with `{ deliver_subject, no_consumers,
 *   chunk_size }`; the answer carries the stream's `config` and `state`. The server then sends
 *   the snapshot (an s2-compressed tar) to `deliver_subject` in chunks. Each chunk has a reply
 *   subject: replying to it is the ack that lets the server move on once more than its window
 *   (8 MiB) is unacknowledged — flow control. It gives up after 2 s without an ack ("408 No Flow
 *   Response"). The end is a message with an empty body and no reply subject; a status header on
 *   that last message (e.g. 500, 408) means the snapshot failed.
 * - Restore: request `$JS.API.STREAM.RESTORE.<stream>` with `{ config, state }`; the answer names
 *   a `deliver_subject`. Each chunk is sent as a request to it and acknowledged by an empty reply
 *   (or an error); an empty request ends the upload and its reply is the restored stream's info.
 *   The server refuses a stream name that exists (10130), which is what keeps a restore from
 *   silently overwriting live data: `replace` deletes the existing stream first, on purpose.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import type { StreamConfig, StreamInfo, StreamState } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import { PLATFORM_ERRORS } from './errors.js';
import { createConnectionInbox } from './nats.js';

/** Chunk size asked of the server and used for uploads. @default 128 KiB */
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = 128 * 1024;
/**
 * Longest wait for the API answer or for the next chunk. The server sends continuously while
 * acks flow, so a silence this long means it went away or gave up. @default 30 s
 */
export const DEFAULT_SNAPSHOT_IDLE_TIMEOUT_MS = 30_000;
/** Longest wait for the final answer of a restore (the server unpacks and recovers the stream). @default 10 min */
export const DEFAULT_RESTORE_FINISH_TIMEOUT_MS = 10 * 60_000;
/** Suffix of a file still being written: only a complete snapshot carries its final name. */
export const PARTIAL_SUFFIX = '.partial';

/** JetStream API error code: the stream to restore already exists (JSStreamNameExistRestoreFailedErr). */
const STREAM_EXISTS_ON_RESTORE = 10130;
/** JetStream API error code: stream not found. */
const STREAM_NOT_FOUND = 10059;

export interface SnapshotProgress {
  stream: string;
  bytes: number;
  chunks: number;
}

export interface SnapshotOptions {
  /** Include consumer configurations and states (display consumers' acked positions). @default true */
  consumers?: boolean;
  /** @default {@link DEFAULT_SNAPSHOT_CHUNK_BYTES} */
  chunkBytes?: number;
  /** @default {@link DEFAULT_SNAPSHOT_IDLE_TIMEOUT_MS} */
  idleTimeoutMs?: number;
  /** Called after each acknowledged chunk. */
  onProgress?: (p: SnapshotProgress) => void;
}

export interface SnapshotResult {
  stream: string;
  /** Stream configuration and state at the time of the snapshot, as the server reported them. */
  config: StreamConfig;
  state: StreamState;
  bytes: number;
  chunks: number;
}

interface ApiError {
  code: number;
  err_code?: number;
  description?: string;
}

function apiError(body: unknown): ApiError | undefined {
  const e = (body as { error?: ApiError } | null)?.error;
  return e !== undefined && typeof e.code === 'number' ? e : undefined;
}

function describe(e: ApiError): string {
  return `${e.description ?? 'error'} (${e.code}${e.err_code === undefined ? '' : `/${e.err_code}`})`;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function parse(msg: Msg): unknown {
  try {
    return msg.json();
  } catch {
    return undefined;
  }
}

/**
 * Takes a snapshot of `stream` and hands each chunk to `write` before acknowledging it, so a
 * slow sink slows the server down instead of piling chunks up in memory.
 */
export async function snapshotStream(
  nc: NatsConnection,
  stream: string,
  write: (chunk: Uint8Array) => Promise<void>,
  opts: SnapshotOptions = {},
): Promise<SnapshotResult> {
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_SNAPSHOT_IDLE_TIMEOUT_MS;
  const fail = (reason: string, cause?: unknown): Error =>
    PLATFORM_ERRORS.create('ORDERWIRE_ERR_SNAPSHOT_FAILED', { stream, reason }, { cause });
  const inbox = createConnectionInbox(nc);
  const sub = nc.subscribe(inbox);
  try {
    let answer: Msg;
    try {
      answer = await nc.request(
        `$JS.API.STREAM.SNAPSHOT.${stream}`,
        JSON.stringify({
          deliver_subject: inbox,
          no_consumers: opts.consumers === false,
          chunk_size: opts.chunkBytes ?? DEFAULT_SNAPSHOT_CHUNK_BYTES,
        }),
        { timeout: idleMs },
      );
    } catch (err) {
      throw fail(`no answer to the snapshot request: ${reasonOf(err)}`, err);
    }
    const body = parse(answer) as { config?: StreamConfig; state?: StreamState } | undefined;
    const e = apiError(body);
    if (e !== undefined) throw fail(describe(e));
    if (body?.config === undefined || body.state === undefined) throw fail('the server answered without config and state');

    let bytes = 0;
    let chunks = 0;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        sub.unsubscribe();
      }, idleMs);
    };
    arm();
    try {
      for await (const msg of sub) {
        const status = msg.headers?.code ?? 0;
        if (status !== 0 && status !== 200 && status !== 204) {
          throw fail(`the server ended the snapshot with status ${status} ${msg.headers?.description ?? ''}`.trim());
        }
        if (msg.data.length === 0 && (msg.reply === undefined || msg.reply === '')) {
          return { stream, config: body.config, state: body.state, bytes, chunks };
        }
        arm();
        await write(msg.data);
        bytes += msg.data.length;
        chunks += 1;
        // The ack: the reply subject encodes the chunk size the server subtracts from its window.
        if (msg.reply !== undefined && msg.reply !== '') msg.respond();
        opts.onProgress?.({ stream, bytes, chunks });
      }
    } finally {
      clearTimeout(timer);
    }
    throw fail(
      timedOut
        ? `no chunk for ${idleMs} ms after ${bytes} bytes: the server went away or stopped sending`
        : `the subscription closed after ${bytes} bytes (connection closed)`,
    );
  } finally {
    sub.unsubscribe();
  }
}

export interface SnapshotFileResult extends SnapshotResult {
  file: string;
  /** SHA-256 of the file, hex. */
  sha256: string;
}

/**
 * Snapshot into `file`. It is written as `<file>.partial` and renamed only once the server sent
 * the end marker, so an interrupted snapshot never leaves a file that looks complete (the
 * partial one is removed).
 */
export async function snapshotStreamToFile(
  nc: NatsConnection,
  stream: string,
  file: string,
  opts: SnapshotOptions = {},
): Promise<SnapshotFileResult> {
  const partial = file + PARTIAL_SUFFIX;
  const fh = await open(partial, 'w');
  const hash = createHash('sha256');
  let result: SnapshotResult;
  try {
    result = await snapshotStream(
      nc,
      stream,
      async (chunk) => {
        hash.update(chunk);
        await fh.write(chunk);
      },
      opts,
    );
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(partial, { force: true });
    throw err;
  }
  await fh.close();
  await rename(partial, file);
  return { ...result, file, sha256: hash.digest('hex') };
}

export interface RestoreOptions {
  /** Delete an existing stream of that name first. Without it, an existing stream is refused. @default false */
  replace?: boolean;
  /** @default {@link DEFAULT_SNAPSHOT_CHUNK_BYTES} */
  chunkBytes?: number;
  /** Per-chunk acknowledgement timeout. @default {@link DEFAULT_SNAPSHOT_IDLE_TIMEOUT_MS} */
  chunkTimeoutMs?: number;
  /** @default {@link DEFAULT_RESTORE_FINISH_TIMEOUT_MS} */
  finishTimeoutMs?: number;
  onProgress?: (p: SnapshotProgress) => void;
}

async function streamExists(nc: NatsConnection, stream: string, timeoutMs: number): Promise<boolean> {
  const msg = await nc.request(`$JS.API.STREAM.INFO.${stream}`, '', { timeout: timeoutMs });
  const e = apiError(parse(msg));
  if (e === undefined) return true;
  if (e.err_code === STREAM_NOT_FOUND) return false;
  throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_RESTORE_FAILED', { stream, reason: `stream info: ${describe(e)}` });
}

/**
 * Restores `stream` from `chunks` (the bytes a snapshot produced, in order) with the `config` and
 * `state` recorded at snapshot time. Returns the restored stream's info.
 */
export async function restoreStream(
  nc: NatsConnection,
  stream: string,
  snapshot: { config: StreamConfig; state: StreamState },
  chunks: AsyncIterable<Uint8Array>,
  opts: RestoreOptions = {},
): Promise<StreamInfo> {
  const timeout = opts.chunkTimeoutMs ?? DEFAULT_SNAPSHOT_IDLE_TIMEOUT_MS;
  const fail = (reason: string, cause?: unknown): Error =>
    PLATFORM_ERRORS.create('ORDERWIRE_ERR_RESTORE_FAILED', { stream, reason }, { cause });
  const exists = await streamExists(nc, stream, timeout);
  if (exists && opts.replace !== true) throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_RESTORE_STREAM_EXISTS', { stream });
  if (exists) {
    const del = apiError(parse(await nc.request(`$JS.API.STREAM.DELETE.${stream}`, '', { timeout })));
    if (del !== undefined) throw fail(`could not delete the existing stream: ${describe(del)}`);
  }
  const answer = parse(
    await nc.request(`$JS.API.STREAM.RESTORE.${stream}`, JSON.stringify({ config: snapshot.config, state: snapshot.state }), {
      timeout,
    }),
  ) as { deliver_subject?: string } | undefined;
  const e = apiError(answer);
  if (e?.err_code === STREAM_EXISTS_ON_RESTORE) throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_RESTORE_STREAM_EXISTS', { stream });
  if (e !== undefined) throw fail(describe(e));
  const deliver = answer?.deliver_subject;
  if (deliver === undefined || deliver === '') throw fail('the server answered without a deliver subject');

  let bytes = 0;
  let count = 0;
  for await (const chunk of chunks) {
    if (chunk.length === 0) continue; // an empty message would end the upload early
    let ack: Msg;
    try {
      ack = await nc.request(deliver, chunk, { timeout });
    } catch (err) {
      throw fail(`chunk ${count + 1} (after ${bytes} bytes) was not acknowledged: ${reasonOf(err)}`, err);
    }
    const ce = ack.data.length === 0 ? undefined : apiError(parse(ack));
    if (ce !== undefined) throw fail(`chunk ${count + 1} refused: ${describe(ce)}`);
    bytes += chunk.length;
    count += 1;
    opts.onProgress?.({ stream, bytes, chunks: count });
  }
  let done: Msg;
  try {
    done = await nc.request(deliver, new Uint8Array(0), { timeout: opts.finishTimeoutMs ?? DEFAULT_RESTORE_FINISH_TIMEOUT_MS });
  } catch (err) {
    throw fail(`no answer after the last chunk: ${reasonOf(err)}`, err);
  }
  const result = parse(done) as StreamInfo | undefined;
  const fe = apiError(result);
  if (fe !== undefined) throw fail(describe(fe));
  if (result?.config === undefined) throw fail('the server answered the end of the upload without stream info');
  return result;
}

/** Reads `file` in chunks of `chunkBytes` for {@link restoreStream}. */
export async function* fileChunks(file: string, chunkBytes = DEFAULT_SNAPSHOT_CHUNK_BYTES): AsyncGenerator<Uint8Array> {
  for await (const chunk of createReadStream(file, { highWaterMark: chunkBytes })) {
    yield chunk as Buffer;
  }
}
