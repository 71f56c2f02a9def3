/**
 * Read-only looks into JetStream from the test process: the audit trail and stored orders.
 * Tests assert on what the services persisted, not only on what they answered.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { listOrderStreams } from '@orderwire/platform';

/** 2 s per fetch of an ordered consumer */
const FETCH_EXPIRES_MS = 2_000;
/** 10 000 messages read at most per call */
const READ_MAX = 10_000;

/** Every message (JSON) on `subject` in `stream`, oldest first. */
export async function readStream<T = unknown>(natsUrl: string, stream: string, subject: string): Promise<T[]> {
  const nc = await connect({ servers: natsUrl, name: 'system-tests-reader' });
  try {
    const js = jetstream(nc);
    const info = await (await jetstreamManager(nc)).streams.info(stream, { subjects_filter: subject });
    const total = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
    if (total === 0) return [];
    const consumer = await js.consumers.get(stream, { filter_subjects: [subject] });
    const out: T[] = [];
    while (out.length < Math.min(total, READ_MAX)) {
      const batch = await consumer.fetch({ max_messages: Math.min(total - out.length, 1_000), expires: FETCH_EXPIRES_MS });
      let got = 0;
      for await (const m of batch) {
        got++;
        out.push(m.json<T>());
        if (m.info.pending === 0) break;
      }
      if (got === 0) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

export interface StoredOrder {
  stream: string;
  seq: number;
  subject: string;
  orderId: string | undefined;
}

/**
 * The order messages at `refs` — (stream, seq) as ingest reported them: a sequence names a
 * message only with its partition stream — keyed `<stream>:<seq>` (absent ones are left out).
 */
export async function storedOrders(natsUrl: string, refs: readonly { stream: string; seq: number }[]): Promise<Map<string, StoredOrder>> {
  const nc = await connect({ servers: natsUrl, name: 'system-tests-reader' });
  try {
    const jsm = await jetstreamManager(nc);
    const out = new Map<string, StoredOrder>();
    for (const { stream, seq } of refs) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (m !== null) out.set(`${stream}:${seq}`, { stream, seq: m.seq, subject: m.subject, orderId: m.header?.get('Ow-Order-Id') || undefined });
    }
    return out;
  } finally {
    await nc.close();
  }
}

export interface ConsumerState {
  /** Delivered to a display, not acknowledged yet. */
  numAckPending: number;
  /** Not delivered yet. */
  numPending: number;
  numRedelivered: number;
}

/** Delivery state of a display's mailbox consumer, on whichever order stream holds it. */
export async function consumerState(natsUrl: string, consumer: string): Promise<ConsumerState> {
  const nc = await connect({ servers: natsUrl, name: 'system-tests-reader' });
  try {
    const jsm = await jetstreamManager(nc);
    let info;
    for (const stream of await listOrderStreams(jsm)) {
      info = await jsm.consumers.info(stream, consumer).catch(() => undefined);
      if (info !== undefined) break;
    }
    if (info === undefined) throw new Error(`consumer ${consumer} is on no order stream`);
    return { numAckPending: info.num_ack_pending, numPending: info.num_pending, numRedelivered: info.num_redelivered };
  } finally {
    await nc.close();
  }
}
