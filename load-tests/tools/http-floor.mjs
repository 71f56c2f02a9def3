/**
 * What an HTTP request costs a Node server on this machine before any of ingest's work: the floor
 * under "ingest single-order requests vs raw publish" (docs/benchmarks.md round 15). No Orderwire
 * code runs here.
 *
 *   node load-tests/tools/http-floor.mjs [--seconds 10] [--inflight 64] [--servers node,fastify]
 *
 * A child process serves `POST /v1/orders`: it reads the JSON body (~250 bytes, shaped as the
 * bench's orders), parses it and answers 202 with a JSON body of the size ingest answers
 * (~200 bytes). `node` is a bare node:http server; `fastify` is fastify (ingest's version, its
 * default JSON parser) with one route. This process is the client the bench uses for ingest's
 * capacity phases — undici, keep-alive, `--inflight` requests in flight, the next sent as one is
 * answered — for `--seconds` after a warm-up.
 *
 * Prints one JSON line per server: requests per second and the CPU µs per request of the server
 * and of the client (utime + stime from /proc/<pid>/stat over the measured window). Bounded:
 * `--seconds` at most 60, every request gives up after 10 s.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { cpuMs, startChild } from './proc.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    inflight: { type: 'string', default: '64' },
    servers: { type: 'string', default: 'node,fastify' },
    role: { type: 'string' },
  },
});

const SELF = new URL(import.meta.url).pathname;
const REQUEST_TIMEOUT_MS = 10_000;
const WARMUP_REQUESTS = 2_000;
const SERVERS = ['node', 'fastify'];


/** An answer the size of ingest's 202 for a station order. */
function accepted(order) {
  return {
    orderId: order.orderId,
    status: 'accepted',
    duplicate: false,
    stream: 'ORDERS_P07',
    seq: 1234567,
    acceptedAt: 1765142400000,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    statusUrl: `/v1/orders/${order.orderId}`,
  };
}

// ---- child roles ----------------------------------------------------------------------------
if (values.role === 'node') {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify(accepted(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      res.writeHead(202, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
} else if (values.role === 'fastify') {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false, keepAliveTimeout: 30_000 });
  app.post('/v1/orders', async (req, reply) => reply.code(202).send(accepted(req.body)));
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`${app.server.address().port}\n`);
} else {
  await main();
}


async function main() {
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 60) throw new Error('--seconds must be in (0, 60]');
  const inflight = Number(values.inflight);
  if (!Number.isInteger(inflight) || inflight < 1 || inflight > 1_024) throw new Error('--inflight must be an integer in 1..1024');
  const servers = values.servers.split(',');
  for (const s of servers) if (!SERVERS.includes(s)) throw new Error(`--servers: ${s} is not one of ${SERVERS.join(', ')}`);
  const { Agent } = await import('undici');

  for (const role of servers) {
    const { child, line } = await startChild(SELF, ['--role', role]);
    const port = Number(line);
    const agent = new Agent({ connections: inflight, pipelining: 1, keepAliveTimeout: 30_000 });
    try {
      let n = 0;
      const one = async () => {
        const k = n++;
        const res = await agent.request({
          origin: `http://127.0.0.1:${port}`,
          path: '/v1/orders',
          method: 'POST',
          headers: { accept: 'application/json', 'content-type': 'application/json', authorization: `Bearer ${'x'.repeat(600)}` },
          body: JSON.stringify({
            orderId: `run-0123456789-${k}`,
            storeId: 'store-0042',
            station: 'station-3',
            items: [
              { name: 'Burger', qty: 1 },
              { name: 'Fries', qty: 2 },
            ],
            createdAt: new Date().toISOString(),
          }),
          headersTimeout: REQUEST_TIMEOUT_MS,
          bodyTimeout: REQUEST_TIMEOUT_MS,
        });
        await res.body.text();
        if (res.statusCode !== 202) throw new Error(`${role}: answered ${res.statusCode}`);
      };
      const loop = async (until) => {
        await Promise.all(
          Array.from({ length: inflight }, async () => {
            while (until()) await one();
          }),
        );
      };
      await loop(() => n < WARMUP_REQUESTS);
      const before = { client: cpuMs(process.pid), server: cpuMs(child.pid) };
      const first = n;
      const t0 = performance.now();
      await loop(() => performance.now() - t0 < seconds * 1000);
      const wall = (performance.now() - t0) / 1000;
      const done = n - first;
      const per = (pid, was) => +(((cpuMs(pid) - was) * 1000) / done).toFixed(1);
      console.log(
        JSON.stringify({
          server: role,
          inflight,
          requestsPerS: +(done / wall).toFixed(0),
          cpuUsPerRequest: { server: per(child.pid, before.server), client: per(process.pid, before.client) },
        }),
      );
    } finally {
      await agent.close();
      child.kill('SIGKILL');
    }
  }
}
