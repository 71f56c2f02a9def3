/**
 * `NODE_OPTIONS="--import <this file>" EDGE_MAIN_OVERRIDE=<other build's main.js>`: a process whose
 * INSTANCE_ID starts with `edge` runs that build instead of services/edge/dist/main.js, so
 * delivery-cost.ts can interleave runs of two builds in one stack layout.
 * `EDGE_MAIN_OVERRIDE_<INSTANCE_ID, - as _>` (e.g. `EDGE_MAIN_OVERRIDE_edge_2`) overrides one edge
 * only: two builds side by side in one bench stack see the same load, the fairest A/B on a busy
 * machine (docs/benchmarks.md, round 8).
 */
const instance = process.env.INSTANCE_ID ?? '';
const override = process.env[`EDGE_MAIN_OVERRIDE_${instance.replace(/-/g, '_')}`] || process.env.EDGE_MAIN_OVERRIDE;
if (override && instance.startsWith('edge')) {
  const { register } = await import('node:module');
  const { pathToFileURL } = await import('node:url');
  register(
    `data:text/javascript,${encodeURIComponent(`
      const target = ${JSON.stringify(pathToFileURL(override).href)};
      export async function resolve(spec, ctx, next) {
        const r = await next(spec, ctx);
        return r.url.endsWith('/services/edge/dist/main.js') && ctx.parentURL === undefined ? { ...r, url: target } : r;
      }`)}`,
  );
}
