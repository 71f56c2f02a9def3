/**
 * What a 10,000-display run asks of the file system under nats-server's store, alone: 10,000
 * consumer directories of three small files each (meta.inf, meta.sum, o.dat) over 16 streams,
 * created, then deleted — `--rounds` times back to back, in a directory of `--parent`. Prints the
 * wall and CPU time of each round's creates and deletes.
 *
 * On ext4 without a journal (the check is skipped when there is one), creates right after a
 * round's deletes are slowed by the inode allocator re-testing every inode deleted in the last
 * 60–360 s (`recently_deleted`). A parent marked TOPDIR
 * (`chattr +T`, as the bench's run directories are: src/stack.ts `createRunDir`) spreads each
 * round's directory to another block group. Compare (docs/benchmarks.md round 10):
 *   node load-tests/tools/fs-churn.mjs --parent /tmp --rounds 4
 *   mkdir -p /tmp/churn-topdir && chattr +T /tmp/churn-topdir && node load-tests/tools/fs-churn.mjs --parent /tmp/churn-topdir --rounds 4
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { parent: { type: 'string', default: '/tmp' }, rounds: { type: 'string', default: '4' }, consumers: { type: 'string', default: '10000' } } });
const rounds = Number(values.rounds);
const consumers = Number(values.consumers);
if (!(rounds >= 1 && rounds <= 20 && consumers >= 1 && consumers <= 50_000)) throw new Error('--rounds 1..20, --consumers 1..50000');

const ms = (us) => (us / 1000).toFixed(0);
for (let r = 0; r < rounds; r++) {
  const root = join(values.parent, `fs-churn-${process.pid}-${r}`);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let s = 0; s < 16; s++) mkdirSync(join(root, `stream-${s}`, 'obs'), { recursive: true });
  for (let i = 0; i < consumers; i++) {
    const dir = join(root, `stream-${i % 16}`, 'obs', `consumer-${i}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'meta.inf'), 'x'.repeat(400));
    writeFileSync(join(dir, 'meta.sum'), 'y'.repeat(16));
    writeFileSync(join(dir, 'o.dat'), 'z'.repeat(40));
  }
  const created = process.cpuUsage(c0);
  const t1 = performance.now();
  rmSync(root, { recursive: true });
  const deleted = process.cpuUsage(c0);
  console.log(
    `round ${r}: create ${(t1 - t0).toFixed(0)} ms (system CPU ${ms(created.system)} ms, user ${ms(created.user)} ms); ` +
      `delete ${(performance.now() - t1).toFixed(0)} ms (system CPU ${ms(deleted.system - created.system)} ms)`,
  );
}
