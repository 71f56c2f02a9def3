/**
 * CPU profile of the edge processes of a load-tests stack (Node 20 refuses `--cpu-prof` in
 * NODE_OPTIONS, and the stack hands one environment to every service): with
 * `NODE_OPTIONS="--import <this file>" EDGE_CPU_PROF_DIR=<dir>`, only a process whose INSTANCE_ID
 * starts with `edge` is profiled, from start to exit, into `<dir>/<INSTANCE_ID>-<pid>.cpuprofile`.
 * Same idea as services/ingest/bench/cpu-prof-preload.mjs; a same-thread inspector session answers
 * synchronously, so the profile can be taken in the `exit` handler.
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.EDGE_CPU_PROF_DIR;
const instance = process.env.INSTANCE_ID ?? '';
if (dir && instance.startsWith('edge')) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (err === null) writeFileSync(join(dir, `${instance}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}

// `EDGE_MAIN_OVERRIDE=<other build's main.js>`: the edge runs that build instead of dist/main.js,
// so delivery-cost.ts can interleave runs of two builds in one stack layout.
const override = process.env.EDGE_MAIN_OVERRIDE;
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
