import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Server } from 'socket.io';
import { Decoder, Encoder, PacketType } from 'socket.io-parser';
import WebSocket from 'ws';
import { SOCKET_PATH } from '@orderwire/contracts';
import {
  DEFAULT_SOCKET_PATH,
  FramingError,
  PONG_FRAME,
  ackFrame,
  connectFrame,
  decodeEnginePacket,
  decodeFrame,
  decodeSocketPacket,
  encodeEnginePacket,
  encodeSocketPacket,
  eventFrame,
  websocketUrl,
  type Frame,
  type SocketPacket,
} from '../k6/lib/socketio.ts';

/** What socket.io's own parser makes of a string packet. */
function referenceDecode(text: string): { type: number; nsp: string; id?: number; data?: unknown } {
  const decoder = new Decoder();
  let out: { type: number; nsp: string; id?: number; data?: unknown } | undefined;
  decoder.on('decoded', (p: { type: number; nsp: string; id?: number; data?: unknown }) => {
    out = p;
  });
  decoder.add(text);
  if (out === undefined) throw new Error('reference decoder produced nothing');
  return out;
}

function referenceEncode(packet: { type: number; nsp: string; id?: number; data?: unknown }): string {
  const [encoded] = new Encoder().encode(packet) as [string];
  return encoded;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof FramingError ? err.code : 'not a FramingError';
  }
  return undefined;
}

describe('Engine.IO packets', () => {
  it('decodes the open packet with its timing', () => {
    const p = decodeEnginePacket('0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}');
    expect(p).toEqual({ type: 'open', data: { sid: 'abc', upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 } });
  });

  it('decodes ping, pong, message, close, noop and round-trips them', () => {
    for (const frame of ['2', '3', '2probe', '4hello', '1', '6', '5']) {
      expect(encodeEnginePacket(decodeEnginePacket(frame))).toBe(frame);
    }
    expect(decodeEnginePacket('2')).toEqual({ type: 'ping', data: '' });
    expect(PONG_FRAME).toBe('3');
  });

  it('rejects empty, unknown, binary and malformed frames with stable codes', () => {
    expect(codeOf(() => decodeEnginePacket(''))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_EMPTY');
    expect(codeOf(() => decodeEnginePacket('9'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_ENGINE_TYPE');
    expect(codeOf(() => decodeEnginePacket('bAAAA'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_BINARY');
    expect(codeOf(() => decodeEnginePacket('0{not json'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_JSON');
    expect(codeOf(() => decodeEnginePacket('0{"sid":1}'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE');
  });
});

describe('Socket.IO packets', () => {
  const cases: Array<[string, SocketPacket]> = [
    ['0{"token":"t"}', { type: 'connect', nsp: '/', data: { token: 't' } }],
    ['0', { type: 'connect', nsp: '/' }],
    ['0/admin,{"token":"t"}', { type: 'connect', nsp: '/admin', data: { token: 't' } }],
    ['1', { type: 'disconnect', nsp: '/' }],
    ['2["orders",[{"deliveryId":"ORDERS:1"}]]', { type: 'event', nsp: '/', name: 'orders', args: [[{ deliveryId: 'ORDERS:1' }]] }],
    ['217["orders",[]]', { type: 'event', nsp: '/', id: 17, name: 'orders', args: [[]] }],
    ['2/admin,3["x",1,"two"]', { type: 'event', nsp: '/admin', id: 3, name: 'x', args: [1, 'two'] }],
    ['317[{"ack":["a","b"]}]', { type: 'ack', nsp: '/', id: 17, args: [{ ack: ['a', 'b'] }] }],
    ['4{"message":"nope","data":{"reason":"unauthorized"}}', { type: 'connect_error', nsp: '/', data: { message: 'nope', data: { reason: 'unauthorized' } } }],
  ];

  it.each(cases)('decodes and re-encodes %s', (text, packet) => {
    expect(decodeSocketPacket(text)).toEqual(packet);
    expect(encodeSocketPacket(packet)).toBe(text);
  });

  it.each(cases)('agrees with socket.io-parser on %s', (text, packet) => {
    const ref = referenceDecode(text);
    expect(ref.type).toBe(['connect', 'disconnect', 'event', 'ack', 'connect_error'].indexOf(packet.type));
    expect(ref.nsp).toBe(packet.nsp);
    expect(ref.id).toBe('id' in packet ? packet.id : undefined);
    // And the reference encoder produces what we decode.
    expect(decodeSocketPacket(referenceEncode(ref))).toEqual(packet);
  });

  it('reads multi-digit ack ids the way socket.io encodes them', () => {
    const text = referenceEncode({ type: PacketType.EVENT, nsp: '/', id: 123456, data: ['orders', [{ seq: 1 }]] });
    expect(decodeSocketPacket(text)).toEqual({ type: 'event', nsp: '/', id: 123456, name: 'orders', args: [[{ seq: 1 }]] });
    expect(referenceDecode(encodeSocketPacket({ type: 'ack', nsp: '/', id: 123456, args: [{ ack: [] }] }))).toMatchObject({
      type: PacketType.ACK,
      id: 123456,
      data: [{ ack: [] }],
    });
  });

  it('rejects binary, unknown and ill-shaped packets', () => {
    expect(codeOf(() => decodeSocketPacket('51-["x",{"_placeholder":true,"num":0}]'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_BINARY');
    expect(codeOf(() => decodeSocketPacket('61-0[{"_placeholder":true,"num":0}]'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_BINARY');
    expect(codeOf(() => decodeSocketPacket('8'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_SOCKET_TYPE');
    expect(codeOf(() => decodeSocketPacket(''))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_EMPTY');
    expect(codeOf(() => decodeSocketPacket('2{"a":1}'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE');
    expect(codeOf(() => decodeSocketPacket('2[1]'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE');
    expect(codeOf(() => decodeSocketPacket('3[{}]'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE');
    expect(codeOf(() => decodeSocketPacket('4"x"'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE');
    expect(codeOf(() => decodeSocketPacket('2["x",'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_JSON');
  });
});

describe('frames', () => {
  it('builds the frames a display sends', () => {
    expect(connectFrame({ token: 'abc' })).toBe('40{"token":"abc"}');
    expect(ackFrame(17, [{ ack: ['ORDERS:5'] }])).toBe('4317[{"ack":["ORDERS:5"]}]');
    expect(eventFrame('auth:refresh', [{ token: 'x' }], 4)).toBe('424["auth:refresh",{"token":"x"}]');
    expect(eventFrame('hello', [])).toBe('42["hello"]');
  });

  it('decodes both layers of a frame', () => {
    expect(decodeFrame('2')).toEqual({ layer: 'engine', packet: { type: 'ping', data: '' } });
    expect(decodeFrame('4213["orders",[]]')).toEqual({ layer: 'socket', packet: { type: 'event', nsp: '/', id: 13, name: 'orders', args: [[]] } });
  });

  it('builds the websocket URL from http(s) and ws(s) bases', () => {
    expect(websocketUrl('http://127.0.0.1:3003')).toBe('ws://127.0.0.1:3003/socket.io/?EIO=4&transport=websocket');
    expect(websocketUrl('https://edge.example.com/')).toBe('wss://edge.example.com/socket.io/?EIO=4&transport=websocket');
    expect(websocketUrl('ws://h:1', '/custom/')).toBe('ws://h:1/custom/?EIO=4&transport=websocket');
    expect(codeOf(() => websocketUrl('ftp://x'))).toBe('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE');
  });

  it('uses the contract socket path', () => {
    expect(DEFAULT_SOCKET_PATH).toBe(SOCKET_PATH);
  });
});

describe('against a real Socket.IO server over a raw websocket', () => {
  let http: HttpServer | undefined;
  let io: Server | undefined;

  afterEach(async () => {
    await io?.close();
    io = undefined;
    http = undefined;
  });

  async function serve(): Promise<string> {
    http = createServer();
    // Short ping interval: the test sees the server ping and our pong keep the socket alive.
    io = new Server(http, { transports: ['websocket'], pingInterval: 100, pingTimeout: 200 });
    io.use((socket, next) => {
      const token = (socket.handshake.auth as { token?: unknown }).token;
      if (token === 'good') return next();
      const err = new Error('unauthorized') as Error & { data?: unknown };
      err.data = { reason: 'unauthorized' };
      next(err);
    });
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  }

  /** A minimal display: answers pings, connects with `token`, acks every `orders` batch. */
  function rawDisplay(url: string, token: string): { frames: Frame[]; ws: WebSocket; closed: Promise<void> } {
    const ws = new WebSocket(websocketUrl(url));
    const frames: Frame[] = [];
    ws.on('message', (data: Buffer) => {
      const f = decodeFrame(data.toString('utf8'));
      frames.push(f);
      if (f.layer === 'engine' && f.packet.type === 'open') ws.send(connectFrame({ token }));
      if (f.layer === 'engine' && f.packet.type === 'ping') ws.send(PONG_FRAME);
      if (f.layer === 'socket' && f.packet.type === 'event' && f.packet.name === 'orders' && f.packet.id !== undefined) {
        const batch = f.packet.args[0] as Array<{ deliveryId: string }>;
        ws.send(ackFrame(f.packet.id, [{ ack: batch.map((d) => d.deliveryId) }]));
      }
    });
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    return { frames, ws, closed };
  }

  it('connects with the token in the CONNECT packet, survives pings and acks deliveries', async () => {
    const url = await serve();
    const connected = new Promise<import('socket.io').Socket>((resolve) => io!.once('connection', resolve));
    const display = rawDisplay(url, 'good');
    const socket = await connected;
    // Several ping intervals: without pongs the server would drop us after pingTimeout.
    await new Promise((r) => setTimeout(r, 450));
    expect(socket.connected).toBe(true);
    const answer = (await socket.timeout(2000).emitWithAck('orders', [
      { deliveryId: 'ORDERS:1', orderId: 'o1', seq: 1 },
      { deliveryId: 'ORDERS:2', orderId: 'o2', seq: 2 },
    ])) as unknown;
    expect(answer).toEqual({ ack: ['ORDERS:1', 'ORDERS:2'] });
    expect(display.frames.filter((f) => f.layer === 'engine' && f.packet.type === 'ping').length).toBeGreaterThanOrEqual(2);
    expect(display.frames.some((f) => f.layer === 'socket' && f.packet.type === 'connect')).toBe(true);
    display.ws.close();
    await display.closed;
  });

  it('sees CONNECT_ERROR with the machine-readable reason for a bad token', async () => {
    const url = await serve();
    const display = rawDisplay(url, 'bad');
    await new Promise((r) => setTimeout(r, 200));
    const err = display.frames.find((f) => f.layer === 'socket' && f.packet.type === 'connect_error');
    expect(err).toEqual({ layer: 'socket', packet: { type: 'connect_error', nsp: '/', data: { message: 'unauthorized', data: { reason: 'unauthorized' } } } });
    display.ws.close();
    await display.closed;
  });
});
