/**
 * Ingest capacity (issue 14 §4): the sustained maximum of the same stack, in the same run, three
 * ways — single-order `POST /v1/orders`, `POST /v1/orders/batch`, and raw JetStream publishes of
 * the same envelopes from this process (PubAck awaited, the floor ingest is measured against).
 * Each phase runs closed-loop (a fixed number in flight, the next sent as one is answered) for a
 * bounded time; the ratios to raw are the targets (≥ 0.3 single, ≥ 0.6 batch).
 *
 * The displays are registered, not connected: every order gets its receipts and its consumer as
 * in a delivery run, but only intake is measured.
 */
import { randomUUID } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { HEADERS, ORDER_ENVELOPE_VERSION, stationSubject, type OrderBatchResponse, type OrderEnvelope } from '@orderwire/contracts';
import type { HttpClient } from './http.js';
import { groupPlacement, orderBody, orderGroup, type Fleet } from './plan.js';
import type { ProcessSampler } from './proc-stats.js';
import { Samples, type LatencySummary } from './stats.js';

/** Targets of issue 14: ingest's sustained maximum as a share of raw JetStream publishing. */
export const CAPACITY_TARGETS = Object.freeze({ single: 0.3, batch: 0.6 });

export type CapacityPhaseName = 'single' | 'batch' | 'raw';

export interface CapacityPhase {
  name: CapacityPhaseName;
  /** Orders accepted (202 per order, or PubAck) per second over the phase. */
  ordersPerS: number;
  orders: number;
  /** Requests (HTTP) or publishes answered with something other than acceptance. */
  failed: number;
  seconds: number;
  /** Per request: one order, one batch, one publish. */
  latencyMs: LatencySummary | undefined;
  /** CPU ms per accepted order, by process (utime+stime over the phase). */
  cpuMsPerOrder: Record<string, number>;
}

export interface CapacityResult {
  phases: CapacityPhase[];
  batchSize: number;
  concurrency: number;
  /** ordersPerS of single and batch as a share of raw. */
  ratios: { single: number; batch: number };
}

export interface CapacityOptions {
  http: HttpClient;
  ingestUrl: string;
  natsUrl: string;
  fleet: Fleet;
  tenant: string;
  token: () => string;
  seconds: number;
  concurrency: number;
  batchSize: number;
  sampler: ProcessSampler;
  log: (line: string) => void;
}

/** Runs `worker` with `width` in flight until `seconds` have passed; returns the wall time. */
async function closedLoop(width: number, seconds: number, worker: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (performance.now() < end) await worker();
    }),
  );
  return (performance.now() - t0) / 1000;
}

function cpuPerOrder(sampler: ProcessSampler, windowS: number, orders: number): Record<string, number> {
  const pct = sampler.cpuSinceMark();
  const out: Record<string, number> = {};
  for (const [name, p] of Object.entries(pct)) out[name] = orders > 0 ? ((p / 100) * windowS * 1000) / orders : 0;
  return out;
}

export async function runCapacity(o: CapacityOptions): Promise<CapacityResult> {
  let n = 0;
  const next = (): number => n++;
  const auth = (): Record<string, string> => ({ authorization: `Bearer ${o.token()}` });
  const phases: CapacityPhase[] = [];

  const phase = async (name: CapacityPhaseName, width: number, one: (lat: Samples) => Promise<{ ok: number; failed: number }>): Promise<void> => {
    o.log(`capacity: ${name} for ${o.seconds} s (${width} in flight)…`);
    const lat = new Samples(200_000);
    let ok = 0;
    let failed = 0;
    o.sampler.mark();
    const seconds = await closedLoop(width, o.seconds, async () => {
      const r = await one(lat);
      ok += r.ok;
      failed += r.failed;
    });
    phases.push({ name, ordersPerS: ok / seconds, orders: ok, failed, seconds, latencyMs: lat.summary(), cpuMsPerOrder: cpuPerOrder(o.sampler, seconds, ok) });
  };

  await phase('single', o.concurrency, async (lat) => {
    const t = performance.now();
    const res = await o.http.request('POST', `${o.ingestUrl}/v1/orders`, { body: orderBody(o.fleet, next(), new Date()), headers: auth() }).catch(() => undefined);
    lat.add(performance.now() - t);
    return res?.status === 202 ? { ok: 1, failed: 0 } : { ok: 0, failed: 1 };
  });

  // Fewer batches in flight carry the same number of orders as the single phase at most.
  await phase('batch', Math.max(1, Math.ceil(o.concurrency / 8)), async (lat) => {
    const orders = Array.from({ length: o.batchSize }, () => orderBody(o.fleet, next(), new Date()));
    const t = performance.now();
    const res = await o.http.request('POST', `${o.ingestUrl}/v1/orders/batch`, { body: { orders }, headers: auth() }).catch(() => undefined);
    lat.add(performance.now() - t);
    if (res === undefined || res.status >= 300) return { ok: 0, failed: orders.length };
    const results = (res.body as Partial<OrderBatchResponse>).results ?? [];
    const accepted = results.filter((r) => r.ok).length;
    return { ok: accepted, failed: orders.length - accepted };
  });

  // Raw: the envelope ingest would publish, to the same subjects, with a Nats-Msg-Id (the
  // duplicate window costs the server the same) and the PubAck awaited.
  const nc = await connect({ servers: o.natsUrl, name: 'bench-capacity' });
  try {
    const js = jetstream(nc);
    await phase('raw', o.concurrency, async (lat) => {
      const k = next();
      const body = orderBody(o.fleet, k, new Date());
      const { storeId, station } = groupPlacement(o.fleet, orderGroup(o.fleet, k));
      const acceptedAt = Date.now();
      const traceId = randomUUID().replace(/-/g, '');
      const envelope = { v: ORDER_ENVELOPE_VERSION, tenant: o.tenant, acceptedAt, traceId, order: { ...body, priority: 'normal', metadata: {} } } as unknown as OrderEnvelope;
      const h = natsHeaders();
      h.set(HEADERS.orderId, String(body.orderId));
      h.set(HEADERS.tenant, o.tenant);
      h.set(HEADERS.acceptedAt, String(acceptedAt));
      h.set(HEADERS.traceId, traceId);
      const t = performance.now();
      try {
        await js.publish(stationSubject(o.tenant, storeId, station), JSON.stringify(envelope), { headers: h, msgID: `${o.tenant}:${String(body.orderId)}` });
        lat.add(performance.now() - t);
        return { ok: 1, failed: 0 };
      } catch {
        return { ok: 0, failed: 1 };
      }
    });
  } finally {
    await nc.close();
  }
  const rate = (name: CapacityPhaseName): number => phases.find((p) => p.name === name)?.ordersPerS ?? 0;
  const raw = rate('raw');
  return {
    phases,
    batchSize: o.batchSize,
    concurrency: o.concurrency,
    ratios: { single: raw > 0 ? rate('single') / raw : 0, batch: raw > 0 ? rate('batch') / raw : 0 },
  };
}
