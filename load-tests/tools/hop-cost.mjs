/**
 * What one message between two local processes costs in CPU, by how often messages come: the
 * floor under "CPU per order at 500/s" (docs/benchmarks.md round 13). No Orderwire code runs here.
 *
 *   node load-tests/tools/hop-cost.mjs [--seconds 10] [--rates 100,500,2000,0] [--nats <nats-server>]
 *
 * - `tcp`: this process sends 64 bytes over loopback TCP to a child Node process that echoes them;
 *   one message in flight, the next one paced at the rate (0: sent as soon as the echo is back).
 *   CPU of both processes per round trip (two one-way messages).
 * - `nats` (with `--nats`, a nats-server binary): the same through a nats-server started here on a
 *   free port, a core request from this process to a responder in the child (four one-way
 *   messages: client → server → responder → server → client); CPU of all three per round trip.
 *
 * The sender's figure includes its pacing timer; the echo's, the responder's and nats-server's are
 * what a process pays for a message that arrives and one it sends in answer.
 *
 * CPU is utime + stime from /proc/<pid>/stat over the measured window. Bounded: every phase lasts
 * `--seconds` (at most 60), every round trip gives up after 2 s.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { cpuMs, startChild } from './proc.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rates: { type: 'string', default: '100,500,2000,0' },
    nats: { type: 'string' },
    role: { type: 'string' },
    url: { type: 'string' },
  },
});

const SELF = new URL(import.meta.url).pathname;
const ROUND_TRIP_TIMEOUT_MS = 2_000;
const MESSAGE = Buffer.alloc(64, 'x');


// ---- child roles ----------------------------------------------------------------------------
if (values.role === 'echo') {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => socket.write(chunk));
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
} else if (values.role === 'responder') {
  const { connect } = await import('@nats-io/transport-node');
  const nc = await connect({ servers: values.url });
  nc.subscribe('hop.echo', { callback: (_err, msg) => msg.respond(msg.data) });
  await nc.flush();
  process.stdout.write('ready\n');
} else {
  await main();
}


/**
 * One message in flight: `roundTrip()` sends and resolves when `arrived()` is called (by the
 * answer's handler), or rejects after ROUND_TRIP_TIMEOUT_MS.
 */
function oneInFlight(send, what) {
  let waiting;
  return {
    arrived: () => waiting?.(),
    roundTrip: () =>
      new Promise((done, fail) => {
        const timer = setTimeout(() => fail(new Error(`${what} round trip timed out`)), ROUND_TRIP_TIMEOUT_MS);
        waiting = () => {
          clearTimeout(timer);
          done();
        };
        send();
      }),
  };
}

/** Paced one-in-flight round trips for `seconds`; returns round trips and CPU ms per process. */
async function phase(roundTrip, rate, seconds, pids) {
  const interval = rate > 0 ? 1000 / rate : 0;
  for (let i = 0; i < 200; i++) await roundTrip(); // warm-up
  const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuMs(p)]));
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let n = 0;
  let next = t0;
  while (performance.now() < end) {
    if (interval > 0) {
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
    await roundTrip();
    n++;
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuMs(p) - before[k]]));
  return { n, wall, cpu };
}

function report(mode, rate, hops, { n, wall, cpu }) {
  const per = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, +((v * 1000) / n).toFixed(1)]));
  const total = Object.values(cpu).reduce((a, b) => a + b, 0);
  console.log(
    JSON.stringify({
      mode,
      rate: rate > 0 ? rate : 'back-to-back',
      roundTripsPerS: +(n / wall).toFixed(0),
      cpuUsPerRoundTrip: per,
      cpuUsPerOneWayMessage: +((total * 1000) / n / hops).toFixed(1),
    }),
  );
}

async function main() {
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 60) throw new Error('--seconds must be in (0, 60]');
  const rates = values.rates.split(',').map(Number);
  if (rates.some((r) => !Number.isInteger(r) || r < 0 || r > 20_000)) throw new Error('--rates: integers in 0..20000 (0 = back to back)');
  if (values.nats !== undefined && !existsSync(resolve(values.nats))) {
    throw new Error(`--nats ${values.nats}: no such file (npm run tools fetches nats-server into .tools/bin)`);
  }

  // TCP echo
  {
    const { child, line } = await startChild(SELF, ['--role', 'echo']);
    try {
      const socket = createConnection({ port: Number(line), host: '127.0.0.1', noDelay: true });
      await once(socket, 'connect');
      const { roundTrip, arrived } = oneInFlight(() => socket.write(MESSAGE), 'tcp');
      socket.on('data', arrived);
      for (const rate of rates) report('tcp', rate, 2, await phase(roundTrip, rate, seconds, { self: process.pid, echo: child.pid }));
      socket.destroy();
    } finally {
      child.kill('SIGKILL');
    }
  }

  if (values.nats === undefined) return;
  // The harness's nats-server (temp dir, free ports, readiness, clean-up), on the binary given.
  process.env.ORDERWIRE_NATS_SERVER = resolve(values.nats);
  const { startNats } = await import('@orderwire/test-harness');
  const server = await startNats({ jetstream: false });
  try {
    const { connect } = await import('@nats-io/transport-node');
    const nc = await connect({ servers: server.url });
    const { child } = await startChild(SELF, ['--role', 'responder', '--url', server.url]);
    try {
      // One inbox subscription and a publish with a reply subject, as Orderwire's reply mux does
      // (nats.js's request() adds a timer and error objects per call).
      const inbox = `_INBOX.hop.${process.pid}`;
      const { roundTrip, arrived } = oneInFlight(() => nc.publish('hop.echo', MESSAGE, { reply: inbox }), 'nats');
      nc.subscribe(inbox, { callback: arrived });
      await nc.flush();
      for (const rate of rates) report('nats', rate, 4, await phase(roundTrip, rate, seconds, { self: process.pid, responder: child.pid, 'nats-server': server.pid }));
    } finally {
      child.kill('SIGKILL');
      await nc.close();
    }
  } finally {
    await server.dispose();
  }
}
