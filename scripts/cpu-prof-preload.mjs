/**
 * CPU profile of a Node process started through NODE_OPTIONS (Node 20 refuses `--cpu-prof` there):
 * `NODE_OPTIONS="--import <this file>" CPU_PROF_DIR=<dir>` profiles from start to exit into
 * `<dir>/<INSTANCE_ID or "node">-<pid>.cpuprofile`. `CPU_PROF_INSTANCE=<prefix>` limits it to
 * processes whose INSTANCE_ID starts with the prefix (a bench stack hands one environment to every
 * service). A same-thread inspector session answers synchronously, so the profile can be taken in
 * the `exit` handler. Used by services/ingest/bench/order-cost.ts and services/edge/bench/delivery-cost.ts.
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.CPU_PROF_DIR;
const instance = process.env.INSTANCE_ID ?? '';
const only = process.env.CPU_PROF_INSTANCE ?? '';
if (dir && instance.startsWith(only)) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (err === null) writeFileSync(join(dir, `${instance || 'node'}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
