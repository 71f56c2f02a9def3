/**
 * A scripted display on socket.io-client: records every `orders` batch and `session:end`,
 * answers according to a policy, and keeps what was "shown" deduplicated by deliveryId as the
 * SDK does — so tests can count accepted − displayed.
 */
import { io, type Socket } from 'socket.io-client';
import type {
  AuthRefreshResult,
  ClientToServerEvents,
  Delivery,
  DeliveryAck,
  HandshakeErrorData,
  ServerToClientEvents,
  SessionEnd,
} from '@orderwire/contracts';

export type Answer = 'ack' | { reject: string } | 'silent';

export interface DisplayOptions {
  /** How to answer each delivery. A batch with any `silent` delivery gets no answer at all. @default ack */
  policy?: (d: Delivery) => Answer;
  /** Delay before answering a batch (ms). @default 0 */
  answerDelayMs?: number;
  /** Extra handshake headers (e.g. a browser's Origin). */
  headers?: Record<string, string>;
  /** Disconnect right after answering a batch, in the same tick (an app closing right after its ack). @default false */
  disconnectAfterAnswer?: boolean;
}

export interface ConnectError extends Error {
  data?: HandshakeErrorData;
}

export class TestDisplay {
  socket: Socket<ServerToClientEvents, ClientToServerEvents> | undefined;
  /** Every delivery as emitted (duplicates included). */
  readonly received: Delivery[] = [];
  /** Batch sizes as emitted. */
  readonly batches: number[] = [];
  /** Acked deliveries, deduplicated by deliveryId: what the screen shows. */
  readonly shown = new Map<string, Delivery>();
  readonly sessionEnds: SessionEnd[] = [];
  readonly disconnects: string[] = [];
  policy: (d: Delivery) => Answer;
  answerDelayMs: number;
  readonly headers: Record<string, string> | undefined;
  readonly disconnectAfterAnswer: boolean;

  constructor(
    public token: string,
    options: DisplayOptions = {},
  ) {
    this.policy = options.policy ?? (() => 'ack');
    this.answerDelayMs = options.answerDelayMs ?? 0;
    this.headers = options.headers;
    this.disconnectAfterAnswer = options.disconnectAfterAnswer ?? false;
  }

  get connected(): boolean {
    return this.socket?.connected === true;
  }

  /** Order ids shown, in the order they were first shown. */
  shownOrderIds(): string[] {
    return [...this.shown.values()].map((d) => d.orderId);
  }

  /** Connects to `url`; rejects with the handshake error (its `data.reason`) on refusal. */
  connect(url: string): Promise<void> {
    this.disconnect();
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, {
      path: '/socket.io',
      transports: ['websocket'],
      auth: { token: this.token },
      reconnection: false,
      forceNew: true,
      timeout: 10_000,
      ...(this.headers === undefined ? {} : { extraHeaders: this.headers }),
    });
    this.socket = socket;
    socket.on('orders', (batch, ack) => {
      this.batches.push(batch.length);
      this.received.push(...batch);
      const answers = batch.map((d) => [d, this.policy(d)] as const);
      if (answers.some(([, a]) => a === 'silent')) return;
      const reply = (): void => {
        const answer: DeliveryAck = { ack: [], reject: [] };
        for (const [d, a] of answers) {
          if (a === 'ack') {
            answer.ack.push(d.deliveryId);
            if (!this.shown.has(d.deliveryId)) this.shown.set(d.deliveryId, d);
          } else if (typeof a === 'object') answer.reject!.push({ deliveryId: d.deliveryId, reason: a.reject });
        }
        ack(answer);
        if (this.disconnectAfterAnswer) socket.disconnect();
      };
      if (this.answerDelayMs > 0) setTimeout(reply, this.answerDelayMs);
      else reply();
    });
    socket.on('session:end', (info) => this.sessionEnds.push(info));
    socket.on('disconnect', (reason) => this.disconnects.push(reason));
    return new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err: ConnectError) => {
        socket.close();
        reject(err);
      });
    });
  }

  refresh(token: string): Promise<AuthRefreshResult> {
    const socket = this.socket;
    if (socket === undefined) throw new Error('not connected');
    return socket.timeout(5_000).emitWithAck('auth:refresh', { token });
  }

  disconnect(): void {
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = undefined;
  }
}

/** The `reason` of a refused handshake. */
export async function handshakeRefusal(url: string, token: string, headers?: Record<string, string>): Promise<string | undefined> {
  const d = new TestDisplay(token, headers === undefined ? {} : { headers });
  try {
    await d.connect(url);
    d.disconnect();
    return undefined;
  } catch (err) {
    return (err as ConnectError).data?.reason;
  }
}
