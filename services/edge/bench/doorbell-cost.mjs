/**
 * What the doorbell costs, apart from the rest of the edge, on a real nats-server with the platform
 * topology (ORDERS and its ring republish). `--edges E` doorbells on their own connections stand
 * for E edges; N displays (a station subject and the display's own; 4 stations per store, one
 * display per station) are spread over them as the load bench places them (display i on edge i mod E).
 *
 * - connect: the doorbells register every display's filter subjects; per display, this process's
 *   CPU to register (and later unregister) and nats-server's CPU to take the SUBs (UNSUBs), and the
 *   heap a full GC leaves;
 * - rings (`--orders M`): M station orders published through JetStream (PubAck awaited, 64 in
 *   flight); per order, nats-server's CPU (store + republish) and this process's (publisher and
 *   both doorbells), the rings each doorbell received and how many woke no mailbox.
 *
 * `--doorbell <path>` runs another build's doorbell.js (e.g. a copy of the previous dist/), so two
 * builds can be measured back to back with the same command.
 *
 *   nice -n 19 node --expose-gc services/edge/bench/doorbell-cost.mjs [--displays 10000] [--orders 20000] [--edges 2] [--doorbell <dist>/delivery/doorbell.js]
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { displaySubject, stationSubject } from '@orderwire/contracts';
import { ensureTopology } from '@orderwire/platform';
import { startNats } from '@orderwire/test-harness';
import { pino } from 'pino';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? dflt : argv[i + 1];
};
const displays = Number(opt('displays', '10000'));
const orders = Number(opt('orders', '20000'));
const EDGES = Number(opt('edges', '2'));
const doorbellPath = resolve(opt('doorbell', resolve(here, '../dist/delivery/doorbell.js')));
const STATIONS_PER_STORE = 4;
const IN_FLIGHT = 64;
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');

const { createDoorbell } = await import(pathToFileURL(doorbellPath).href);
const nats = await startNats();
const pub = await connect({ servers: nats.url });
await ensureTopology(pub);
const js = jetstream(pub);
const serverCpuMs = () => {
  const f = readFileSync(`/proc/${nats.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime in USER_HZ (100)
};
const ownCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const heap = () => {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
};
const settle = () => new Promise((r) => setTimeout(r, 500));
const cpu = () => ({ own: ownCpuMs(), server: serverCpuMs() });
const since = (c0, per) => ({ own: Number((((ownCpuMs() - c0.own) * 1000) / per).toFixed(2)), server: Number((((serverCpuMs() - c0.server) * 1000) / per).toFixed(2)) });

const edges = [];
for (let e = 0; e < EDGES; e++) {
  const nc = await connect({ servers: nats.url });
  const received = { matched: 0, unmatched: 0 };
  edges.push({ nc, received, bell: createDoorbell(nc, pino({ level: 'silent' }), (m) => (m ? received.matched++ : received.unmatched++)) });
}
const boxes = [];
const stations = [];
for (let i = 0; i < displays; i++) {
  const store = `s${Math.floor(i / STATIONS_PER_STORE)}`;
  const station = stationSubject('t1', store, `st${i % STATIONS_PER_STORE}`);
  stations.push(station);
  boxes.push({ edge: edges[i % EDGES], target: { rings: 0, ring() {} }, subjects: [station, displaySubject('t1', store, `d${i}`)] });
}
const flushAll = () => Promise.all(edges.map((e) => e.nc.flush()));

await flushAll();
await settle();
const heap0 = heap();
let c0 = cpu();
for (const b of boxes) b.edge.bell.register(b.target, b.subjects);
await flushAll();
await settle();
const register = since(c0, displays);
const heapBytesPerDisplay = Math.round((heap() - heap0) / displays);
const subscriptions = edges.map((e) => e.bell.subscriptions);

let ringsPerOrder;
let rings;
if (orders > 0) {
  const body = JSON.stringify({ order: 'x'.repeat(200) });
  await settle();
  c0 = cpu();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < orders) {
        const n = next++;
        await js.publish(stations[(n * 7919) % displays], body);
      }
    }),
  );
  await flushAll();
  await settle();
  rings = since(c0, orders);
  ringsPerOrder = edges.map((e) => ({ matched: Number((e.received.matched / orders).toFixed(3)), unmatched: Number((e.received.unmatched / orders).toFixed(3)) }));
}

c0 = cpu();
for (const b of boxes) b.edge.bell.unregister(b.target, b.subjects);
await flushAll();
await settle();
const unregister = since(c0, displays);
console.log(
  JSON.stringify({
    doorbell: doorbellPath,
    displays,
    subscriptionsPerEdge: subscriptions,
    connectUsPerDisplay: { register, unregister },
    heapBytesPerDisplay,
    ...(orders > 0 ? { orders, usPerOrder: rings, ringsPerOrderPerEdge: ringsPerOrder } : {}),
    subscriptionsAfter: edges.map((e) => e.bell.subscriptions),
  }),
);
await Promise.all([pub, ...edges.map((e) => e.nc)].map((nc) => nc.close()));
await nats.dispose();
