/**
 * SSRF protection: which addresses a webhook may reach, decided on the address the socket
 * connects to (a host NAME is resolved by the agent's guarded lookup, so a name that resolves
 * to the loopback is refused exactly like the literal).
 */
import { lookup } from 'node:dns/promises';
import type { WebhookDeliveryRecord } from '@orderwire/contracts';
import { createAddressPolicy, checkWebhookUrl } from '@orderwire/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSender } from '../src/sender.js';
import { addEndpoint, buildApp, publishReceipt, readDelivery, startEnv, startReceiver, waitValue, type Env, type Receiver } from './helpers.js';

describe('address policy', () => {
  const none = createAddressPolicy([]);
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['100.100.100.200', 'CGNAT'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fd00:ec2::254', 'ULA'],
    ['fc00::1', 'ULA'],
    ['fe80::1', 'link-local'],
    ['::ffff:127.0.0.1', 'mapped loopback'],
    ['::ffff:a9fe:a9fe', 'mapped metadata'],
    ['64:ff9b::7f00:1', 'NAT64'],
    ['2002:7f00:1::', '6to4'],
  ])('refuses %s (%s)', (address) => {
    expect(none.check(address).ok).toBe(false);
  });
  it.each(['93.184.215.14', '1.1.1.1', '2606:4700:4700::1111', '::ffff:1.1.1.1'])('allows the public address %s', (address) => {
    expect(none.check(address)).toEqual({ ok: true });
  });
  it('an allowlisted CIDR is allowed, and only it', () => {
    const p = createAddressPolicy(['127.0.0.1/32', '10.20.0.0/16']);
    expect(p.check('127.0.0.1').ok).toBe(true);
    expect(p.check('::ffff:127.0.0.1').ok).toBe(true);
    expect(p.check('127.0.0.2').ok).toBe(false);
    expect(p.check('10.20.3.4').ok).toBe(true);
    expect(p.check('10.21.3.4').ok).toBe(false);
    expect(() => createAddressPolicy(['10.0.0.0/33'])).toThrow(/not a CIDR/);
  });
  it('URLs: https only unless http is allowed; no credentials; IP literals checked at once', () => {
    const p = createAddressPolicy([]);
    expect(checkWebhookUrl('https://hooks.example.com/x', { allowHttp: false, policy: p }).ok).toBe(true);
    expect(checkWebhookUrl('http://hooks.example.com/x', { allowHttp: false, policy: p })).toEqual({ ok: false, reason: 'must use https' });
    expect(checkWebhookUrl('http://hooks.example.com/x', { allowHttp: true, policy: p }).ok).toBe(true);
    expect(checkWebhookUrl('ftp://hooks.example.com/x', { allowHttp: true, policy: p }).ok).toBe(false);
    expect(checkWebhookUrl('https://user:pw@hooks.example.com/', { allowHttp: false, policy: p }).ok).toBe(false);
    expect(checkWebhookUrl('https://169.254.169.254/latest/meta-data', { allowHttp: false, policy: p })).toMatchObject({ ok: false });
    expect(checkWebhookUrl('https://[::1]:8443/', { allowHttp: false, policy: p })).toMatchObject({ ok: false });
    expect(checkWebhookUrl('https://0x7f000001/', { allowHttp: false, policy: p })).toMatchObject({ ok: false }); // WHATWG URL normalises it to 127.0.0.1
    expect(checkWebhookUrl('not a url', { allowHttp: false, policy: p })).toMatchObject({ ok: false });
  });
});

describe('at connect time', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('a host name resolving to 127.0.0.1 is refused when the loopback is not allowlisted; the receiver sees nothing', async () => {
    const addrs = await lookup('localhost', { all: true });
    expect(addrs.some((a) => a.address === '127.0.0.1' || a.address === '::1')).toBe(true);
    const before = receiver.received.length;
    const sender = createSender({ policy: createAddressPolicy([]), allowHttp: true, timeoutMs: 2_000 });
    try {
      const r = await sender.send(`http://localhost:${receiver.port}/hook`, {}, '{}');
      expect(r).toMatchObject({ outcome: 'refused_address' });
      expect(r.error).toMatch(/ORDERWIRE_ERR_WEBHOOKS_ADDRESS_REFUSED|refused to connect to localhost/);
      const literal = await sender.send(receiver.url, {}, '{}');
      expect(literal).toMatchObject({ outcome: 'refused_address' });
    } finally {
      sender.close();
    }
    expect(receiver.received.length).toBe(before);
  });

  it('the same name is reached when its addresses are allowlisted', async () => {
    const sender = createSender({ policy: createAddressPolicy(['127.0.0.1/32', '::1/128']), allowHttp: true, timeoutMs: 2_000 });
    try {
      const r = await sender.send(`http://localhost:${receiver.port}/hook`, {}, '{}');
      expect(r).toMatchObject({ outcome: 'success', status: 204 });
    } finally {
      sender.close();
    }
  });

  it('http is refused at send time unless allowed', async () => {
    const sender = createSender({ policy: createAddressPolicy(['127.0.0.1/32']), allowHttp: false, timeoutMs: 2_000 });
    try {
      expect(await sender.send(receiver.url, {}, '{}')).toMatchObject({ outcome: 'refused_address' });
    } finally {
      sender.close();
    }
  });
});

describe('the dispatcher with the loopback not allowlisted', () => {
  let env: Env;
  let receiver: Receiver;
  beforeAll(async () => {
    env = await startEnv();
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await env.dispose();
  });

  it('records refused_address attempts and never connects', async () => {
    const ep = await addEndpoint(env, 't-ssrf', `http://localhost:${receiver.port}/hook`, ['order.displayed']);
    const app = await buildApp(env, { WEBHOOKS_ALLOWED_CIDRS: '', WEBHOOKS_RETRY_SCHEDULE: '100ms' });
    try {
      await publishReceipt(env, { tenant: 't-ssrf', orderId: 'o-1', displayId: 'd1', status: 'delivered', seq: 1 });
      const keys = await waitValue(async (): Promise<string[] | undefined> => {
        const k: string[] = [];
        for await (const key of await env.deliveriesKv.keys(`d.t-ssrf.${ep.id}.*`)) k.push(key);
        return k.length === 1 ? k : undefined;
      });
      const id = keys[0]!.split('.').at(-1)!;
      const rec = await waitValue(async (): Promise<WebhookDeliveryRecord | undefined> => {
        const d = await readDelivery(env, 't-ssrf', ep.id, id);
        return d?.state === 'failed' ? d : undefined;
      });
      expect(rec.attempts.map((a) => a.outcome)).toEqual(['refused_address', 'refused_address']);
      expect(receiver.received).toHaveLength(0);
    } finally {
      await app.close();
    }
  });
});
