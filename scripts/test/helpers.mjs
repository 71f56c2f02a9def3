// Test helpers for the scripts' own tests: free ports, raw NATS/Redis probes, process checks.
// Built-ins only, like the scripts themselves.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from '../lib/repo.mjs';

export const START = join(REPO_ROOT, 'scripts', 'start.mjs');

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Distinct free ports (asked for together so they differ). */
export async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** True while `pid` is a live (non-zombie) process. */
export function isRunning(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command name, is the state.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Starts scripts/start.mjs (no install, no build) and collects its output lines.
 * `waitFor(re)` resolves with the first matching line; `exited` with { code, signal }.
 */
export function startRunner({ env, args = [] }) {
  const child = spawn(process.execPath, [START, '--no-install', '--no-build', ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = [];
  const waiters = [];
  let rest = '';
  const onData = (chunk) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const l of parts) {
      lines.push(l);
      if (process.env.SCRIPTS_TEST_VERBOSE) console.log(`${new Date().toISOString().slice(17, 23)} ${l}`);
      for (const w of [...waiters]) {
        if (w.re.test(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
      }
    }
  };
  child.stdout.setEncoding('utf8').on('data', onData);
  child.stderr.setEncoding('utf8').on('data', onData);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    lines,
    exited,
    output: () => lines.join('\n'),
    waitFor(re, timeoutMs = 30_000) {
      const hit = lines.find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; output:\n${lines.join('\n')}`)), timeoutMs);
        const w = {
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        waiters.push(w);
        void exited.then(() => {
          setTimeout(() => {
            if (waiters.includes(w)) {
              clearTimeout(timer);
              reject(new Error(`runner exited before ${re}; output:\n${lines.join('\n')}`));
            }
          }, 100);
        });
      });
    },
    /** PIDs the runner reported as `<name> started (pid N)`, by name. */
    pids() {
      const out = {};
      for (const l of lines) {
        const m = /\[start\]\s+(\S+) started \(pid (\d+)\)/.exec(l);
        if (m) out[m[1]] = Number(m[2]);
      }
      return out;
    },
  };
}

/** Resolves with `{ code, signal }` or rejects after `ms`. */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Sends one inline command to Redis and returns the raw reply. */
export function redisCommand(port, command) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    socket.setTimeout(2000, () => {
      socket.destroy();
      reject(new Error(`redis ${command}: timeout`));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      // A bulk reply ($n) comes with its payload line; simple replies are one line.
      if (/^\$\d+\r\n.*\r\n$/s.test(data) || /^[+\-:]\S*.*\r\n$/.test(data) || data === '$-1\r\n') {
        socket.destroy();
        resolve(data);
      }
    });
  });
}

/** One core-NATS request/reply over a raw socket (enough to talk to the JetStream API). */
export function natsRequest(port, subject, payload) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const inbox = `_INBOX.scripts_test_${process.pid}`;
    let buf = '';
    socket.setTimeout(3000, () => {
      socket.destroy();
      reject(new Error(`nats request ${subject}: timeout; got ${buf}`));
    });
    socket.once('error', reject);
    socket.on('data', (chunk) => {
      buf += chunk.toString();
      if (buf.startsWith('INFO ') && buf.includes('\r\n') && !socket.sent) {
        socket.sent = true;
        const body = Buffer.from(payload);
        socket.write(
          `CONNECT {"verbose":false,"pedantic":false,"headers":false}\r\nSUB ${inbox} 1\r\nPUB ${subject} ${inbox} ${body.length}\r\n${payload}\r\n`,
        );
      }
      const m = /MSG \S+ 1 (\d+)\r\n/.exec(buf);
      if (m) {
        const start = m.index + m[0].length;
        const len = Number(m[1]);
        if (Buffer.byteLength(buf.slice(start)) >= len) {
          socket.destroy();
          resolve(JSON.parse(buf.slice(start, start + len)));
        }
      }
    });
  });
}

export async function getJson(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: await res.json() };
}
