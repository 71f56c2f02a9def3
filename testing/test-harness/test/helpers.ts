import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { waitFor } from '../src/index.js';

/** True when no process with this pid exists: `kill(pid, 0)` fails with ESRCH. */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Process state letter from /proc (R, S, Z, ...), or undefined when it is gone. */
export function procState(pid: number): string | undefined {
  try {
    return /\) (\w) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

export async function expectGone(pid: number, timeoutMs = 5_000): Promise<void> {
  await waitFor(() => isGone(pid), {
    timeoutMs,
    intervalMs: 25,
    message: () => `pid ${pid} still exists (state ${procState(pid) ?? '?'})`,
  });
}

/** Resolves with the connect error code for 127.0.0.1:port ('connected' if it accepted). */
export function tcpProbe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
