/**
 * `--cpu-prof` for a process started through NODE_OPTIONS (Node 20 refuses `--cpu-prof` there):
 * `NODE_OPTIONS="--import <this file>" CPU_PROF_DIR=<dir>` profiles from start to exit and writes
 * `<dir>/ingest-<pid>.cpuprofile`. A same-thread inspector session answers synchronously, so the
 * profile can be taken in the `exit` handler.
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (err === null) writeFileSync(join(dir, `ingest-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
