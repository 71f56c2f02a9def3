/**
 * Engine.IO v4 / Socket.IO v5 framing over a plain websocket, text only (Orderwire never sends
 * binary). No k6 imports, so the same module runs under k6 (through k6/lib), in the bench's
 * protocol display (./display.ts) and under vitest.
 *
 * Over the websocket transport every frame is exactly one Engine.IO packet: a type digit and a
 * payload. Socket.IO packets ride inside Engine.IO `message` (4) packets:
 *
 *   server → `0{"sid":…,"pingInterval":…}`  Engine.IO open
 *   server → `2` ping, client → `3` pong     (in v4 the server pings)
 *   client → `40{"token":"…"}`               CONNECT to `/` with the handshake auth payload
 *   server → `40{"sid":"…"}` / `44{"message":"…","data":{…}}`   CONNECT ok / CONNECT_ERROR
 *   server → `4217["orders",[…]]`            EVENT with ack id 17
 *   client → `4317[{"ack":["…"]}]`           ACK 17
 */

/** Engine.IO protocol revision sent in the `EIO` query parameter. */
export const ENGINE_IO_VERSION = 4;
/** Socket.IO's default path; Orderwire's edge uses it (`SOCKET_PATH` in @orderwire/contracts). */
export const DEFAULT_SOCKET_PATH = '/socket.io';
export const ROOT_NAMESPACE = '/';

/** Answer to a server ping (Engine.IO v4: the server pings, the client pongs). */
export const PONG_FRAME = '3';

export type FramingErrorCode =
  | 'ORDERWIRE_ERR_LOADTEST_FRAMING_EMPTY'
  | 'ORDERWIRE_ERR_LOADTEST_FRAMING_ENGINE_TYPE'
  | 'ORDERWIRE_ERR_LOADTEST_FRAMING_SOCKET_TYPE'
  | 'ORDERWIRE_ERR_LOADTEST_FRAMING_BINARY'
  | 'ORDERWIRE_ERR_LOADTEST_FRAMING_JSON'
  | 'ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE';

export class FramingError extends Error {
  readonly code: FramingErrorCode;
  constructor(code: FramingErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FramingError';
    this.code = code;
  }
}

export interface EngineOpen {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload?: number;
}

export type EnginePacket =
  | { type: 'open'; data: EngineOpen }
  | { type: 'close' }
  | { type: 'ping'; data: string }
  | { type: 'pong'; data: string }
  | { type: 'message'; data: string }
  | { type: 'upgrade' }
  | { type: 'noop' };

const ENGINE_TYPES = ['open', 'close', 'ping', 'pong', 'message', 'upgrade', 'noop'] as const;
type EngineType = (typeof ENGINE_TYPES)[number];

export type SocketPacket =
  | { type: 'connect'; nsp: string; data?: Record<string, unknown> }
  | { type: 'disconnect'; nsp: string }
  | { type: 'event'; nsp: string; id?: number; name: string; args: unknown[] }
  | { type: 'ack'; nsp: string; id: number; args: unknown[] }
  | { type: 'connect_error'; nsp: string; data: { message: string; data?: unknown } };

const SOCKET_TYPES = ['connect', 'disconnect', 'event', 'ack', 'connect_error', 'binary_event', 'binary_ack'] as const;

/** One websocket frame, decoded through both layers. */
export type Frame =
  | { layer: 'engine'; packet: Exclude<EnginePacket, { type: 'message' }> }
  | { layer: 'socket'; packet: SocketPacket };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_JSON', `${what}: payload is not JSON`, { cause: err });
  }
}

/** Decodes one Engine.IO packet (one websocket text frame). */
export function decodeEnginePacket(frame: string): EnginePacket {
  if (frame.length === 0) throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_EMPTY', 'empty Engine.IO frame');
  const type: EngineType | undefined = ENGINE_TYPES[frame.charCodeAt(0) - 48];
  const data = frame.slice(1);
  switch (type) {
    case 'open': {
      const open = parseJson(data, 'Engine.IO open');
      if (!isRecord(open) || typeof open.sid !== 'string' || typeof open.pingInterval !== 'number' || typeof open.pingTimeout !== 'number') {
        throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE', 'Engine.IO open packet without sid/pingInterval/pingTimeout');
      }
      return {
        type: 'open',
        data: {
          sid: open.sid,
          upgrades: Array.isArray(open.upgrades) ? open.upgrades.filter((u): u is string => typeof u === 'string') : [],
          pingInterval: open.pingInterval,
          pingTimeout: open.pingTimeout,
          ...(typeof open.maxPayload === 'number' ? { maxPayload: open.maxPayload } : {}),
        },
      };
    }
    case 'ping':
    case 'pong':
    case 'message':
      return { type, data };
    case 'close':
    case 'upgrade':
    case 'noop':
      return { type };
    default:
      if (frame.charCodeAt(0) === 98 /* 'b' */) {
        throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_BINARY', 'base64 binary Engine.IO packets are not supported');
      }
      throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_ENGINE_TYPE', `unknown Engine.IO packet type ${JSON.stringify(frame[0])}`);
  }
}

export function encodeEnginePacket(packet: EnginePacket): string {
  const digit = ENGINE_TYPES.indexOf(packet.type);
  switch (packet.type) {
    case 'open':
      return `${digit}${JSON.stringify(packet.data)}`;
    case 'ping':
    case 'pong':
    case 'message':
      return `${digit}${packet.data}`;
    default:
      return String(digit);
  }
}

/** Decodes the Socket.IO packet carried in an Engine.IO `message` payload. */
export function decodeSocketPacket(text: string): SocketPacket {
  if (text.length === 0) throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_EMPTY', 'empty Socket.IO packet');
  const type = SOCKET_TYPES[text.charCodeAt(0) - 48];
  if (type === undefined) {
    throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_SOCKET_TYPE', `unknown Socket.IO packet type ${JSON.stringify(text[0])}`);
  }
  if (type === 'binary_event' || type === 'binary_ack') {
    throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_BINARY', 'binary Socket.IO packets are not supported');
  }
  let i = 1;
  let nsp = ROOT_NAMESPACE;
  if (text[i] === '/') {
    const comma = text.indexOf(',', i);
    const end = comma === -1 ? text.length : comma;
    nsp = text.slice(i, end);
    i = comma === -1 ? end : end + 1;
  }
  const idStart = i;
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
  const id = i > idStart ? Number(text.slice(idStart, i)) : undefined;
  const payload = i < text.length ? parseJson(text.slice(i), `Socket.IO ${type}`) : undefined;

  switch (type) {
    case 'connect':
      if (payload !== undefined && !isRecord(payload)) {
        throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE', 'CONNECT payload must be an object');
      }
      return payload === undefined ? { type, nsp } : { type, nsp, data: payload };
    case 'disconnect':
      return { type, nsp };
    case 'connect_error': {
      if (!isRecord(payload) || typeof payload.message !== 'string') {
        throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE', 'CONNECT_ERROR payload must be { message, data? }');
      }
      return { type, nsp, data: 'data' in payload ? { message: payload.message, data: payload.data } : { message: payload.message } };
    }
    case 'event': {
      if (!Array.isArray(payload) || typeof payload[0] !== 'string') {
        throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE', 'EVENT payload must be ["name", ...args]');
      }
      const [name, ...args] = payload as [string, ...unknown[]];
      return id === undefined ? { type, nsp, name, args } : { type, nsp, id, name, args };
    }
    case 'ack':
      if (id === undefined || !Array.isArray(payload)) {
        throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE', 'ACK needs an id and an array payload');
      }
      return { type, nsp, id, args: payload as unknown[] };
  }
}

export function encodeSocketPacket(packet: SocketPacket): string {
  const digit = SOCKET_TYPES.indexOf(packet.type);
  const nsp = packet.nsp === ROOT_NAMESPACE ? '' : `${packet.nsp},`;
  switch (packet.type) {
    case 'connect':
      return `${digit}${nsp}${packet.data === undefined ? '' : JSON.stringify(packet.data)}`;
    case 'disconnect':
      return `${digit}${nsp}`;
    case 'connect_error':
      return `${digit}${nsp}${JSON.stringify(packet.data)}`;
    case 'event':
      return `${digit}${nsp}${packet.id ?? ''}${JSON.stringify([packet.name, ...packet.args])}`;
    case 'ack':
      return `${digit}${nsp}${packet.id}${JSON.stringify(packet.args)}`;
  }
}

/** Decodes one websocket text frame through both layers. */
export function decodeFrame(frame: string): Frame {
  const engine = decodeEnginePacket(frame);
  if (engine.type === 'message') return { layer: 'socket', packet: decodeSocketPacket(engine.data) };
  return { layer: 'engine', packet: engine };
}

/** A websocket frame carrying a Socket.IO packet. */
export function encodeSocketFrame(packet: SocketPacket): string {
  return encodeEnginePacket({ type: 'message', data: encodeSocketPacket(packet) });
}

/** `40{"token":"…"}`: CONNECT with the handshake auth payload (Socket.IO's `auth` option). */
export function connectFrame(auth: Record<string, unknown>, nsp: string = ROOT_NAMESPACE): string {
  return encodeSocketFrame({ type: 'connect', nsp, data: auth });
}

/** `43<id>[...args]`: the answer to an event that carried ack id `id`. */
export function ackFrame(id: number, args: unknown[], nsp: string = ROOT_NAMESPACE): string {
  return encodeSocketFrame({ type: 'ack', nsp, id, args });
}

/** `42[<id>]["name",...args]`: an event from the client, optionally asking for an ack. */
export function eventFrame(name: string, args: unknown[], id?: number, nsp: string = ROOT_NAMESPACE): string {
  return encodeSocketFrame(id === undefined ? { type: 'event', nsp, name, args } : { type: 'event', nsp, id, name, args });
}

/**
 * `ws://host:port/socket.io/?EIO=4&transport=websocket` from an http(s) or ws(s) base URL.
 * The trailing slash matters: Socket.IO servers route `/socket.io/`.
 */
export function websocketUrl(baseUrl: string, path: string = DEFAULT_SOCKET_PATH): string {
  const m = /^(https?|wss?):\/\/([^/?#]+)/i.exec(baseUrl.trim());
  if (m === null) throw new FramingError('ORDERWIRE_ERR_LOADTEST_FRAMING_SHAPE', `not an http(s)/ws(s) URL: ${baseUrl}`);
  const scheme = m[1]!.toLowerCase();
  const secure = scheme === 'https' || scheme === 'wss';
  const trimmed = path.replace(/\/+$/, '');
  return `${secure ? 'wss' : 'ws'}://${m[2]}${trimmed}/?EIO=${ENGINE_IO_VERSION}&transport=websocket`;
}
