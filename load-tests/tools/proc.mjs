/**
 * What the measuring tools (hop-cost.mjs, http-floor.mjs) share: a process's CPU time and a child
 * Node process that says it is ready by printing a line.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const TICKS = 100; // USER_HZ on Linux
const CHILD_START_TIMEOUT_MS = 10_000;

/** utime + stime of `pid` in ms, from /proc/<pid>/stat (fields 14 and 15). */
export function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
}

/**
 * Runs `script` with `args` in a child Node process and waits for the first line it prints.
 * The start-up timer does not hold the caller's process open once the child has answered.
 */
export async function startChild(script, args) {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await Promise.race([
    once(child.stdout, 'data'),
    sleep(CHILD_START_TIMEOUT_MS, undefined, { ref: false }).then(() => {
      child.kill('SIGKILL');
      throw new Error(`child ${args.join(' ')} did not start`);
    }),
  ]);
  return { child, line: line.toString().trim() };
}
