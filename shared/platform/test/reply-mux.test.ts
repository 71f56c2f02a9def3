import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { createReplyMux, type ReplyMux, type ReplyMuxErrors } from '../src/reply-mux.js';

class MuxError extends Error {
  constructor(
    readonly kind: 'timeout' | 'noResponders' | 'failed',
    readonly subject: string,
    cause?: unknown,
  ) {
    super(`${kind} ${subject}`, cause === undefined ? undefined : { cause });
  }
}

/** Error factories that record every call: a successful request must build none. */
function recordingErrors(): ReplyMuxErrors & { built: MuxError[] } {
  const built: MuxError[] = [];
  const make = (kind: MuxError['kind'], subject: string, cause?: unknown): MuxError => {
    const e = new MuxError(kind, subject, cause);
    built.push(e);
    return e;
  };
  return {
    built,
    timeout: (s) => make('timeout', s),
    noResponders: (s) => make('noResponders', s),
    failed: (s, cause) => make('failed', s, cause),
  };
}

async function rejection(p: Promise<unknown>): Promise<MuxError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MuxError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

const logger = createLogger({ service: 'test', version: '0', level: 'silent' });
let server: NatsServerHandle;
let nc: NatsConnection;
let mux: ReplyMux | undefined;

beforeAll(async () => {
  server = await startNats();
  nc = await connect({ servers: server.url });
  // Echo service: answers `echo.<n>` with its payload, after a delay of n ms.
  nc.subscribe('echo.*', {
    callback: (_err, msg) => {
      const delay = Number(msg.subject.split('.')[1]);
      setTimeout(() => msg.respond(msg.data, { headers: msg.headers }), delay);
    },
  });
  nc.subscribe('silent', { callback: () => undefined });
  await nc.flush();
});
afterEach(() => {
  mux?.close();
  mux = undefined;
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

describe('createReplyMux', () => {
  it('answers each request with its own reply, out of order, and builds no error on success', async () => {
    const errors = recordingErrors();
    mux = createReplyMux(nc, { logger, errors });
    const delays = Array.from({ length: 40 }, (_, i) => (i * 7) % 30);
    const replies = await Promise.all(delays.map((d, i) => mux!.request(`echo.${d}`, `req-${i}`, { timeoutMs: 2_000 })));
    expect(replies.map((m) => m.string())).toEqual(delays.map((_, i) => `req-${i}`));
    expect(mux.pending).toBe(0);
    expect(errors.built).toEqual([]);
  });

  it('no responders → errors.noResponders(subject), at once', async () => {
    const errors = recordingErrors();
    mux = createReplyMux(nc, { logger, errors });
    const started = Date.now();
    const err = await rejection(mux.request('nobody.listens', 'x', { timeoutMs: 5_000 }));
    expect([err.kind, err.subject]).toEqual(['noResponders', 'nobody.listens']);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(mux.pending).toBe(0);
  });

  it('no reply in time → errors.timeout(subject) within the timeout plus one sweep; a late reply is ignored', async () => {
    const errors = recordingErrors();
    mux = createReplyMux(nc, { logger, errors, sweepMs: 20 });
    const started = Date.now();
    const [silent, late] = await Promise.all([
      rejection(mux.request('silent', 'x', { timeoutMs: 100 })),
      rejection(mux.request('echo.300', 'y', { timeoutMs: 100 })),
    ]);
    const took = Date.now() - started;
    expect([silent.kind, silent.subject, late.kind, late.subject]).toEqual(['timeout', 'silent', 'timeout', 'echo.300']);
    expect(took).toBeGreaterThanOrEqual(100);
    expect(took).toBeLessThan(1_000);
    await new Promise((r) => setTimeout(r, 300)); // the echo's late reply arrives: nothing to resolve
    expect(errors.built).toHaveLength(2);
    expect(mux.pending).toBe(0);
  });

  it('close() rejects what is pending with errors.failed and stops listening', async () => {
    const errors = recordingErrors();
    mux = createReplyMux(nc, { logger, errors });
    const pending = rejection(mux.request('silent', 'x', { timeoutMs: 10_000 }));
    expect(mux.pending).toBe(1);
    mux.close();
    const err = await pending;
    expect([err.kind, err.subject, err.cause]).toEqual(['failed', 'silent', undefined]);
    expect(mux.pending).toBe(0);
  });

  it('a publish that throws (closed connection) → errors.failed(subject, cause)', async () => {
    const own = await connect({ servers: server.url });
    const errors = recordingErrors();
    const m = createReplyMux(own, { logger, errors });
    await own.close();
    const err = await rejection(m.request('echo.0', 'x', { timeoutMs: 1_000 }));
    expect([err.kind, err.subject]).toEqual(['failed', 'echo.0']);
    expect((err.cause as Error).name).toBe('ClosedConnectionError');
    expect(m.pending).toBe(0);
    m.close();
  });
});
