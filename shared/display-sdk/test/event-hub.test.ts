/** The event hub behind the client's `on`/`off`. */
import { describe, expect, it } from 'vitest';
import { EventHub } from '../src/emitter.js';
import type { DisplaySdkError } from '../src/errors.js';

describe('EventHub', () => {
  it('reports a throwing or rejecting listener on error instead of breaking the emitter', async () => {
    const hub = new EventHub<{ ping: () => void | Promise<void>; error: (err: DisplaySdkError) => void }>();
    const errors: DisplaySdkError[] = [];
    let after = 0;
    hub.on('error', (e) => void errors.push(e));
    hub.on('ping', () => {
      throw new Error('boom');
    });
    hub.on('ping', async () => {
      await Promise.resolve();
      throw new Error('async boom');
    });
    hub.on('ping', () => void after++);
    hub.emit('ping');
    await new Promise((r) => setTimeout(r, 0));
    expect(after).toBe(1);
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['ORDERWIRE_ERR_SDK_LISTENER_FAILED', 'a ping listener threw: boom'],
      ['ORDERWIRE_ERR_SDK_LISTENER_FAILED', 'a ping listener threw: async boom'],
    ]);
  });

  it('on() returns an unsubscribe function', () => {
    const hub = new EventHub<{ ping: () => void; error: (err: DisplaySdkError) => void }>();
    let n = 0;
    const off = hub.on('ping', () => void n++);
    hub.emit('ping');
    off();
    hub.emit('ping');
    expect(n).toBe(1);
  });
});
