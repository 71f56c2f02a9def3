import { describe, expect, it } from 'vitest';
import { parseBenchArgs, parseSeconds, workerCount } from '../src/args.js';
import { BenchError } from '../src/errors.js';

function usageError(argv: string[]): string {
  try {
    parseBenchArgs(argv);
  } catch (err) {
    if (err instanceof BenchError && err.code === 'ORDERWIRE_ERR_BENCH_USAGE') return err.message;
    throw err;
  }
  throw new Error('no usage error');
}

describe('bench arguments', () => {
  it('defaults to the standard profile', () => {
    const o = parseBenchArgs([]);
    expect(o).toMatchObject({ displays: 1000, rate: 500, durationS: 60, edges: 2, target: 'own', floor: false, fault: undefined, fanout: 1 });
    expect(o.faultAtS).toBe(20);
    expect(o.connectTimeoutS).toBe(62);
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('reads the scale run with a fault', () => {
    const o = parseBenchArgs(['--displays', '10000', '--rate=1000', '--duration', '2m', '--edges', '1', '--fault', 'restart-nats', '--floor', '--out', 'results/x.json']);
    expect(o).toMatchObject({ displays: 10_000, rate: 1000, durationS: 120, edges: 1, fault: 'restart-nats', floor: true, out: 'results/x.json' });
    expect(o.faultAtS).toBe(40);
    expect(o.faultForS).toBe(2);
    expect(parseBenchArgs(['--fault', 'kill-edge', '--duration', '30']).faultForS).toBe(10);
  });

  it('refuses what it cannot run', () => {
    expect(usageError(['--displays', '0'])).toMatch(/--displays/);
    expect(usageError(['--rate', '-5'])).toMatch(/--rate/);
    expect(usageError(['--fault', 'meteor'])).toMatch(/kill-edge, restart-nats, kill-redis, flap/);
    expect(usageError(['--fault', 'kill-edge', '--target', 'local'])).toMatch(/--target own/);
    expect(usageError(['--fault', 'flap', '--fault-at', '70'])).toMatch(/inside/);
    expect(usageError(['--bogus'])).toMatch(/unknown option --bogus/);
    expect(usageError(['--displays'])).toMatch(/needs a value/);
    expect(usageError(['--rate', '1', '--rate', '2'])).toMatch(/twice/);
    expect(usageError(['--floor=yes'])).toMatch(/takes no value/);
    expect(usageError(['--fanout', '5', '--displays', '4'])).toMatch(/--fanout/);
    expect(usageError(['--edge-urls', 'tcp://x'])).toMatch(/http/);
    expect(usageError(['stray'])).toMatch(/unexpected argument/);
  });

  it('allows flapping on a shared stack', () => {
    expect(parseBenchArgs(['--target', 'local', '--fault', 'flap']).fault).toBe('flap');
  });

  it('parses durations in seconds', () => {
    expect([parseSeconds('d', '90'), parseSeconds('d', '90s'), parseSeconds('d', '1.5m'), parseSeconds('d', '500ms')]).toEqual([90, 90, 90, 0.5]);
    expect(() => parseSeconds('d', 'soon')).toThrow(BenchError);
  });

  it('runs the displays on the SDK unless --client protocol says otherwise', () => {
    expect(parseBenchArgs([]).client).toBe('sdk');
    expect(parseBenchArgs(['--profile', 'scale', '--client', 'protocol']).client).toBe('protocol');
    expect(usageError(['--client', 'socketio'])).toMatch(/--client socketio must be one of sdk, protocol/);
  });

  it('windows the latency timeline by 5 s unless --latency-window says otherwise', () => {
    expect(parseBenchArgs([]).latencyWindowS).toBe(5);
    expect(parseBenchArgs(['--profile', 'scale', '--latency-window', '1']).latencyWindowS).toBe(1);
    expect(usageError(['--latency-window', '0'])).toMatch(/--latency-window 0 must be a positive number/);
    expect(usageError(['--latency-window', 'often'])).toMatch(/--latency-window often must be a positive number/);
  });

  it('prefills RECEIPTS only when asked, with a bounded count or up to its max_bytes, on its own stack', () => {
    expect(parseBenchArgs([]).prefillReceipts).toBeUndefined();
    expect(parseBenchArgs(['--prefill-receipts', 'full']).prefillReceipts).toBe('full');
    expect(parseBenchArgs(['--prefill-receipts', '2000000']).prefillReceipts).toBe(2_000_000);
    // The scale profiles measure the steady state unless told otherwise.
    expect(parseBenchArgs(['--profile', 'scale']).prefillReceipts).toBe('full');
    expect(parseBenchArgs(['--profile', 'scale-fanout']).prefillReceipts).toBe('full');
    expect(parseBenchArgs(['--profile', 'scale', '--prefill-receipts', 'none']).prefillReceipts).toBeUndefined();
    expect(parseBenchArgs(['--profile', 'fleet-20k']).prefillReceipts).toBeUndefined();
    expect(parseBenchArgs(['--profile', 'scale', '--target', 'local']).prefillReceipts).toBeUndefined();
    for (const bad of ['0', '-5', '1.5', 'lots', '20000001']) expect(usageError(['--prefill-receipts', bad])).toContain('--prefill-receipts');
    expect(usageError(['--prefill-receipts', 'full', '--target', 'local'])).toContain('--target own');
    expect(usageError(['--prefill-receipts', '10', '--profile', 'ingest-capacity'])).toContain('delivery run');
  });

  it("runs the 10,000-display profiles on production's 16 order partitions and the 20,000 on 32, unless told otherwise", () => {
    expect(parseBenchArgs([]).partitions).toBeUndefined();
    expect(parseBenchArgs(['--profile', 'scale']).partitions).toBe(16);
    expect(parseBenchArgs(['--profile', 'scale-fanout']).partitions).toBe(16);
    expect(parseBenchArgs(['--profile', 'storm']).partitions).toBe(16);
    expect(parseBenchArgs(['--profile', 'fleet-20k']).partitions).toBe(32);
    expect(parseBenchArgs(['--profile', 'scale', '--partitions', '64']).partitions).toBe(64);
    expect(parseBenchArgs(['--profile', 'scale', '--target', 'local']).partitions).toBeUndefined();
    expect(usageError(['--profile', 'scale', '--partitions', '48'])).toContain('power of two');
  });

  it('leaves a prefilled RECEIPTS untouched 140 s by default, as long as asked, or not at all', () => {
    expect(parseBenchArgs(['--profile', 'scale']).prefillIdleS).toBe(140);
    expect(parseBenchArgs(['--prefill-receipts', 'full', '--prefill-idle', '0']).prefillIdleS).toBe(0);
    expect(parseBenchArgs(['--prefill-receipts', 'full', '--prefill-idle', '3m']).prefillIdleS).toBe(180);
    expect(parseBenchArgs([]).prefillIdleS).toBe(0);
    expect(parseBenchArgs(['--profile', 'scale', '--prefill-receipts', 'none']).prefillIdleS).toBe(0);
    expect(usageError(['--prefill-idle', '60'])).toContain('--prefill-receipts');
    expect(usageError(['--prefill-receipts', 'full', '--prefill-idle', '901'])).toContain('at most 900');
    expect(usageError(['--prefill-receipts', 'full', '--prefill-idle', 'soon'])).toContain('--prefill-idle');
  });

  it('sizes the worker pool', () => {
    expect(workerCount({ workers: 0, displays: 1000 })).toBe(1);
    expect(workerCount({ workers: 0, displays: 10_000 })).toBe(4);
    expect(workerCount({ workers: 3, displays: 2 })).toBe(2);
  });

  it('profiles set the defaults of the issue’s runs; flags still win', () => {
    expect(parseBenchArgs(['--profile', 'scale'])).toMatchObject({ profile: 'scale', displays: 10_000, rate: 1000, edges: 1, connectTimeoutS: 900 });
    expect(parseBenchArgs(['--profile', 'fleet-20k'])).toMatchObject({ displays: 20_000, edges: 2, fanout: 10, rate: 100 });
    expect(parseBenchArgs(['--profile', 'storm'])).toMatchObject({ fault: 'storm', displays: 10_000, edges: 1, faultAtS: 15, faultForS: 1 });
    expect(parseBenchArgs(['--profile', 'storm', '--displays', '500', '--fault-at', '5'])).toMatchObject({ fault: 'storm', displays: 500, faultAtS: 5 });
    expect(parseBenchArgs(['--profile', 'ingest-capacity'])).toMatchObject({ mode: 'ingest-capacity', durationS: 15, batchSize: 50 });
    expect(parseBenchArgs(['--json'])).toMatchObject({ json: true, profile: 'standard', mode: 'delivery' });
    expect(() => parseBenchArgs(['--profile', 'huge'])).toThrow(/--profile huge must be one of/);
    expect(() => parseBenchArgs(['--mode', 'ingest-capacity', '--fault', 'flap'])).toThrow(/delivery runs only/);
    expect(() => parseBenchArgs(['--batch-size', '101'])).toThrow(/at most 100/);
    expect(() => parseBenchArgs(['--fault', 'storm', '--target', 'local'])).toThrow(/needs --target own/);
  });
});

describe('--partitions', () => {
  it('is the own stack’s JETSTREAM_ORDER_PARTITIONS: a power of two up to 256, unset by default', () => {
    expect(parseBenchArgs([]).partitions).toBeUndefined();
    expect(parseBenchArgs(['--partitions', '16']).partitions).toBe(16);
    for (const bad of ['3', '0', '512', 'x']) expect(() => parseBenchArgs(['--partitions', bad])).toThrow(/partitions/);
    expect(() => parseBenchArgs(['--partitions', '4', '--target', 'local'])).toThrow(/--target own/);
  });
});
