import { constants } from 'node:os';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { SHUTDOWN_EXIT_CODES, createShutdown } from '../src/shutdown.js';

function setup(deadlineMs = 2_000, signals: NodeJS.Signals[] = []) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger({ service: 't', version: '0', destination });
  const exits: number[] = [];
  const shutdown = createShutdown({ logger, deadlineMs, exit: (c) => exits.push(c), signals });
  return { shutdown, exits, lines };
}

describe('createShutdown', () => {
  it('runs steps in reverse registration order, each awaited', async () => {
    const { shutdown, exits } = setup();
    const order: string[] = [];
    shutdown.add('nats', async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push('nats');
    });
    shutdown.add('http', async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push('http');
    });
    shutdown.add('consumers', () => {
      order.push('consumers');
    });
    expect(await shutdown.run('test')).toBe(0);
    expect(order).toEqual(['consumers', 'http', 'nats']);
    expect(exits).toEqual([0]);
  });

  it('keeps going after a failing step and exits 1', async () => {
    const { shutdown, exits, lines } = setup();
    const ran: string[] = [];
    shutdown.add('first', () => {
      ran.push('first');
    });
    shutdown.add('broken', async () => {
      throw new Error('close failed');
    });
    shutdown.add('last', () => {
      ran.push('last');
    });
    expect(await shutdown.run('test')).toBe(SHUTDOWN_EXIT_CODES.stepFailed);
    expect(ran).toEqual(['last', 'first']);
    expect(exits).toEqual([1]);
    expect(lines.find((l) => l.msg === 'shutdown step failed')).toMatchObject({ step: 'broken', level: 'error' });
  });

  it('exits 124 naming the hung step when the deadline passes', async () => {
    const { shutdown, exits, lines } = setup(100);
    const ran: string[] = [];
    shutdown.add('never-reached', () => {
      ran.push('never-reached');
    });
    shutdown.add('hangs', () => new Promise<void>(() => undefined));
    shutdown.add('quick', () => {
      ran.push('quick');
    });
    const t0 = Date.now();
    expect(await shutdown.run('SIGTERM')).toBe(124);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(ran).toEqual(['quick']);
    expect(exits).toEqual([124]);
    expect(lines.find((l) => l.msg === 'shutdown deadline exceeded')).toMatchObject({
      step: 'hangs',
      code: 'ORDERWIRE_ERR_SHUTDOWN_TIMEOUT',
    });
  });

  it('is idempotent: a second run returns the same promise and steps run once', async () => {
    const { shutdown, exits } = setup();
    let runs = 0;
    shutdown.add('once', () => {
      runs++;
    });
    const a = shutdown.run('a');
    const b = shutdown.run('b');
    expect(b).toBe(a);
    expect(shutdown.stopping).toBe(true);
    await Promise.all([a, b]);
    expect(runs).toBe(1);
    expect(exits).toEqual([0]);
  });

  it('starts on a signal and forces exit on a second one', async () => {
    const { shutdown, exits, lines } = setup(5_000, ['SIGUSR2']);
    let release!: () => void;
    shutdown.add('slow', () => new Promise<void>((r) => (release = r)));
    const listenersBefore = process.listenerCount('SIGUSR2');
    const uninstall = shutdown.install();
    try {
      process.emit('SIGUSR2');
      expect(shutdown.stopping).toBe(true);
      process.emit('SIGUSR2');
      expect(exits).toEqual([128 + constants.signals.SIGUSR2]);
      expect(lines.some((l) => l.msg === 'second signal during shutdown; forcing exit')).toBe(true);
      release();
      expect(await shutdown.run('ignored')).toBe(0);
      // exit is called once even though the steps finished afterwards.
      expect(exits).toHaveLength(1);
    } finally {
      uninstall();
    }
    expect(process.listenerCount('SIGUSR2')).toBe(listenersBefore);
  });
});
