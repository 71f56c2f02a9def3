/**
 * Hostile clients against a real edge (real NATS, Redis, JWKS): oversize messages, message
 * floods, `auth:refresh` floods, too many connections from one address, raw transports that
 * never complete a handshake, half-open connections, and spoofed X-Forwarded-For.
 */
import type { Socket as NetSocket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Manager } from 'socket.io-client';
import { waitFor } from '@orderwire/test-harness';
import { TestDisplay, handshakeRefusal } from './support/display.js';
import { startEdge, type TestEdge } from './support/edge.js';
import { newDisplay, registerDisplay, startInfra, type Infra } from './support/infra.js';

let infra: Infra;
const edges: TestEdge[] = [];
const clients: { disconnect(): void }[] = [];

beforeAll(async () => {
  infra = await startInfra();
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const e of edges) await e.close();
  await infra?.dispose();
});

async function edgeWith(env: Record<string, string>): Promise<TestEdge> {
  const e = await startEdge(infra, env);
  edges.push(e);
  return e;
}

/** A registered display with a valid token, connected to `url`. */
async function connected(url: string, headers?: Record<string, string>): Promise<TestDisplay> {
  const d = newDisplay();
  await registerDisplay(infra, d);
  const display = new TestDisplay(await infra.jwks.sign(d), headers === undefined ? {} : { headers });
  clients.push(display);
  await display.connect(url);
  return display;
}

async function rateLimitedCount(edge: TestEdge, route: string): Promise<number> {
  const text = await (await fetch(`${edge.url}/metrics`)).text();
  const m = new RegExp(`orderwire_rate_limited_total\\{route="${route}"[^}]*\\} (\\d+)`).exec(text);
  return m === null ? 0 : Number(m[1]);
}

describe('message size', () => {
  it('closes the connection of a display that sends a message above EDGE_MAX_MESSAGE_BYTES', async () => {
    const edge = await edgeWith({ EDGE_MAX_MESSAGE_BYTES: '4096' });
    const display = await connected(edge.url);
    // Under the bound: an ordinary (if bogus) refresh is answered.
    const small = await display.refresh('x'.repeat(3000));
    expect(small).toMatchObject({ ok: false });
    expect(display.connected).toBe(true);
    // Above it: the transport is closed; no answer ever comes.
    display.socket!.emit('auth:refresh', { token: 'x'.repeat(8 * 1024) }, () => undefined);
    await waitFor(() => !display.connected, { timeoutMs: 5_000 });
    await waitFor(() => edge.app.sockets.sessions === 0, { timeoutMs: 5_000 });
  });
});

describe('per-socket message rate', () => {
  it('ends the session with `rate_limited` when a display floods messages', async () => {
    const edge = await edgeWith({ EDGE_SOCKET_EVENT_RATE: '2', EDGE_SOCKET_EVENT_BURST: '5' });
    const display = await connected(edge.url);
    const socket = display.socket as unknown as { emit(event: string, ...args: unknown[]): void };
    for (let i = 0; i < 30; i++) socket.emit('noise', i);
    await waitFor(() => display.sessionEnds.length > 0, { timeoutMs: 5_000 });
    expect(display.sessionEnds[0]).toMatchObject({ reason: 'rate_limited', reconnect: true });
    await waitFor(() => !display.connected, { timeoutMs: 5_000 });
    expect(await rateLimitedCount(edge, 'socket_event')).toBeGreaterThanOrEqual(1);
  });

  it('ends the session when a display floods `auth:refresh` (each a signature check)', async () => {
    const edge = await edgeWith({});
    const display = await connected(edge.url);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await display.refresh('not-a-jwt').catch((e: unknown) => ({ error: String(e) })));
    expect(answers.slice(0, 3).every((a) => 'ok' in a && a.ok === false && a.reason === 'unauthorized')).toBe(true);
    expect(answers[3]).toEqual({ ok: false, reason: 'rate_limited' });
    await waitFor(() => display.sessionEnds.some((e) => e.reason === 'rate_limited'), { timeoutMs: 5_000 });
    await waitFor(() => !display.connected, { timeoutMs: 5_000 });
  });

  it('leaves a display refreshing short-lived tokens at half-life alone past the burst (AUTH_DISPLAY_TOKEN_TTL of seconds)', async () => {
    // 4 s tokens (the system tests' TTL) refreshed every 2 s, as the SDK does: with a fixed
    // one-per-10-s budget the fourth refresh (8 s in) was refused and the session ended with
    // rate_limited.
    const edge = await edgeWith({});
    const d = newDisplay();
    await registerDisplay(infra, d);
    const display = new TestDisplay(await infra.jwks.sign(d, { ttlSec: 4 }));
    clients.push(display);
    await display.connect(edge.url);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await display.refresh(await infra.jwks.sign(d, { ttlSec: 4 })), `refresh ${i + 1}`).toMatchObject({ ok: true });
    }
    expect(display.sessionEnds).toEqual([]);
    expect(display.connected).toBe(true);
  });

  it('leaves an honest display alone under the defaults', async () => {
    const edge = await edgeWith({});
    const display = await connected(edge.url);
    expect(await display.refresh(display.token)).toMatchObject({ ok: true });
    expect(display.connected).toBe(true);
    expect(display.sessionEnds).toEqual([]);
  });
});

describe('connections per address', () => {
  it('refuses sessions past EDGE_MAX_CONNECTIONS_PER_ADDRESS with `rate_limited`, and frees the slot on disconnect', async () => {
    const edge = await edgeWith({ EDGE_MAX_CONNECTIONS_PER_ADDRESS: '2' });
    const a = await connected(edge.url);
    await connected(edge.url);
    const d = newDisplay();
    await registerDisplay(infra, d);
    const token = await infra.jwks.sign(d);
    expect(await handshakeRefusal(edge.url, token)).toBe('rate_limited');
    expect(await rateLimitedCount(edge, 'connection_cap')).toBeGreaterThanOrEqual(1);
    a.disconnect();
    await waitFor(() => edge.app.sockets.sessions === 1, { timeoutMs: 5_000 });
    await waitFor(async () => (await handshakeRefusal(edge.url, token)) === undefined, { timeoutMs: 5_000 });
  });

  it('bounds raw transport connections that never complete a handshake, and closes them after EDGE_CONNECT_TIMEOUT', async () => {
    const edge = await edgeWith({ EDGE_MAX_CONNECTIONS_PER_ADDRESS: '2', EDGE_CONNECT_TIMEOUT: '1500ms' });
    const open = (): Promise<Manager | Error> =>
      new Promise((resolve) => {
        const m = new Manager(edge.url, { path: '/socket.io', transports: ['websocket'], reconnection: false, autoConnect: false, timeout: 5_000 });
        clients.push({ disconnect: () => m.engine?.close() });
        m.open((err?: Error) => resolve(err ?? m));
      });
    const raw = [];
    for (let i = 0; i < 4; i++) raw.push(await open());
    expect(raw.every((r) => r instanceof Manager)).toBe(true);
    // 2 × the session cap: the fifth is refused at the upgrade.
    expect(await open()).toBeInstanceOf(Error);
    // Never joined a namespace: closed by the server after the connect timeout, slots freed.
    const first = raw[0] as Manager;
    await waitFor(() => first.engine.readyState === 'closed', { timeoutMs: 6_000 });
    expect(await open()).toBeInstanceOf(Manager);
  });
});

describe('half-open connections', () => {
  it('drops a display that stops answering heartbeats within EDGE_PING_INTERVAL + EDGE_PING_TIMEOUT', async () => {
    const edge = await edgeWith({ EDGE_PING_INTERVAL: '500ms', EDGE_PING_TIMEOUT: '500ms' });
    const display = await connected(edge.url);
    expect(edge.app.sockets.sessions).toBe(1);
    // Stop reading the TCP stream: the server's pings are never seen, no pong is ever sent.
    const transport = display.socket!.io.engine.transport as unknown as { ws: { _socket: NetSocket } };
    transport.ws._socket.pause();
    const silentAt = Date.now();
    await waitFor(() => edge.app.sockets.sessions === 0, { timeoutMs: 5_000, intervalMs: 50 });
    expect(Date.now() - silentAt).toBeLessThan(500 + 500 + 1_500);
  });
});

describe('client address behind proxies', () => {
  it('without TRUSTED_PROXIES, a spoofed X-Forwarded-For does not buy new handshake budget', async () => {
    const edge = await edgeWith({ EDGE_HANDSHAKE_RATE: '0.1', EDGE_HANDSHAKE_BURST: '2' });
    const d = newDisplay();
    await registerDisplay(infra, d);
    const token = await infra.jwks.sign(d);
    const reasons = [];
    for (let i = 0; i < 3; i++) reasons.push(await handshakeRefusal(edge.url, token, { 'x-forwarded-for': `198.51.100.${i + 1}` }));
    expect(reasons).toEqual([undefined, undefined, 'rate_limited']);
  });

  it('with TRUSTED_PROXIES, the first untrusted hop from the right is the client, not the spoofed leftmost', async () => {
    const edge = await edgeWith({ EDGE_HANDSHAKE_RATE: '0.1', EDGE_HANDSHAKE_BURST: '2', TRUSTED_PROXIES: '127.0.0.1,::1' });
    const d = newDisplay();
    await registerDisplay(infra, d);
    const token = await infra.jwks.sign(d);
    // Same real client (198.51.100.7, appended by the proxy), a new lie on the left each time.
    const spoofed = [];
    for (let i = 0; i < 3; i++) spoofed.push(await handshakeRefusal(edge.url, token, { 'x-forwarded-for': `10.9.9.${i}, 198.51.100.7` }));
    expect(spoofed).toEqual([undefined, undefined, 'rate_limited']);
    // A different real client behind the same proxy has its own budget.
    expect(await handshakeRefusal(edge.url, token, { 'x-forwarded-for': '198.51.100.8' })).toBeUndefined();
  });
});

describe('reconnection storm', () => {
  it('handshakes of many displays at once all get through a consumer-read bound of 1', async () => {
    const e = await edgeWith({ EDGE_HANDSHAKE_CONSUMER_READS: '1' });
    const displays = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const d = newDisplay();
        await registerDisplay(infra, d);
        const display = new TestDisplay(await infra.jwks.sign(d));
        clients.push(display);
        return display;
      }),
    );
    await Promise.all(displays.map((d) => d.connect(e.url)));
    await waitFor(() => e.app.sockets.sessions === 30, { timeoutMs: 10_000 });
  });
});
