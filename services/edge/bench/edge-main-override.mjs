/**
 * `NODE_OPTIONS="--import <this file>" EDGE_MAIN_OVERRIDE=<other build's main.js>`: a process whose
 * INSTANCE_ID starts with `edge` runs that build instead of services/edge/dist/main.js, so
 * delivery-cost.ts can interleave runs of two builds in one stack layout.
 */
const override = process.env.EDGE_MAIN_OVERRIDE;
if (override && (process.env.INSTANCE_ID ?? '').startsWith('edge')) {
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
